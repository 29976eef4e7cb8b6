package dev.meshlite.istiod.ca.auth;

/** The credential was missing, unknown, expired or rejected. The message says which. */
public final class UnauthenticatedException extends Exception {
    public UnauthenticatedException(String message) {
        super(message);
    }
}
