package dev.meshlite.ztunnel.inpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.cni.handoff.PodInfo;
import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.client.HboneClientConfig;
import dev.meshlite.hbone.client.HboneStream;
import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.server.HboneServerConfig;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.CertificateSource;
import dev.meshlite.istiod.ca.client.RenewalScheduler;
import dev.meshlite.istiod.ca.client.WorkloadCertificates;
import dev.meshlite.ztunnel.identity.CertificateManager;
import dev.meshlite.ztunnel.metrics.AccessLog;
import dev.meshlite.ztunnel.metrics.TcpMetrics;
import dev.meshlite.ztunnel.proxy.Dial;
import dev.meshlite.ztunnel.proxy.PodDirectory.ServedPod;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.proxy.inbound.HboneInbound;
import dev.meshlite.ztunnel.socket.Netns;
import dev.meshlite.ztunnel.state.ProxyState;
import io.netty.channel.EventLoopGroup;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A removed pod's drain against real listeners in real network namespaces: the pod's sockets are
 * probed from inside its namespace (TCP, and a real HBONE tunnel through :15008 to an app there),
 * its listening sockets read with {@code ss}, its certificate in the {@link CertificateManager},
 * its namespace descriptor in {@code /proc/self/fd}. Most tests drive the drain's timer by hand
 * (firing it on an event loop, as the real one does), so the state during a drain is asserted
 * without racing a clock; one lets the real timer end a drain. Needs root.
 */
@Tag("root")
class PodDrainIT {

    private static final TestCa CA = TestCa.create("cluster.local");
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final Duration DRAIN = Duration.ofSeconds(5);
    private static final int APP_PORT = 8080;
    private static final Set<Integer> PORTS = Set.of(15001, 15006, 15008);
    private static EventLoopGroup group;

    private final List<String> namespaces = new ArrayList<>();
    private final List<ServerSocket> apps = new ArrayList<>();
    private final ManualTimer timer = new ManualTimer();
    private final AtomicReference<ProxyInputs> inputs = new AtomicReference<>();
    private final WorkloadCertificates certificates = new WorkloadCertificates(
            id -> new CertificateSource.Fetched(CA.issue(id), CA.bundle()), RenewalScheduler.singleThread("drain-it-certificates"),
            InstantSource.system(), RandomGenerator.getDefault(), Backoff.DEFAULT);
    private final CertificateManager certs = new CertificateManager(certificates, "cluster.local");
    private HboneServer hbone;
    private WorkloadManager pods;

    @BeforeAll
    static void loops() {
        Assumptions.assumeTrue(Transport.EPOLL.isAvailable(), "in-pod listeners need epoll");
        group = Transport.EPOLL.newEventLoopGroup(2, "drain-it");
    }

    @AfterAll
    static void stopLoops() {
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @AfterEach
    void cleanup() throws Exception {
        if (pods != null) {
            pods.closeAll();
        }
        if (hbone != null) {
            hbone.shutdown(Duration.ZERO).orTimeout(10, TimeUnit.SECONDS).join();
        }
        certificates.close();
        for (ServerSocket app : apps) {
            app.close();
        }
        for (String ns : namespaces) {
            run("ip", "netns", "del", ns);
        }
    }

    // ---- the drain ----

    @Test
    void aRemovedPodKeepsListeningAndIsReachableOverHboneThroughItsDrainThenClosesAndLetsGoOfAll() throws Exception {
        manager(DRAIN, timer);
        PrometheusRegistry registry = new PrometheusRegistry();
        pods.register(registry);
        TestPod p = pod("backend", "10.77.0.2");
        pods.serve(p.info(), p.open());
        assertEquals(Map.of("served", 1.0, "draining", 0.0), podGauge(registry));
        Map<Integer, Long> listeners = listeners(p.netns());
        assertEquals(PORTS, listeners.keySet(), "listening before the removal");
        ServedPod served = pods.byIp(p.ip()).orElseThrow();

        pods.remove(p.info().uid());

        Scheduled drain = timer.only();
        assertEquals(DRAIN, drain.delay());
        assertTrue(pods.served().isEmpty(), "no longer served");
        assertEquals(List.of(served), pods.draining());
        assertEquals(Map.of("served", 0.0, "draining", 1.0), podGauge(registry));
        assertSame(served, pods.byIp(p.ip()).orElseThrow(), "inbound HBONE still finds it by IP");
        assertEquals(listeners, listeners(p.netns()), "the same listening sockets");
        assertTrue(accepts(p, 15006) && accepts(p, 15008), "its listeners accept during the drain");
        assertEquals(1, held(p.identity()), "its certificate is kept");
        // What another node's ztunnel does until istiod-lite's push reaches it: a tunnel to :15008.
        tunnel(p);
        assertEquals(1, descriptors(p), "its namespace is held");

        fire(drain);

        assertTrue(pods.draining().isEmpty() && pods.byIp(p.ip()).isEmpty(), "forgotten once drained");
        assertEquals(Map.of("served", 0.0, "draining", 0.0), podGauge(registry));
        assertEquals(0, held(p.identity()), "its certificate released");
        assertEquals(0, descriptors(p), "its namespace descriptor closed");
        awaitClosed(p);
    }

    @Test
    void theRealTimerEndsTheDrainOnAnEventLoopNoSoonerThanTheDrainPeriod() throws Exception {
        Duration drain = Duration.ofSeconds(1);
        manager(drain, null);
        TestPod p = pod("backend", "10.77.0.3");
        pods.serve(p.info(), p.open());

        long removed = System.nanoTime();
        pods.remove(p.info().uid());

        assertTrue(accepts(p, 15008), "accepted right after the removal");
        assertEquals(1, pods.draining().size());
        awaitClosed(p);
        Duration took = Duration.ofNanos(System.nanoTime() - removed);
        assertTrue(took.compareTo(drain) >= 0, "closed after " + took.toMillis() + " ms (expected: >= " + drain + ")");
        Await.until(WAIT, () -> held(p.identity()) == 0 && descriptors(p) == 0, () -> "certificate or namespace still held");
        assertTrue(pods.draining().isEmpty() && pods.byIp(p.ip()).isEmpty());
    }

    @Test
    void aReAddDuringTheDrainKeepsTheSameListenersAndNoStaleTimerClosesThem() throws Exception {
        manager(DRAIN, timer);
        TestPod p = pod("backend", "10.77.0.4");
        pods.serve(p.info(), p.open());
        Map<Integer, Long> listeners = listeners(p.netns());
        ServedPod served = pods.byIp(p.ip()).orElseThrow();
        pods.remove(p.info().uid());
        Scheduled first = timer.only();

        pods.serve(p.info(), p.open()); // the agent enrolls the pod again: same pod, same namespace

        assertTrue(first.handle().isCancelled(), "the scheduled close is cancelled");
        assertEquals(List.of(served), pods.served(), "the draining proxy serves it again");
        assertTrue(pods.draining().isEmpty());
        assertEquals(listeners, listeners(p.netns()), "the very same sockets: one per port, no second bind");
        assertEquals(1, descriptors(p), "the re-add's namespace descriptor was closed, the pod's own kept");
        assertEquals(1, held(p.identity()), "one hold on the certificate");

        // The close fires anyway, as if it had started just as the re-add came: it must do nothing.
        fire(first);
        assertEquals(List.of(served), pods.served());
        assertEquals(1, held(p.identity()), "the certificate is still held");
        assertEquals(1, descriptors(p), "the namespace is still held");
        assertEquals(listeners, listeners(p.netns()));
        assertTrue(accepts(p, 15006) && accepts(p, 15008));

        // Removed again: the stale first close still does nothing, the second drain's close ends it.
        pods.remove(p.info().uid());
        Scheduled second = timer.last();
        fire(first);
        assertEquals(List.of(served), pods.draining());
        assertEquals(1, descriptors(p));
        assertTrue(accepts(p, 15008));
        fire(second);
        assertEquals(0, held(p.identity()));
        assertEquals(0, descriptors(p));
        awaitClosed(p);
    }

    @Test
    void aReAddFromAnotherNamespaceEndsTheOldDrainAtOnce() throws Exception {
        manager(DRAIN, timer);
        TestPod old = pod("backend", "10.77.0.5");
        TestPod moved = new TestPod(namespace("10.77.0.5"), old.info());
        pods.serve(old.info(), old.open());
        pods.remove(old.info().uid());
        Scheduled drain = timer.only();

        pods.serve(moved.info(), moved.open());

        assertTrue(drain.handle().isCancelled());
        assertEquals(0, descriptors(old), "the old namespace let go without waiting for the timer");
        awaitClosed(old);
        assertEquals(PORTS, listeners(moved.netns()).keySet());
        ServedPod now = pods.byIp(old.ip()).orElseThrow();
        try (Netns n = moved.open()) {
            assertEquals(n.inode(), now.netns().inode(), "served from the new namespace");
        }
        assertEquals(List.of(now), pods.served());
        assertTrue(pods.draining().isEmpty());
        assertEquals(1, held(old.identity()), "the old hold released, the new one taken");
    }

    @Test
    void closeAllClosesDrainingPodsAtOnceAndTheirTimersFindNothingLeft() throws Exception {
        manager(DRAIN, timer);
        TestPod leaving = pod("backend", "10.77.0.6");
        TestPod staying = pod("backend-2", "10.77.0.7");
        pods.serve(leaving.info(), leaving.open());
        pods.serve(staying.info(), staying.open());
        pods.remove(leaving.info().uid());
        Scheduled drain = timer.only();

        pods.closeAll();

        assertTrue(drain.handle().isCancelled());
        assertTrue(pods.served().isEmpty() && pods.draining().isEmpty());
        assertTrue(pods.byIp(leaving.ip()).isEmpty() && pods.byIp(staying.ip()).isEmpty());
        assertEquals(0, held(leaving.identity()), "both pods' holds released (one identity)");
        assertEquals(0, descriptors(leaving));
        assertEquals(0, descriptors(staying));
        awaitClosed(leaving);
        awaitClosed(staying);

        // A pod of the same identity served afterwards: the cancelled close firing late must not
        // release a hold a second time (it would take this pod's).
        TestPod later = pod("backend-3", "10.77.0.8");
        pods.serve(later.info(), later.open());
        fire(drain);
        assertEquals(1, held(later.identity()));
        assertEquals(PORTS, listeners(later.netns()).keySet());
    }

    @Test
    void aZeroDrainClosesAtOnce() throws Exception {
        manager(Duration.ZERO, timer);
        TestPod p = pod("backend", "10.77.0.9");
        pods.serve(p.info(), p.open());

        pods.remove(p.info().uid());

        assertClosedAtOnce(p);
    }

    @Test
    void aPodMissingFromTheAgentsSnapshotClosesAtOnce() throws Exception {
        manager(DRAIN, timer);
        TestPod p = pod("backend", "10.77.0.10");
        pods.serve(p.info(), p.open());

        pods.snapshotDone(Set.of());

        assertClosedAtOnce(p);
    }

    /** {@code p} went without a drain: nothing scheduled, nothing served or draining, its hold and sockets gone. */
    private void assertClosedAtOnce(TestPod p) throws Exception {
        assertTrue(timer.scheduled.isEmpty(), "no drain scheduled");
        assertTrue(pods.served().isEmpty() && pods.draining().isEmpty() && pods.byIp(p.ip()).isEmpty());
        assertEquals(0, held(p.identity()));
        assertEquals(0, descriptors(p));
        awaitClosed(p);
    }

    // ---- the proxy under test ----

    /** A manager with the production wiring (HBONE inbound, certificates); {@code t == null}: the real timer. */
    private void manager(Duration drain, WorkloadManager.DrainTimer t) throws Exception {
        pods = t == null ? new WorkloadManager("cluster.local", inputs::get, () -> hbone, drain)
                : new WorkloadManager("cluster.local", inputs::get, () -> hbone, drain, t);
        // No HBONE client: nothing here goes outbound through :15001.
        inputs.set(new ProxyInputs("Kubernetes", new AtomicReference<>(ProxyState.EMPTY), certs, null,
                new TcpMetrics(new PrometheusRegistry(), new AccessLog(AccessLog.Format.TEXT)), Transport.EPOLL, group,
                pods, null));
        hbone = HboneServer.start(new HboneServerConfig(null, Duration.ofSeconds(10), Duration.ofSeconds(10)), null,
                new HboneInbound(inputs.get()), new HboneMetrics(), Transport.EPOLL, group);
    }

    /** The drain timer, by hand: records what is scheduled; {@link #fire} runs it. */
    private static final class ManualTimer implements WorkloadManager.DrainTimer {
        final List<Scheduled> scheduled = new CopyOnWriteArrayList<>();

        @Override
        public Future<?> schedule(Runnable task, Duration delay) {
            Scheduled s = new Scheduled(task, delay, new CompletableFuture<>());
            scheduled.add(s);
            return s.handle();
        }

        Scheduled only() {
            assertEquals(1, scheduled.size(), "scheduled: " + scheduled);
            return scheduled.getFirst();
        }

        Scheduled last() {
            return scheduled.getLast();
        }
    }

    private record Scheduled(Runnable task, Duration delay, CompletableFuture<Void> handle) {}

    /** Runs a drain's end on an event loop, as the real timer does, even if cancelled (it may have started). */
    private static void fire(Scheduled s) throws Exception {
        group.next().submit(s.task()).get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    // ---- pods in namespaces ----

    private record TestPod(String netns, PodInfo info) {
        Path path() {
            return Path.of("/run/netns/" + netns);
        }

        Netns open() {
            return Netns.open(path());
        }

        InetAddress ip() {
            return InetAddress.ofLiteral(info.ips().getFirst());
        }

        SpiffeId identity() {
            return new SpiffeId("cluster.local", info.namespace(), info.serviceAccount());
        }
    }

    /** A pod of shop/backend in a namespace of its own, with its IP and an app listening on it. */
    private TestPod pod(String name, String ip) throws Exception {
        return new TestPod(namespace(ip), new PodInfo("uid-" + name, name, "shop", "backend", List.of(ip)));
    }

    private String namespace(String ip) throws Exception {
        String ns = "mesh-drain-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24));
        run("ip", "netns", "add", ns);
        namespaces.add(ns);
        run("ip", "-n", ns, "link", "set", "lo", "up");
        run("ip", "-n", ns, "addr", "add", ip + "/32", "dev", "lo");
        try (Netns n = Netns.open(Path.of("/run/netns/" + ns))) {
            apps.add(n.run(() -> new ServerSocket(APP_PORT, 50, InetAddress.ofLiteral(ip))));
        }
        return ns;
    }

    /** Whether a TCP connection to {@code port} of the pod, from inside its namespace, is accepted. */
    private static boolean accepts(TestPod p, int port) throws Exception {
        try (Netns n = p.open()) {
            return n.run(() -> {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(p.ip(), port), 5_000);
                    return true;
                } catch (ConnectException refused) {
                    return false;
                }
            });
        }
    }

    /** A tunnel through the pod's :15008 to its app, as a meshed client's ztunnel opens it; throws unless 200. */
    private void tunnel(TestPod p) throws Exception {
        SpiffeId client = CA.id("web", "frontend");
        TlsContextHolder tls = TlsContextHolder.forClient(CA.issue(client), CA.bundle());
        try (Netns from = p.open()) {
            HboneClient c = HboneClient.create(HboneClientConfig.defaults(), HboneClient.single(tls), new HboneMetrics(),
                    Transport.EPOLL, group, (key, b) -> Dial.fromPod(b, from, Transport.EPOLL.socketChannel()));
            try {
                HboneStream stream = c.open(new PoolKey(client, Set.of(p.identity()), new InetSocketAddress(p.ip(), 15008), null),
                        TunnelRequest.to(new InetSocketAddress(p.ip(), APP_PORT))).get(WAIT.toSeconds(), TimeUnit.SECONDS);
                stream.close();
            } finally {
                c.close();
            }
        }
    }

    private static void awaitClosed(TestPod p) {
        Await.until(WAIT, () -> {
            try {
                return listeners(p.netns()).isEmpty() && !accepts(p, 15006) && !accepts(p, 15008);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }, () -> "the listeners of " + p.info().name() + " still open");
    }

    /** Port to socket inode of every TCP listener in the namespace (one per port expected). */
    private static Map<Integer, Long> listeners(String ns) throws Exception {
        Map<Integer, Long> out = new TreeMap<>();
        Pattern inode = Pattern.compile("\\bino:(\\d+)");
        // (ip netns exec may add a line of its own about cgroup2)
        for (String line : run("ip", "netns", "exec", ns, "ss", "-Htlne").lines().filter(l -> l.startsWith("LISTEN")).toList()) {
            String local = line.trim().split("\\s+")[3];
            int port = Integer.parseInt(local.substring(local.lastIndexOf(':') + 1));
            if (port == APP_PORT) {
                continue;
            }
            Matcher m = inode.matcher(line);
            assertTrue(m.find(), line);
            Long before = out.put(port, Long.parseLong(m.group(1)));
            assertEquals(null, before, "two listeners on :" + port + " in " + ns);
        }
        return out;
    }

    /** How many pods of {@code id} hold its certificate (0: released). */
    private int held(SpiffeId id) {
        return certs.snapshot().stream().filter(c -> c.identity().equals(id)).mapToInt(CertificateManager.HeldCertificate::pods)
                .sum();
    }

    /** Descriptors of this process open on the pod's network namespace (same device and inode). */
    private static long descriptors(TestPod p) {
        Object[] ns;
        try {
            ns = id(p.path());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return java.util.Arrays.equals(ns, id(fd));
                } catch (IOException gone) {
                    return false; // the listing's own descriptor, or one closed meanwhile
                }
            }).count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What a path (or a descriptor's magic link, followed) is: device and inode. */
    private static Object[] id(Path path) throws IOException {
        return new Object[] {Files.getAttribute(path, "unix:dev"), Files.getAttribute(path, "unix:ino")};
    }

    private static String run(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS), String.join(" ", argv) + " hung");
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
        return out;
    }

    /** {@code meshlite_ztunnel_pods} by its {@code state} label. */
    private static Map<String, Double> podGauge(PrometheusRegistry registry) {
        Map<String, Double> byState = new java.util.HashMap<>();
        GaugeSnapshot gauge = (GaugeSnapshot) registry.scrape(name -> name.equals("meshlite_ztunnel_pods")).get(0);
        gauge.getDataPoints().forEach(d -> byState.put(d.getLabels().get("state"), d.getValue()));
        return byState;
    }
}
