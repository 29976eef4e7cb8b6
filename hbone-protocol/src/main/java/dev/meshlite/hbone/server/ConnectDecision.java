package dev.meshlite.hbone.server;

import io.netty.bootstrap.Bootstrap;
import java.net.InetSocketAddress;
import java.util.Objects;
import java.util.function.UnaryOperator;

/** The authorizer's answer to a CONNECT; it maps to the status code the client receives. */
public sealed interface ConnectDecision {

    /**
     * Dial {@code upstream}; the client gets 200 once the dial succeeded, 503 if it failed.
     * {@code dialer} may adjust the upstream's bootstrap last (a channel factory that creates the
     * socket in another network namespace, socket options such as a mark, a handler that counts
     * bytes); it runs on the stream's event loop and must not block.
     */
    record Allow(InetSocketAddress upstream, UnaryOperator<Bootstrap> dialer) implements ConnectDecision {
        public Allow {
            Objects.requireNonNull(upstream, "upstream");
            Objects.requireNonNull(dialer, "dialer");
        }

        public Allow(InetSocketAddress upstream) {
            this(upstream, UnaryOperator.identity());
        }
    }

    /** Refused by policy: 401. */
    record Deny(String reason) implements ConnectDecision {}

    /** The target workload or app is unknown here: 503. */
    record Unavailable(String reason) implements ConnectDecision {}

    static ConnectDecision allow(InetSocketAddress upstream) {
        return new Allow(upstream);
    }

    static ConnectDecision deny(String reason) {
        return new Deny(reason);
    }

    static ConnectDecision unavailable(String reason) {
        return new Unavailable(reason);
    }
}
