package dev.meshlite.hbone.client;

/** A tunnel could not be opened; {@link #status()} is the server's HTTP status, or 0 if none came. */
public final class HboneTunnelException extends RuntimeException {

    private final int status;

    public HboneTunnelException(int status, String message) {
        super(message);
        this.status = status;
    }

    public HboneTunnelException(String message, Throwable cause) {
        super(message, cause);
        this.status = 0;
    }

    public int status() {
        return status;
    }
}
