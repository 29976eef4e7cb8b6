package dev.meshlite.istiod.ca.auth;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns the bearer token a caller presented into who it is. Implementations may call the
 * Kubernetes API (they run on gRPC's executor, never on an event loop). A failure of the API
 * itself surfaces as a runtime exception (the service answers UNAVAILABLE), not as a refusal.
 */
public interface CallerAuthenticator {

    Caller authenticate(String bearerToken) throws UnauthenticatedException;

    /** Tries each in order; the first that accepts the token wins. */
    static CallerAuthenticator firstOf(List<CallerAuthenticator> all) {
        List<CallerAuthenticator> copy = List.copyOf(all);
        return token -> {
            List<String> reasons = new ArrayList<>();
            for (CallerAuthenticator a : copy) {
                try {
                    return a.authenticate(token);
                } catch (UnauthenticatedException e) {
                    reasons.add(e.getMessage());
                }
            }
            throw new UnauthenticatedException(String.join("; ", reasons));
        };
    }
}
