package dev.meshlite.hbone.client;

/**
 * A tunnel could not be opened; {@link #status()} is the server's HTTP status, or 0 if none came.
 * {@link #unprocessed()}: the server never took the CONNECT (refused the stream, or went away
 * below it), or it never left this client, so opening it again is safe.
 */
public final class HboneTunnelException extends RuntimeException {

    private final int status;
    private final boolean unprocessed;

    public HboneTunnelException(int status, String message) {
        this(status, message, null, false);
    }

    public HboneTunnelException(String message, Throwable cause) {
        this(0, message, cause, false);
    }

    private HboneTunnelException(int status, String message, Throwable cause, boolean unprocessed) {
        super(message, cause);
        this.status = status;
        this.unprocessed = unprocessed;
    }

    /** A CONNECT the server never processed, or that was never sent. */
    static HboneTunnelException unprocessed(String message, Throwable cause) {
        return new HboneTunnelException(0, message, cause, true);
    }

    public int status() {
        return status;
    }

    public boolean unprocessed() {
        return unprocessed;
    }
}
