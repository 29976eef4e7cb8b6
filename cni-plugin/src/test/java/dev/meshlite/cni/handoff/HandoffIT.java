package dev.meshlite.cni.handoff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.Await;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Both ends of the handoff on a real SOCK_SEQPACKET socket, passing real descriptors. No root
 * needed: the "namespace" handed over is this process's own (/proc/self/ns/net) or a temp file.
 */
class HandoffIT {

    private static final Duration T = Duration.ofSeconds(30);
    private static final Path OWN_NETNS = Path.of("/proc/self/ns/net");

    @TempDir
    Path dir;
    private Path sock;
    private final List<AutoCloseable> closeLast = new ArrayList<>();

    /** A ztunnel stand-in: holds the descriptors it is given, as ztunnel does, and logs events. */
    static final class Recorder implements HandoffListener {
        final Map<String, NetnsFd> held = new ConcurrentHashMap<>();
        final BlockingQueue<String> events = new LinkedBlockingQueue<>();
        volatile String refuseName = "";
        volatile CountDownLatch gate = new CountDownLatch(0);

        @Override
        public void add(PodInfo pod, NetnsFd netns) throws Exception {
            gate.await();
            if (pod.name().equals(refuseName)) {
                throw new IllegalArgumentException("pod " + pod.name() + " is not on this node");
            }
            events.add("add " + pod.uid() + " " + inode(Path.of("/proc/self/fd/" + netns.fd())));
            NetnsFd old = held.put(pod.uid(), netns);
            if (old != null) {
                old.close();
            }
        }

        @Override
        public void snapshotDone(Set<String> uids) {
            held.keySet().removeIf(uid -> {
                if (uids.contains(uid)) {
                    return false;
                }
                held.get(uid).close();
                return true;
            });
            events.add("snapshot " + new java.util.TreeSet<>(uids));
        }

        @Override
        public void remove(String uid) {
            NetnsFd fd = held.remove(uid);
            if (fd != null) {
                fd.close();
            }
            events.add("del " + uid);
        }

        @Override
        public void connected(boolean up) {
            events.add(up ? "up" : "down");
        }

        String next() throws InterruptedException {
            String e = events.poll(T.toSeconds(), TimeUnit.SECONDS);
            if (e == null) {
                throw new AssertionError("no handoff event within " + T);
            }
            return e;
        }

        void closeAll() {
            held.values().forEach(NetnsFd::close);
            held.clear();
        }
    }

    static long inode(Path p) {
        try {
            return ((Number) Files.getAttribute(p, "unix:ino")).longValue();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    static PodInfo pod(String uid) {
        return new PodInfo(uid, "pod-" + uid, "shop", "default", List.of("10.1.0." + (uid.hashCode() & 0x7f)));
    }

    @BeforeEach
    void socket() {
        sock = dir.resolve("ztunnel.sock");
    }

    @AfterEach
    void cleanup() throws Exception {
        for (int i = closeLast.size() - 1; i >= 0; i--) {
            closeLast.get(i).close();
        }
    }

    private <C extends AutoCloseable> C closing(C c) {
        closeLast.add(c);
        return c;
    }

    private HandoffServer server() throws IOException {
        HandoffServer s = closing(new HandoffServer(sock));
        s.start();
        return s;
    }

    private HandoffClient client(Recorder r) {
        closeLast.add(r::closeAll);
        HandoffClient c = closing(new HandoffClient(sock, r));
        c.start();
        return c;
    }

    @Test
    void snapshotOnConnectThenLiveAddsAndDelsAreAcked() throws Exception {
        HandoffServer server = server();
        long ns = inode(OWN_NETNS);
        // Enrolled while no ztunnel is there: remembered, not an error.
        assertFalse(server.add(pod("a"), OWN_NETNS, T));
        assertFalse(server.add(pod("b"), OWN_NETNS, T));
        assertFalse(server.ztunnelConnected());

        Recorder r = new Recorder();
        HandoffClient client = client(r);
        assertEquals("up", r.next());
        assertEquals("add a " + ns, r.next());
        assertEquals("add b " + ns, r.next());
        assertEquals("snapshot [a, b]", r.next());
        Await.until(server::ztunnelConnected, () -> "server sees ztunnel");
        assertTrue(client.connected());

        assertTrue(server.add(pod("c"), OWN_NETNS, T));
        assertEquals("add c " + ns, r.next());
        assertTrue(server.remove("a", T));
        assertEquals("del a", r.next());
        assertEquals(Set.of("b", "c"), r.held.keySet());
        // a second add of the same uid replaces (the recorder closes the old descriptor)
        assertTrue(server.add(pod("c"), OWN_NETNS, T));
        assertEquals("add c " + ns, r.next());
        // removing what ztunnel does not hold is fine
        assertTrue(server.remove("never-added", T));
        assertEquals("del never-added", r.next());
    }

    @Test
    void aRefusalComesBackAsTheAddsErrorAndTheConnectionGoesOn() throws Exception {
        HandoffServer server = server();
        Recorder r = new Recorder();
        client(r);
        assertEquals("up", r.next());
        assertEquals("snapshot []", r.next());
        Await.until(server::ztunnelConnected, () -> "server sees ztunnel");

        r.refuseName = "pod-x";
        IOException e = assertThrows(IOException.class, () -> server.add(pod("x"), OWN_NETNS, T));
        assertTrue(e.getMessage().contains("ztunnel refused add of pod shop/pod-x (x): pod pod-x is not on this node"), e.getMessage());
        assertTrue(server.add(pod("y"), OWN_NETNS, T));
        assertEquals("add y " + inode(OWN_NETNS), r.next());
        assertTrue(server.ztunnelConnected());
    }

    @Test
    void aNewZtunnelGetsTheSnapshotAgainAndDropsWhatIsGone() throws Exception {
        HandoffServer server = server();
        Path file = Files.writeString(dir.resolve("not-a-netns"), "x");
        Recorder first = new Recorder();
        HandoffClient c1 = client(first);
        assertEquals("up", first.next());
        assertEquals("snapshot []", first.next());
        assertTrue(server.add(pod("a"), OWN_NETNS, T));
        assertTrue(server.add(pod("f"), file, T));
        assertEquals("add a " + inode(OWN_NETNS), first.next());
        assertEquals("add f " + inode(file), first.next());

        c1.close(); // ztunnel goes away
        assertEquals("down", first.next());
        Await.until(() -> !server.ztunnelConnected(), () -> "server noticed ztunnel left");
        assertTrue(server.remove("a", T) == false, "not connected: remembered only");

        // ztunnel restarts holding what it had (a and f); the snapshot says only f remains
        Recorder second = new Recorder();
        second.held.putAll(first.held);
        first.held.clear();
        client(second);
        assertEquals("up", second.next());
        assertEquals("add f " + inode(file), second.next());
        assertEquals("snapshot [f]", second.next());
        assertEquals(Set.of("f"), second.held.keySet());
    }

    @Test
    void aSecondConnectionReplacesTheFirst() throws Exception {
        HandoffServer server = server();
        server.add(pod("a"), OWN_NETNS, T);
        try (UnixSeqpacket old = UnixSeqpacket.connect(sock)) {
            // old answers its snapshot by hand
            ackNext(old, "add");
            ackNext(old, "snapshot-sent");
            Recorder r = new Recorder();
            client(r);
            assertEquals("up", r.next());
            assertEquals("add a " + inode(OWN_NETNS), r.next());
            assertEquals("snapshot [a]", r.next());
            // the old connection was closed by the agent
            assertTrue(old.awaitReadable(T.toMillis()));
            assertThrows(java.io.EOFException.class, old::receive);
        }
    }

    private static void ackNext(UnixSeqpacket c, String expectType) throws Exception {
        assertTrue(c.awaitReadable(T.toMillis()), "a message");
        UnixSeqpacket.Packet p = c.receive();
        p.closeFds();
        assertTrue(new String(p.data(), StandardCharsets.UTF_8).contains("\"type\":\"" + expectType + "\""));
        c.send(HandoffMessage.encode(new HandoffMessage.Ack("")), -1, T.toMillis());
    }

    @Test
    void aZtunnelThatDoesNotAckInTimeIsDisconnectedAndResyncedOnReconnect() throws Exception {
        HandoffServer server = server();
        Recorder r = new Recorder();
        client(r);
        assertEquals("up", r.next());
        assertEquals("snapshot []", r.next());
        Await.until(server::ztunnelConnected, () -> "server sees ztunnel");

        r.gate = new CountDownLatch(1); // ztunnel stuck in add
        IOException e = assertThrows(IOException.class, () -> server.add(pod("slow"), OWN_NETNS, Duration.ofMillis(200)));
        assertTrue(e.getMessage().contains("no ack from ztunnel"), e.getMessage());
        assertFalse(server.ztunnelConnected());
        r.gate.countDown();
        // the late add completes, the client sees the close, reconnects and is resynced
        assertEquals("add slow " + inode(OWN_NETNS), r.next());
        assertEquals("down", r.next());
        assertEquals("up", r.next());
        assertEquals("add slow " + inode(OWN_NETNS), r.next());
        assertEquals("snapshot [slow]", r.next());
    }

    /** A raw agent feeding the real client bad messages: each is refused, the connection stays. */
    @Test
    void malformedMessagesAreRefusedWithAReasonAndTheConnectionSurvives() throws Exception {
        Files.deleteIfExists(sock);
        try (UnixSeqpacket listener = UnixSeqpacket.listen(sock)) {
            Recorder r = new Recorder();
            client(r);
            assertTrue(listener.awaitReadable(T.toMillis()));
            try (UnixSeqpacket agent = listener.accept()) {
                assertEquals("up", r.next());
                int fd = Libc.open(OWN_NETNS.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
                try {
                    assertRefused(agent, "{oops", -1, "not JSON");
                    assertRefused(agent, "{\"type\":\"explode\"}", -1, "unknown message type \"explode\"");
                    assertRefused(agent, "{\"type\":\"add\",\"name\":\"p\",\"namespace\":\"n\",\"serviceAccount\":\"s\",\"ips\":[]}",
                            fd, "missing \"uid\"");
                    assertRefused(agent, new String(HandoffMessage.encode(new HandoffMessage.Add(pod("q"))), StandardCharsets.UTF_8),
                            -1, "0 descriptor(s) with add (expected 1)");
                    assertRefused(agent, "{\"type\":\"del\",\"uid\":\"q\"}", fd, "1 descriptor(s) with del (expected 0)");
                    assertRefused(agent, "{\"type\":\"ack\",\"error\":\"\"}", -1, "ack from the agent");
                    // still the same connection, and a good message works
                    agent.send(HandoffMessage.encode(new HandoffMessage.Add(pod("ok"))), fd, T.toMillis());
                    assertEquals(new HandoffMessage.Ack(""), reply(agent));
                    assertEquals("add ok " + inode(OWN_NETNS), r.next());
                    agent.send(HandoffMessage.encode(new HandoffMessage.SnapshotSent()), -1, T.toMillis());
                    assertEquals(new HandoffMessage.Ack(""), reply(agent));
                    assertEquals("snapshot [ok]", r.next());
                    assertRefused(agent, "{\"type\":\"snapshot-sent\"}", -1, "snapshot-sent twice");
                } finally {
                    Libc.close(fd);
                }
            }
        }
    }

    private static void assertRefused(UnixSeqpacket agent, String packet, int fd, String reason) throws Exception {
        agent.send(packet.getBytes(StandardCharsets.UTF_8), fd, T.toMillis());
        HandoffMessage.Ack ack = reply(agent);
        assertTrue(ack.error().contains(reason), packet + " → " + ack.error());
    }

    private static HandoffMessage.Ack reply(UnixSeqpacket agent) throws Exception {
        assertTrue(agent.awaitReadable(T.toMillis()), "an ack");
        UnixSeqpacket.Packet p = agent.receive();
        assertTrue(p.fds().isEmpty());
        return (HandoffMessage.Ack) HandoffMessage.decode(p.data());
    }

    @Test
    void descriptorsDoNotLeakAcrossMessagesRefusalsAndReconnects() throws Exception {
        HandoffServer server = server();
        Path missing = dir.resolve("gone-netns");
        int rounds = 100;
        Recorder r = new Recorder();
        HandoffClient client = client(r);
        Await.until(server::ztunnelConnected, () -> "server sees ztunnel");
        cycle(server, r, missing, 5); // warm up: classes, buffers, logging
        long before = openFds();
        cycle(server, r, missing, rounds);
        client.close();
        Await.until(() -> !server.ztunnelConnected(), () -> "server noticed ztunnel left");
        r.closeAll();
        long after = openFds();
        // One leaked descriptor per message would show as hundreds; a few are the JVM's own.
        assertTrue(after - before < 5, "open descriptors grew from " + before + " to " + after);
    }

    private static void cycle(HandoffServer server, Recorder r, Path missing, int rounds) throws Exception {
        for (int n = 0; n < rounds; n++) {
            int i = n;
            assertTrue(server.add(pod("p" + i), OWN_NETNS, T));
            assertTrue(server.add(pod("p" + i), OWN_NETNS, T)); // replace
            r.refuseName = "pod-r" + i;
            assertThrows(IOException.class, () -> server.add(pod("r" + i), OWN_NETNS, T));
            assertThrows(IOException.class, () -> server.add(pod("m" + i), missing, T));
            assertTrue(server.remove("p" + i, T));
            server.remove("r" + i, T);
            server.remove("m" + i, T);
        }
        r.events.clear();
    }
}
