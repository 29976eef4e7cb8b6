package dev.meshlite.cni.handoff;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent's end of the handoff: listens on a Unix SOCK_SEQPACKET socket for ztunnel,
 * remembers every enrolled pod, and keeps the connected ztunnel in step with it.
 *
 * <p>Rules:
 * <ul>
 *   <li>One ztunnel at a time. A new connection replaces the old one (ztunnel restarted), and
 *       starts with a snapshot: an add for every enrolled pod, then snapshot-sent.
 *   <li>Exchanges are strictly one message, one ack, under {@link #io}: ztunnel acks in order, so
 *       an ack is always for the one message outstanding. A connection that misses an ack
 *       deadline or answers out of turn is closed, since later acks could no longer be matched;
 *       ztunnel reconnects and the snapshot puts it back in step.
 *   <li>The pod set is the agent's intent and is updated before anything is sent, so a pod
 *       enrolled while ztunnel is away (or while a send fails) is in the next snapshot.
 *   <li>Namespace descriptors are opened just for the send and closed right after: the kernel
 *       keeps its own reference while the packet is in flight.
 * </ul>
 */
public final class HandoffServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(HandoffServer.class);
    private static final long TICK_MILLIS = 100;
    /** Per message of a snapshot; a ztunnel this slow is reconnected rather than waited for. */
    private static final Duration SNAPSHOT_ACK_TIMEOUT = Duration.ofSeconds(10);

    private record Enrolled(PodInfo pod, Path netns) {
    }

    /** The pod's namespace could not be opened: nothing was sent and the connection is intact. */
    private static final class NetnsUnavailableException extends IOException {
        NetnsUnavailableException(String message) {
            super(message);
        }
    }

    private final Path path;
    /** Serializes every exchange on {@link #conn}, and replacing it. */
    private final ReentrantLock io = new ReentrantLock();
    /** uid → pod, in enrollment order; guarded by itself (never held while waiting on ztunnel). */
    private final Map<String, Enrolled> pods = new LinkedHashMap<>();
    private UnixSeqpacket listener;
    /** The ztunnel connection; guarded by {@link #io}. */
    private UnixSeqpacket conn;
    private volatile boolean connected;
    private volatile boolean closed;
    private Thread acceptor;

    public HandoffServer(Path socket) {
        this.path = Objects.requireNonNull(socket, "socket");
    }

    /** Binds the socket (replacing a stale file left by an earlier agent) and starts accepting. */
    public void start() throws IOException {
        if (listener != null) {
            throw new IllegalStateException("handoff server on " + path + " already started");
        }
        if (path.getParent() != null) {
            Files.createDirectories(path.getParent());
        }
        Files.deleteIfExists(path);
        listener = UnixSeqpacket.listen(path);
        acceptor = Thread.ofPlatform().name("handoff-server").daemon().start(this::acceptLoop);
        LOG.info("handoff socket for ztunnel on {}", path);
    }

    public boolean ztunnelConnected() {
        return connected;
    }

    /**
     * Enroll (or refresh) a pod: remembered for later snapshots, sent now if ztunnel is connected.
     * Returns true once ztunnel acked it; false without error when no ztunnel is connected (it gets
     * the pod in its snapshot). Throws when ztunnel refused it, on a timeout, or when the
     * namespace cannot be opened; the pod stays remembered either way.
     */
    public boolean add(PodInfo pod, Path netnsPath, Duration timeout) throws IOException {
        Objects.requireNonNull(pod, "pod");
        Objects.requireNonNull(netnsPath, "netnsPath");
        synchronized (pods) {
            pods.remove(pod.uid()); // re-enrolling moves it to the end, like a fresh one
            pods.put(pod.uid(), new Enrolled(pod, netnsPath));
        }
        return exchange(new HandoffMessage.Add(pod), netnsPath, timeout);
    }

    /** Forgets a pod and tells ztunnel; same results as {@link #add}. */
    public boolean remove(String uid, Duration timeout) throws IOException {
        Objects.requireNonNull(uid, "uid");
        synchronized (pods) {
            pods.remove(uid);
        }
        return exchange(new HandoffMessage.Del(uid), null, timeout);
    }

    private boolean exchange(HandoffMessage m, Path netns, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            if (!io.tryLock(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new IOException("timed out after " + timeout + " waiting for the ztunnel connection");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for the ztunnel connection", e);
        }
        try {
            if (conn == null) {
                return false;
            }
            String error = send(m, netns, Math.max(1, (deadline - System.nanoTime()) / 1_000_000L));
            if (!error.isEmpty()) {
                throw new IOException("ztunnel refused " + describe(m) + ": " + error);
            }
            return true;
        } finally {
            io.unlock();
        }
    }

    private static String describe(HandoffMessage m) {
        return switch (m) {
            case HandoffMessage.Add(PodInfo p) -> "add of pod " + p.namespace() + "/" + p.name() + " (" + p.uid() + ")";
            case HandoffMessage.Del(String uid) -> "del of pod " + uid;
            default -> m.toString();
        };
    }

    /**
     * Sends one message on the current connection and waits for its ack; returns the ack's error
     * ("" = accepted). Any failure of the connection itself drops it and throws. Holds {@link #io}.
     */
    private String send(HandoffMessage m, Path netns, long timeoutMillis) throws IOException {
        assert io.isHeldByCurrentThread();
        UnixSeqpacket c = conn;
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        int fd = -1;
        if (netns != null) {
            try {
                fd = Libc.open(netns.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
            } catch (Libc.ErrnoException e) {
                throw new NetnsUnavailableException(e.getMessage()); // the connection is fine
            }
        }
        try {
            c.send(HandoffMessage.encode(m), fd, timeoutMillis);
        } catch (IOException e) {
            drop(c, "send failed: " + e.getMessage());
            throw e;
        } finally {
            if (fd >= 0) {
                Libc.close(fd);
            }
        }
        try {
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) {
                    throw new IOException("no ack from ztunnel within " + timeoutMillis + " ms for " + describe(m));
                }
                if (!c.awaitReadable(left)) {
                    continue;
                }
                UnixSeqpacket.Packet p = c.receive();
                if (p == null) {
                    continue;
                }
                p.closeFds(); // ztunnel never sends descriptors
                HandoffMessage reply;
                try {
                    reply = HandoffMessage.decode(p.data());
                } catch (HandoffMessage.MalformedMessageException e) {
                    throw new IOException("bad reply from ztunnel: " + e.getMessage());
                }
                if (!(reply instanceof HandoffMessage.Ack(String error))) {
                    throw new IOException("ztunnel sent " + reply + " (expected an ack)");
                }
                return error;
            }
        } catch (IOException e) {
            drop(c, e.getMessage());
            throw e;
        }
    }

    private void drop(UnixSeqpacket c, String why) {
        assert io.isHeldByCurrentThread();
        if (conn == c && c != null) {
            LOG.warn("closing the ztunnel connection: {}", why);
            conn = null;
            connected = false;
            c.close();
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                UnixSeqpacket c = currentConn();
                List<UnixSeqpacket> watch = c == null ? List.of(listener) : List.of(listener, c);
                short[] ready = UnixSeqpacket.poll(watch, Libc.POLLIN, TICK_MILLIS);
                if (closed) {
                    break;
                }
                if (ready[0] != 0) {
                    UnixSeqpacket fresh = listener.accept();
                    if (fresh != null) {
                        adopt(fresh);
                    }
                }
                if (ready.length > 1 && ready[1] != 0) {
                    checkIdle(c);
                }
            } catch (IOException | RuntimeException e) {
                if (!closed) {
                    LOG.warn("handoff accept loop: {}", e.toString());
                    sleepTick();
                }
            }
        }
    }

    private UnixSeqpacket currentConn() {
        io.lock();
        try {
            return conn;
        } finally {
            io.unlock();
        }
    }

    /** A new ztunnel: it replaces the old connection and gets the full snapshot. */
    private void adopt(UnixSeqpacket fresh) {
        io.lock();
        try {
            if (conn != null) {
                drop(conn, "a new ztunnel connected");
            }
            conn = fresh;
            connected = true;
            List<Enrolled> snapshot;
            synchronized (pods) {
                snapshot = new ArrayList<>(pods.values());
            }
            LOG.info("ztunnel connected; sending a snapshot of {} pod(s)", snapshot.size());
            for (Enrolled e : snapshot) {
                if (closed) {
                    return; // shutting down: the next agent sends its own snapshot
                }
                try {
                    String error = send(new HandoffMessage.Add(e.pod()), e.netns(), SNAPSHOT_ACK_TIMEOUT.toMillis());
                    if (!error.isEmpty()) {
                        LOG.warn("ztunnel refused {}: {}", describe(new HandoffMessage.Add(e.pod())), error);
                    }
                } catch (NetnsUnavailableException ex) {
                    // Only the namespace could not be opened (the pod is going away): leave it
                    // out, so ztunnel drops it with the snapshot.
                    LOG.warn("pod {}/{} left out of the snapshot: {}", e.pod().namespace(), e.pod().name(), ex.getMessage());
                }
            }
            String error = send(new HandoffMessage.SnapshotSent(), null, SNAPSHOT_ACK_TIMEOUT.toMillis());
            if (!error.isEmpty()) {
                LOG.warn("ztunnel refused snapshot-sent: {}", error);
            }
        } catch (IOException e) {
            LOG.warn("snapshot to ztunnel failed: {}", e.getMessage());
        } finally {
            io.unlock();
        }
    }

    /**
     * The connection became readable while no exchange was waiting: either ztunnel went away
     * or it sent something out of turn. Both end the connection. Rechecked under {@link #io},
     * because the readiness may have been an ack an exchange has consumed meanwhile.
     */
    private void checkIdle(UnixSeqpacket seen) throws IOException {
        io.lock();
        try {
            if (conn != seen || !seen.awaitReadable(0)) {
                return;
            }
            UnixSeqpacket.Packet p;
            try {
                p = seen.receive();
            } catch (IOException e) {
                drop(seen, "ztunnel went away (" + e.getMessage() + ")");
                return;
            }
            if (p != null) {
                p.closeFds();
                drop(seen, "ztunnel sent a packet while no message was outstanding");
            }
        } finally {
            io.unlock();
        }
    }

    private void sleepTick() {
        try {
            Thread.sleep(TICK_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closed = true;
        }
    }

    /** Closes the connection and the socket and removes the socket file. */
    @Override
    public void close() {
        closed = true;
        if (acceptor != null && Thread.currentThread() != acceptor) {
            try {
                acceptor.join(Duration.ofSeconds(15));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        io.lock();
        try {
            if (conn != null) {
                drop(conn, "agent shutting down");
            }
            if (listener != null) {
                listener.close();
                listener = null;
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    LOG.debug("could not remove {}: {}", path, e.getMessage());
                }
            }
        } finally {
            io.unlock();
        }
    }
}
