package dev.meshlite.hbone.server;

/**
 * Decides a CONNECT before anything is dialed. Called on the connection's event loop: it must not
 * block (evaluate an immutable policy snapshot, do no I/O). A thrown exception answers 503.
 */
@FunctionalInterface
public interface ConnectAuthorizer {

    ConnectDecision decide(ConnectRequest request);

    /** Allows every peer that passed the TLS policy and dials the authority itself. */
    static ConnectAuthorizer dialAuthority() {
        return request -> ConnectDecision.allow(request.authority());
    }
}
