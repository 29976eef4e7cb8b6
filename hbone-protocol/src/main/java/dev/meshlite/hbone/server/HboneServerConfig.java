package dev.meshlite.hbone.server;

import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * @param listen           where to accept HBONE (port 15008 in a pod; port 0 in tests); {@code null}
 *                         for none: listeners are then added with {@link HboneServer#listen}
 * @param handshakeTimeout a TLS handshake that takes longer is aborted and counted as TIMEOUT
 * @param dialTimeout      an upstream dial that takes longer answers 503
 */
public record HboneServerConfig(InetSocketAddress listen, Duration handshakeTimeout, Duration dialTimeout) {

    public HboneServerConfig {
        requirePositive(handshakeTimeout, "handshakeTimeout");
        requirePositive(dialTimeout, "dialTimeout");
    }

    public static HboneServerConfig defaults(InetSocketAddress listen) {
        return new HboneServerConfig(listen, Duration.ofSeconds(10), Duration.ofSeconds(10));
    }

    static void requirePositive(Duration d, String name) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
        }
    }
}
