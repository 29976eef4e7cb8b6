package dev.meshlite.hbone.metrics;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one HBONE endpoint (a server or a client). Plain Java so each proxy can export them
 * under its own metric names (e.g. {@code istio_tcp_sent_bytes_total}). Cheap to update from any
 * event loop: every counter is a {@link LongAdder}.
 *
 * <p>Direction convention: {@code bytesIntoTunnel} is plaintext taken from a TCP socket and sent
 * into an HBONE stream; {@code bytesOutOfTunnel} is plaintext received from a stream and written to
 * a TCP socket.
 */
public final class HboneMetrics {

    /** Why a TLS handshake (or the checks right after it) failed. */
    public enum HandshakeFailure {
        /** The peer sent no certificate. */
        NO_CERTIFICATE,
        /** The peer's certificate is expired or not yet valid. */
        EXPIRED_CERTIFICATE,
        /** The chain does not end in a trusted root. */
        UNTRUSTED_CERTIFICATE,
        /** The chain is fine but the SPIFFE id is missing, malformed or not expected. */
        IDENTITY_REJECTED,
        /** The peer did not negotiate ALPN h2. */
        ALPN,
        /** The handshake did not finish in time. */
        TIMEOUT,
        /** Anything else the TLS layer refused (protocol version, cipher, alert from the peer...). */
        PROTOCOL
    }

    private final LongAdder bytesIntoTunnel = new LongAdder();
    private final LongAdder bytesOutOfTunnel = new LongAdder();
    private final LongAdder streamsOpened = new LongAdder();
    private final LongAdder streamsClosed = new LongAdder();
    private final LongAdder streamsRefused = new LongAdder();
    private final LongAdder streamsRetried = new LongAdder();
    private final LongAdder connectionsOpened = new LongAdder();
    private final LongAdder connectionsClosed = new LongAdder();
    private final Map<HandshakeFailure, LongAdder> handshakeFailures = new EnumMap<>(HandshakeFailure.class);

    public HboneMetrics() {
        for (HandshakeFailure reason : HandshakeFailure.values()) {
            handshakeFailures.put(reason, new LongAdder());
        }
    }

    public void bytesIntoTunnel(long n) {
        bytesIntoTunnel.add(n);
    }

    public void bytesOutOfTunnel(long n) {
        bytesOutOfTunnel.add(n);
    }

    public void streamOpened() {
        streamsOpened.increment();
    }

    public void streamClosed() {
        streamsClosed.increment();
    }

    /** A CONNECT answered with something other than 200. */
    public void streamRefused() {
        streamsRefused.increment();
    }

    /** A CONNECT the server never took (refused stream, GOAWAY below it), opened again. */
    public void streamRetried() {
        streamsRetried.increment();
    }

    public void connectionOpened() {
        connectionsOpened.increment();
    }

    public void connectionClosed() {
        connectionsClosed.increment();
    }

    public void handshakeFailed(HandshakeFailure reason) {
        handshakeFailures.get(reason).increment();
    }

    public Snapshot snapshot() {
        Map<HandshakeFailure, Long> failures = new EnumMap<>(HandshakeFailure.class);
        handshakeFailures.forEach((k, v) -> failures.put(k, v.sum()));
        return new Snapshot(bytesIntoTunnel.sum(), bytesOutOfTunnel.sum(), streamsOpened.sum(),
                streamsClosed.sum(), streamsRefused.sum(), streamsRetried.sum(), connectionsOpened.sum(),
                connectionsClosed.sum(), Map.copyOf(failures));
    }

    /** A point-in-time copy; each field is monotonic. */
    public record Snapshot(long bytesIntoTunnel, long bytesOutOfTunnel, long streamsOpened,
                           long streamsClosed, long streamsRefused, long streamsRetried, long connectionsOpened,
                           long connectionsClosed, Map<HandshakeFailure, Long> handshakeFailures) {

        public long activeStreams() {
            return streamsOpened - streamsClosed;
        }

        public long activeConnections() {
            return connectionsOpened - connectionsClosed;
        }

        public long handshakeFailures(HandshakeFailure reason) {
            return handshakeFailures.getOrDefault(reason, 0L);
        }

        public long handshakeFailuresTotal() {
            return handshakeFailures.values().stream().mapToLong(Long::longValue).sum();
        }
    }
}
