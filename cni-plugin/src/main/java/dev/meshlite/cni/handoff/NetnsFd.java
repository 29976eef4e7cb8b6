package dev.meshlite.cni.handoff;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A file descriptor received over the handoff socket: a pod's network namespace. Whoever holds
 * the instance owns the descriptor; {@link #close()} releases it and may be called any number of
 * times, from any thread, so an owner and an error path can both close without coordinating.
 */
public final class NetnsFd implements AutoCloseable {

    private final int fd;
    private final AtomicBoolean closed = new AtomicBoolean();

    NetnsFd(int fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd " + fd + " (expected: >= 0)");
        }
        this.fd = fd;
    }

    /** The descriptor number; valid until {@link #close()}. */
    public int fd() {
        if (closed.get()) {
            throw new IllegalStateException("namespace fd " + fd + " is already closed");
        }
        return fd;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Libc.close(fd);
        }
    }

    @Override
    public String toString() {
        return "NetnsFd[" + fd + (closed.get() ? ", closed]" : "]");
    }
}
