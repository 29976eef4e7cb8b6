package dev.meshlite.ztunnel.socket;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A network namespace held open by a file descriptor, and the means to create sockets in it.
 *
 * <p>Linux attaches a socket to the namespace of the thread that created it, for the socket's
 * whole life; binds, connects and accepts happen there whatever thread later drives it. So
 * ztunnel creates a pod's sockets inside {@link #run} and hands them to Netty as usual.
 *
 * <p>The descriptor stays valid while any {@link #run} is in progress, even if {@link #close()}
 * is called meanwhile: runs hold a reference and the last one out closes it.
 */
public final class Netns implements AutoCloseable {

    private static final class Host {
        /** Opened at first use from the thread-group leader's entry, which is where the process started. */
        static final Netns NETNS = hostNetns();
    }

    private final int fd;
    private final long inode;
    private final boolean shared;
    /** 1 for the owner plus one per run in progress; the descriptor closes when it reaches 0. */
    private final AtomicInteger refs = new AtomicInteger(1);
    private final AtomicBoolean closed = new AtomicBoolean();

    private Netns(int fd, boolean shared) {
        this.fd = fd;
        this.shared = shared;
        Path link = Path.of("/proc/self/fd/" + fd);
        try {
            int type;
            try {
                type = Libc.nsType(fd);
            } catch (Libc.ErrnoException e) {
                type = 0; // ENOTTY/EINVAL: not a namespace at all
            }
            if (type != Libc.CLONE_NEWNET) {
                throw new IllegalArgumentException("fd " + fd + " (" + Files.readSymbolicLink(link)
                        + ") is not a network namespace (expected e.g. /run/netns/NAME or /proc/PID/ns/net)");
            }
            // following the magic link stats the namespace itself (nsfs): its inode is its identity
            this.inode = ((Number) Files.getAttribute(link, "unix:ino")).longValue();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot inspect fd " + fd, e);
        }
    }

    private static Netns hostNetns() {
        try {
            return new Netns(Libc.open("/proc/self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the process's network namespace", e);
        }
    }

    /** The process's original (host) namespace; shared, so {@link #close()} on it does nothing. */
    public static Netns current() {
        return Host.NETNS;
    }

    /**
     * Takes ownership of {@code fd}, which must refer to a network namespace; if it does not, the
     * descriptor is closed and IllegalArgumentException thrown.
     */
    public static Netns adopt(int fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd " + fd + " (expected: >= 0)");
        }
        try {
            return new Netns(fd, false);
        } catch (RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    /** A namespace of its own for what {@code fd} refers to; the caller keeps (and closes) {@code fd}. */
    public static Netns dup(int fd) {
        try {
            return adopt(Libc.dup(fd));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Opens a namespace by path, e.g. {@code /run/netns/x} or {@code /proc/PID/ns/net}. */
    public static Netns open(Path path) {
        try {
            return adopt(Libc.open(path.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Runs {@code action} with the calling thread switched into this namespace, and switches it
     * back to the namespace it was in before, even when the action throws. Two setns calls plus
     * an open and a close of the thread's own namespace entry in procfs: nothing that blocks, so
     * this is fine on an event-loop thread.
     *
     * <p>Only on platform threads: a virtual thread could move to another carrier between the two
     * switches, leaving a carrier in the wrong namespace. Threads started inside the action
     * inherit this namespace for good (so do not let the action start an event loop).
     */
    public <T> T run(Callable<T> action) throws Exception {
        if (Thread.currentThread().isVirtual()) {
            throw new IllegalStateException("Netns.run on virtual thread " + Thread.currentThread()
                    + " (expected a platform thread: setns switches the OS thread)");
        }
        acquire();
        try {
            int previous = Libc.open("/proc/thread-self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC);
            try {
                Libc.setns(fd, Libc.CLONE_NEWNET);
                try {
                    return action.call();
                } finally {
                    try {
                        Libc.setns(previous, Libc.CLONE_NEWNET);
                    } catch (IOException e) {
                        // Cannot happen for a namespace this thread was just in; if it does, the thread
                        // must not go on creating sockets in the wrong place.
                        throw new IllegalStateException("thread " + Thread.currentThread().getName()
                                + " is stuck in network namespace " + inode + ": " + e.getMessage(), e);
                    }
                }
            } finally {
                Libc.close(previous);
            }
        } finally {
            release();
        }
    }

    private void acquire() {
        while (true) {
            int r = refs.get();
            if (r == 0) {
                throw new IllegalStateException("network namespace " + inode + " is closed");
            }
            if (refs.compareAndSet(r, r + 1)) {
                return;
            }
        }
    }

    private void release() {
        if (refs.decrementAndGet() == 0) {
            Libc.close(fd);
        }
    }

    /** The namespace's inode number: equal inodes, same namespace. */
    public long inode() {
        return inode;
    }

    @Override
    public void close() {
        if (!shared && closed.compareAndSet(false, true)) {
            release();
        }
    }

    @Override
    public String toString() {
        return "Netns[net:[" + inode + "]" + (closed.get() ? ", closed]" : "]");
    }
}
