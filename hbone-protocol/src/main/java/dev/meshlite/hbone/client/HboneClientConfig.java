package dev.meshlite.hbone.client;

import dev.meshlite.hbone.HboneWire;
import dev.meshlite.hbone.tls.LingeringClose;
import java.time.Duration;

/**
 * @param maxStreamsPerConnection at most this many streams share a connection (further capped by the
 *                                server's SETTINGS_MAX_CONCURRENT_STREAMS)
 * @param idleTimeout             a connection without streams for this long is closed
 * @param pingInterval            a PING is sent this often on every connection
 * @param pingTimeout             a connection with no PING answer for this long is dead
 * @param connectTimeout          TCP connect
 * @param handshakeTimeout        TLS handshake
 * @param linger                  how long a connection closed in good order waits for the server's FIN
 *                                ({@code LingeringClose}); one closed for failing does not wait
 */
public record HboneClientConfig(int maxStreamsPerConnection, Duration idleTimeout, Duration pingInterval,
                                Duration pingTimeout, Duration connectTimeout, Duration handshakeTimeout,
                                Duration linger) {

    public HboneClientConfig {
        if (maxStreamsPerConnection <= 0) {
            throw new IllegalArgumentException("maxStreamsPerConnection: " + maxStreamsPerConnection
                    + " (expected: > 0)");
        }
        positive(idleTimeout, "idleTimeout");
        positive(pingInterval, "pingInterval");
        positive(pingTimeout, "pingTimeout");
        positive(connectTimeout, "connectTimeout");
        positive(handshakeTimeout, "handshakeTimeout");
        positive(linger, "linger");
        if (pingTimeout.compareTo(pingInterval) < 0) {
            throw new IllegalArgumentException("pingTimeout: " + pingTimeout + " (expected: >= pingInterval "
                    + pingInterval + ")");
        }
    }

    /**
     * DESIGN §4: 100 streams, 5 min idle, PING every 10 s, dead after 20 s without an answer; a
     * closing connection lingers {@link LingeringClose#DEFAULT_LINGER}.
     */
    public static HboneClientConfig defaults() {
        return new HboneClientConfig(HboneWire.MAX_CONCURRENT_STREAMS, Duration.ofMinutes(5),
                Duration.ofSeconds(10), Duration.ofSeconds(20), Duration.ofSeconds(10), Duration.ofSeconds(10),
                LingeringClose.DEFAULT_LINGER);
    }

    public HboneClientConfig withIdleTimeout(Duration d) {
        return new HboneClientConfig(maxStreamsPerConnection, d, pingInterval, pingTimeout, connectTimeout,
                handshakeTimeout, linger);
    }

    public HboneClientConfig withPing(Duration interval, Duration timeout) {
        return new HboneClientConfig(maxStreamsPerConnection, idleTimeout, interval, timeout, connectTimeout,
                handshakeTimeout, linger);
    }

    public HboneClientConfig withLinger(Duration d) {
        return new HboneClientConfig(maxStreamsPerConnection, idleTimeout, pingInterval, pingTimeout, connectTimeout,
                handshakeTimeout, d);
    }

    private static void positive(Duration d, String name) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
        }
    }
}
