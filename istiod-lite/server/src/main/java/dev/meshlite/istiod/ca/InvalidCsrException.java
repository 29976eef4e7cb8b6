package dev.meshlite.istiod.ca;

/** The CSR was refused: unreadable, a bad signature, or a key the CA does not accept. */
public final class InvalidCsrException extends Exception {
    public InvalidCsrException(String message) {
        super(message);
    }
}
