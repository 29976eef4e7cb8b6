package dev.meshlite.hbone.server;

import java.net.InetSocketAddress;
import java.util.Objects;

/** The authorizer's answer to a CONNECT; it maps to the status code the client receives. */
public sealed interface ConnectDecision {

    /** Dial {@code upstream}; the client gets 200 once the dial succeeded, 503 if it failed. */
    record Allow(InetSocketAddress upstream) implements ConnectDecision {
        public Allow {
            Objects.requireNonNull(upstream, "upstream");
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
