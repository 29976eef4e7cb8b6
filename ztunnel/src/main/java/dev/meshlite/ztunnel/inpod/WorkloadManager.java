package dev.meshlite.ztunnel.inpod;

import dev.meshlite.cni.handoff.HandoffListener;
import dev.meshlite.cni.handoff.NetnsFd;
import dev.meshlite.cni.handoff.PodInfo;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.proxy.PodDirectory;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.socket.Netns;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pods this ztunnel serves, as the node agent hands them over (DESIGN §5): an add opens the
 * pod's listeners inside its namespace and starts fetching its certificate; the end of a snapshot
 * drops whatever the agent no longer has; a removal drains the pod (its open connections finish
 * on their own in any case). Messages arrive one at a time on the handoff thread; lookups by IP
 * come from event loops, hence the concurrent maps.
 *
 * <p>Draining. The agent removes a pod after taking away its capture rules, but ztunnels on other
 * nodes learn that it left only from istiod-lite's next push (debounced, up to about a second
 * later) and keep opening HBONE tunnels to its :15008 until then. So a removed pod keeps its
 * listeners, its certificate and its entry by IP for {@code podDrain}, then closes; closing at
 * once would refuse those tunnels, and reset whatever sat in the listeners' accept queues. A pod
 * added again meanwhile (same pod, same namespace) takes its listeners back as they are: binding
 * a second set beside them would split new connections between both (SO_REUSEPORT) and lose
 * those sent to the set about to close. A snapshot's drop and {@link #closeAll()} close at once.
 *
 * <p>Invariants: a uid is in at most one of {@code byUid} (served) and {@code draining};
 * {@code byIp} holds served and draining pods (a newer pod with the same IP takes over the
 * entry). Proxies move between these maps only under {@code lock}, held for the moves alone
 * (never across a bind, the certificate wait or a close): the handoff thread and the drain timer,
 * which fires on an event loop, both take a proxy out under the lock, and whoever took it out
 * closes it. A timer that lost a race finds its {@link Drain} no longer in {@code draining} and
 * does nothing, so each proxy is closed, and its certificate released, exactly once.
 */
public final class WorkloadManager implements HandoffListener, PodDirectory {

    private static final Logger LOG = LoggerFactory.getLogger(WorkloadManager.class);

    /** Below the agent's 5 s hand-off deadline, so a slow CA delays an ack but never fails it. */
    static final Duration HBONE_READY_WAIT = Duration.ofSeconds(3);

    /** Runs the end of a drain after {@code delay}, off the handoff thread; the future cancels it. */
    @FunctionalInterface
    interface DrainTimer {
        Future<?> schedule(Runnable task, Duration delay);
    }

    /** A removed pod whose listeners stay open until {@code timer} fires. */
    private static final class Drain {
        final PodProxy proxy;
        /** Set under {@code lock} right after scheduling, before anyone else can see this drain. */
        Future<?> timer;

        Drain(PodProxy proxy) {
            this.proxy = proxy;
        }
    }

    private final String trustDomain;
    private final Supplier<ProxyInputs> inputs;
    private final Supplier<HboneServer> hbone;
    private final Duration podDrain;
    private final DrainTimer timer;
    private final Object lock = new Object();
    private final Map<String, PodProxy> byUid = new ConcurrentHashMap<>();
    private final Map<String, Drain> draining = new ConcurrentHashMap<>();
    private final Map<InetAddress, PodProxy> byIp = new ConcurrentHashMap<>();
    private volatile boolean connected;
    private volatile boolean snapshotSeen;

    /**
     * Suppliers because the inputs and the HBONE server are built after this directory. Drains
     * end on one of the inputs' event loops (closing listeners and a descriptor does not block).
     */
    public WorkloadManager(String trustDomain, Supplier<ProxyInputs> inputs, Supplier<HboneServer> hbone,
                           Duration podDrain) {
        this(trustDomain, inputs, hbone, podDrain,
                (task, delay) -> inputs.get().group().schedule(task, delay.toNanos(), TimeUnit.NANOSECONDS));
    }

    WorkloadManager(String trustDomain, Supplier<ProxyInputs> inputs, Supplier<HboneServer> hbone, Duration podDrain,
                    DrainTimer timer) {
        if (podDrain.isNegative()) {
            throw new IllegalArgumentException("podDrain: " + podDrain + " (expected: >= 0)");
        }
        this.trustDomain = trustDomain;
        this.inputs = inputs;
        this.hbone = hbone;
        this.podDrain = podDrain;
        this.timer = timer;
    }

    @Override
    public void add(PodInfo pod, NetnsFd fd) throws Exception {
        // Our own descriptor for the namespace, independent of the message's.
        Netns netns;
        try {
            netns = Netns.dup(fd.fd());
        } finally {
            fd.close();
        }
        serve(pod, netns);
    }

    /** Serves {@code pod} whose namespace is {@code netns} (owned from here on). */
    public void serve(PodInfo pod, Netns netns) throws Exception {
        InetAddress ip;
        SpiffeId identity;
        try {
            if (pod.ips().isEmpty()) {
                throw new IllegalArgumentException("pod " + pod.namespace() + "/" + pod.name() + " has no IP");
            }
            ip = InetAddress.ofLiteral(pod.ips().getFirst());
            identity = new SpiffeId(trustDomain, pod.namespace(),
                    pod.serviceAccount() == null || pod.serviceAccount().isEmpty() ? "default" : pod.serviceAccount());
        } catch (IllegalArgumentException e) {
            netns.close();
            throw e;
        }
        PodProxy previous;
        PodProxy cutShort = null;
        boolean revived = false;
        synchronized (lock) {
            previous = byUid.get(pod.uid());
            Drain d = draining.remove(pod.uid());
            if (d != null) {
                d.timer.cancel(false); // if it fires anyway, it no longer finds d in draining
                if (samePod(d.proxy, pod, netns)) {
                    byUid.put(pod.uid(), d.proxy);
                    byIp.put(d.proxy.ip(), d.proxy);
                    revived = true;
                } else {
                    byIp.remove(d.proxy.ip(), d.proxy);
                    cutShort = d.proxy;
                }
            }
        }
        if (revived) {
            netns.close();
            LOG.info("pod {}/{} is back in the mesh: its listeners, still open, serve it again", pod.namespace(),
                    pod.name());
            return;
        }
        if (cutShort != null) {
            LOG.info("pod {}/{} is added again, changed (its namespace or details): its draining listeners close now",
                    pod.namespace(), pod.name());
            close(cutShort);
        }
        if (previous != null && samePod(previous, pod, netns)) {
            netns.close(); // the same pod again (a new snapshot): keep what runs
            return;
        }
        PodProxy proxy = new PodProxy(pod, identity, netns, ip);
        if (previous != null) {
            drop(previous);
        }
        ProxyInputs in = inputs.get();
        in.certificates().acquire(identity);
        java.util.concurrent.CompletableFuture<Void> hboneReady;
        try {
            hboneReady = proxy.start(in, hbone.get());
        } catch (Exception e) {
            proxy.close();
            in.certificates().release(identity);
            throw new IllegalStateException("pod " + pod.namespace() + "/" + pod.name() + ": " + e.getMessage(), e);
        }
        synchronized (lock) {
            byUid.put(pod.uid(), proxy);
            byIp.put(ip, proxy);
        }
        // The ack tells the agent it may capture the pod and announce it as HBONE: wait (bounded)
        // until the pod is fully served, so no client is sent to a :15008 that is not there yet
        // and the pod's first outbound tunnel has its certificate. With the CA away the pod is
        // acked anyway after the bound: plaintext inbound and outbound listeners are up, and
        // :15008 follows as soon as the certificate does.
        try {
            hboneReady.get(HBONE_READY_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException
                 | java.util.concurrent.CancellationException e) {
            LOG.warn("pod {}/{}: inbound HBONE not ready within {} ms ({}); serving it meanwhile", pod.namespace(),
                    pod.name(), HBONE_READY_WAIT.toMillis(), e.toString());
        }
        LOG.info("serving pod {}/{} ({}, {})", pod.namespace(), pod.name(), ip.getHostAddress(), identity);
    }

    /** The same pod in the same namespace: what runs for it can go on. */
    private static boolean samePod(PodProxy p, PodInfo pod, Netns netns) {
        return p.info().equals(pod) && p.netns().inode() == netns.inode();
    }

    @Override
    public void snapshotDone(Set<String> uidsInSnapshot) {
        for (PodProxy p : List.copyOf(byUid.values())) {
            if (!uidsInSnapshot.contains(p.info().uid())) {
                LOG.info("pod {}/{} is not in the agent's snapshot: dropping it", p.info().namespace(), p.info().name());
                drop(p);
            }
        }
        // Draining pods are left to their timers: the agent had removed them already.
        snapshotSeen = true;
    }

    @Override
    public void remove(String uid) {
        PodProxy p;
        Drain d = null;
        synchronized (lock) {
            p = byUid.remove(uid);
            if (p == null) {
                return; // unknown, or draining already
            }
            if (podDrain.isPositive()) {
                d = new Drain(p);
                draining.put(uid, d);
                try {
                    // Fires on an event loop; it waits for this lock, so it always sees d.timer set.
                    Drain drain = d;
                    d.timer = timer.schedule(() -> drainEnded(drain), podDrain);
                } catch (RuntimeException e) { // the event loops are shutting down
                    LOG.warn("pod {}/{}: cannot schedule the end of its drain ({}); closing it now",
                            p.info().namespace(), p.info().name(), e.toString());
                    draining.remove(uid, d);
                    d = null;
                }
            }
            if (d == null) {
                byIp.remove(p.ip(), p);
            }
        }
        if (d == null) {
            LOG.info("pod {}/{} left the mesh", p.info().namespace(), p.info().name());
            close(p);
        } else {
            LOG.info("pod {}/{} left the mesh; its listeners close in {}", p.info().namespace(), p.info().name(),
                    human(podDrain));
        }
    }

    /** The drain timer fired: close the pod unless it came back, or was closed, meanwhile. */
    private void drainEnded(Drain d) {
        PodProxy p = d.proxy;
        synchronized (lock) {
            if (!draining.remove(p.info().uid(), d)) {
                return;
            }
            byIp.remove(p.ip(), p);
        }
        close(p);
        LOG.info("pod {}/{} drained: its listeners are closed", p.info().namespace(), p.info().name());
    }

    private static String human(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    @Override
    public void connected(boolean up) {
        connected = up;
        if (!up) {
            snapshotSeen = false;
        }
    }

    /** Stops serving {@code p} now, if it still is. */
    private void drop(PodProxy p) {
        synchronized (lock) {
            if (!byUid.remove(p.info().uid(), p)) {
                return;
            }
            byIp.remove(p.ip(), p);
        }
        close(p);
    }

    /** Only by whoever took {@code p} out of the maps. */
    private void close(PodProxy p) {
        if (p.close()) {
            inputs.get().certificates().release(p.identity());
        }
    }

    @Override
    public Optional<ServedPod> byIp(InetAddress ip) {
        return Optional.ofNullable(byIp.get(ip));
    }

    /** Connected to the node agent and its snapshot applied. */
    public boolean ready() {
        return connected && snapshotSeen;
    }

    /** The pods served: removed ones still draining are not among them ({@link #draining()}). */
    public List<ServedPod> served() {
        return new ArrayList<>(byUid.values());
    }

    /** Removed pods whose listeners are still open until their drain ends. */
    public List<ServedPod> draining() {
        List<ServedPod> out = new ArrayList<>();
        draining.values().forEach(d -> out.add(d.proxy));
        return out;
    }

    /** Registers {@code meshlite_ztunnel_pods{state="served"|"draining"}}: the pods this ztunnel holds. */
    public void register(PrometheusRegistry registry) {
        GaugeWithCallback.builder().name("meshlite_ztunnel_pods")
                .help("Pods this ztunnel holds: served, or removed and draining")
                .labelNames("state")
                .callback(cb -> {
                    cb.call(byUid.size(), "served");
                    cb.call(draining.size(), "draining");
                }).register(registry);
    }

    /** Listening ports of a pod, for the admin endpoint. */
    public List<Integer> listening(ServedPod pod) {
        return pod instanceof PodProxy p ? p.listening() : List.of();
    }

    /** Closes every pod now, draining ones included (shutdown: the listeners go first). */
    public void closeAll() {
        List<PodProxy> all = new ArrayList<>();
        synchronized (lock) {
            all.addAll(byUid.values());
            byUid.clear();
            for (Drain d : draining.values()) {
                d.timer.cancel(false);
                all.add(d.proxy);
            }
            draining.clear();
            all.forEach(p -> byIp.remove(p.ip(), p));
        }
        all.forEach(this::close);
    }
}
