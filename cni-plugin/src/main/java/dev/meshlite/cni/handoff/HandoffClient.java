package dev.meshlite.cni.handoff;

import java.io.EOFException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's end of the handoff: connects to the node agent's socket, hands every message to a
 * {@link HandoffListener} and acks it, and reconnects with backoff whenever the agent goes away
 * (each new connection starts with the agent's full snapshot).
 *
 * <p>Everything runs on one platform thread that owns the socket, so messages reach the listener
 * one at a time and in order, and the socket is only ever closed by its owner. Every descriptor
 * received is closed unless the listener took it.
 */
public final class HandoffClient implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(HandoffClient.class);
    /** How often the thread looks up from a wait to notice {@link #close()}. */
    private static final long TICK_MILLIS = 100;
    private static final Duration FIRST_BACKOFF = Duration.ofMillis(50);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(2);
    private static final long ACK_SEND_MILLIS = 5_000;

    private final Path socket;
    private final HandoffListener listener;
    private final Thread thread;
    private volatile boolean closed;
    private volatile boolean connected;

    public HandoffClient(Path socket, HandoffListener listener) {
        this.socket = Objects.requireNonNull(socket, "socket");
        this.listener = Objects.requireNonNull(listener, "listener");
        this.thread = Thread.ofPlatform().name("handoff-client").daemon().unstarted(this::run);
    }

    public void start() {
        thread.start();
    }

    /** Whether a connection to the agent is open now. */
    public boolean connected() {
        return connected;
    }

    private void run() {
        Duration backoff = FIRST_BACKOFF;
        boolean loggedAway = false;
        while (!closed) {
            UnixSeqpacket conn;
            try {
                conn = UnixSeqpacket.connect(socket);
            } catch (IOException e) {
                if (!loggedAway) {
                    LOG.info("node agent not reachable on {} ({}); retrying", socket, e.getMessage());
                    loggedAway = true;
                }
                sleep(backoff);
                backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
                continue;
            }
            loggedAway = false;
            backoff = FIRST_BACKOFF;
            try (conn) {
                LOG.info("connected to the node agent on {}", socket);
                connected = true;
                listener.connected(true);
                serve(conn);
            } catch (EOFException e) {
                LOG.info("the node agent closed the handoff connection");
            } catch (IOException | RuntimeException e) {
                LOG.warn("handoff connection failed: {}", e.toString());
            } finally {
                if (connected) {
                    connected = false;
                    listener.connected(false);
                }
            }
            if (!closed) {
                sleep(FIRST_BACKOFF);
            }
        }
    }

    /** One connection: snapshot first, then live updates, until the agent goes or we close. */
    private void serve(UnixSeqpacket conn) throws IOException {
        Set<String> snapshot = new HashSet<>();
        boolean snapshotDone = false;
        while (!closed) {
            if (!conn.awaitReadable(TICK_MILLIS)) {
                continue;
            }
            UnixSeqpacket.Packet packet = conn.receive();
            if (packet == null) {
                continue;
            }
            String error;
            try {
                HandoffMessage m = accept(packet);
                error = "";
                switch (m) {
                    case HandoffMessage.Add(PodInfo pod) -> {
                        if (!snapshotDone) {
                            snapshot.add(pod.uid());
                        }
                        NetnsFd netns = packet.fds().getFirst();
                        try {
                            listener.add(pod, netns);
                        } catch (Exception e) {
                            netns.close();
                            throw e;
                        }
                    }
                    case HandoffMessage.SnapshotSent s -> {
                        if (snapshotDone) {
                            throw new IllegalStateException("snapshot-sent twice on one connection (expected once, after the snapshot's adds)");
                        }
                        snapshotDone = true;
                        listener.snapshotDone(Set.copyOf(snapshot));
                        snapshot.clear();
                    }
                    case HandoffMessage.Del(String uid) -> {
                        snapshot.remove(uid);
                        listener.remove(uid);
                    }
                    case HandoffMessage.Ack a -> throw new IllegalStateException("ack from the agent (expected add, snapshot-sent or del)");
                }
            } catch (Exception e) {
                packet.closeFds();
                error = e.getMessage() == null || e.getMessage().isEmpty() ? e.getClass().getSimpleName() : e.getMessage();
                LOG.warn("refused a handoff message: {}", error);
            }
            conn.send(HandoffMessage.encode(new HandoffMessage.Ack(error)), -1, ACK_SEND_MILLIS);
        }
    }

    /** Decodes a packet and checks its descriptors fit its type; on a throw the caller closes them. */
    private static HandoffMessage accept(UnixSeqpacket.Packet packet) throws HandoffMessage.MalformedMessageException {
        if (packet.truncated()) {
            throw new HandoffMessage.MalformedMessageException("message truncated (expected at most "
                    + UnixSeqpacket.MAX_MESSAGE + " bytes and one descriptor)");
        }
        HandoffMessage m = HandoffMessage.decode(packet.data());
        int want = m instanceof HandoffMessage.Add ? 1 : 0;
        if (packet.fds().size() != want) {
            throw new HandoffMessage.MalformedMessageException(packet.fds().size() + " descriptor(s) with "
                    + m.getClass().getSimpleName().toLowerCase() + " (expected " + want + ")");
        }
        return m;
    }

    private void sleep(Duration d) {
        long until = System.nanoTime() + d.toNanos();
        try {
            while (!closed && System.nanoTime() < until) {
                Thread.sleep(Math.min(TICK_MILLIS, Math.max(1, (until - System.nanoTime()) / 1_000_000L)));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closed = true;
        }
    }

    /** Stops the thread and closes the connection; returns once the thread is done. */
    @Override
    public void close() {
        closed = true;
        if (thread.isAlive() && Thread.currentThread() != thread) {
            try {
                thread.join(Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
