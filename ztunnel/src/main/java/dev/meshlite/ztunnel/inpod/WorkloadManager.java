package dev.meshlite.ztunnel.inpod;

import dev.meshlite.cni.handoff.HandoffListener;
import dev.meshlite.cni.handoff.NetnsFd;
import dev.meshlite.cni.handoff.PodInfo;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.proxy.PodDirectory;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.socket.Netns;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pods this ztunnel serves, as the node agent hands them over (DESIGN §5): an add opens the
 * pod's listeners inside its namespace and starts fetching its certificate; the end of a snapshot
 * drops whatever the agent no longer has; a removal closes the pod's listeners (its open
 * connections finish on their own). Messages arrive one at a time on the handoff thread; lookups
 * by IP come from event loops, hence the concurrent maps.
 */
public final class WorkloadManager implements HandoffListener, PodDirectory {

    private static final Logger LOG = LoggerFactory.getLogger(WorkloadManager.class);

    /** Below the agent's 5 s hand-off deadline, so a slow CA delays an ack but never fails it. */
    static final java.time.Duration HBONE_READY_WAIT = java.time.Duration.ofSeconds(3);

    private final String trustDomain;
    private final Supplier<ProxyInputs> inputs;
    private final Supplier<HboneServer> hbone;
    private final Map<String, PodProxy> byUid = new ConcurrentHashMap<>();
    private final Map<InetAddress, PodProxy> byIp = new ConcurrentHashMap<>();
    private volatile boolean connected;
    private volatile boolean snapshotSeen;

    /** Suppliers because the inputs and the HBONE server are built after this directory. */
    public WorkloadManager(String trustDomain, Supplier<ProxyInputs> inputs, Supplier<HboneServer> hbone) {
        this.trustDomain = trustDomain;
        this.inputs = inputs;
        this.hbone = hbone;
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
        PodProxy previous = byUid.get(pod.uid());
        if (previous != null && previous.info().equals(pod) && previous.netns().inode() == netns.inode()) {
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
        byUid.put(pod.uid(), proxy);
        byIp.put(ip, proxy);
        // The ack tells the agent it may capture the pod and announce it as HBONE: wait (bounded)
        // until the pod is fully served, so no client is sent to a :15008 that is not there yet
        // and the pod's first outbound tunnel has its certificate. With the CA away the pod is
        // acked anyway after the bound: plaintext inbound and outbound listeners are up, and
        // :15008 follows as soon as the certificate does.
        try {
            hboneReady.get(HBONE_READY_WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException
                 | java.util.concurrent.CancellationException e) {
            LOG.warn("pod {}/{}: inbound HBONE not ready within {} ms ({}); serving it meanwhile", pod.namespace(),
                    pod.name(), HBONE_READY_WAIT.toMillis(), e.toString());
        }
        LOG.info("serving pod {}/{} ({}, {})", pod.namespace(), pod.name(), ip.getHostAddress(), identity);
    }

    @Override
    public void snapshotDone(Set<String> uidsInSnapshot) {
        for (PodProxy p : List.copyOf(byUid.values())) {
            if (!uidsInSnapshot.contains(p.info().uid())) {
                LOG.info("pod {}/{} is not in the agent's snapshot: dropping it", p.info().namespace(), p.info().name());
                drop(p);
            }
        }
        snapshotSeen = true;
    }

    @Override
    public void remove(String uid) {
        PodProxy p = byUid.get(uid);
        if (p != null) {
            LOG.info("pod {}/{} left the mesh", p.info().namespace(), p.info().name());
            drop(p);
        }
    }

    @Override
    public void connected(boolean up) {
        connected = up;
        if (!up) {
            snapshotSeen = false;
        }
    }

    private void drop(PodProxy p) {
        byUid.remove(p.info().uid(), p);
        byIp.remove(p.ip(), p);
        p.close();
        inputs.get().certificates().release(p.identity());
    }

    @Override
    public Optional<ServedPod> byIp(InetAddress ip) {
        return Optional.ofNullable(byIp.get(ip));
    }

    /** Connected to the node agent and its snapshot applied. */
    public boolean ready() {
        return connected && snapshotSeen;
    }

    public List<ServedPod> served() {
        return new ArrayList<>(byUid.values());
    }

    /** Listening ports of a pod, for the admin endpoint. */
    public List<Integer> listening(ServedPod pod) {
        return pod instanceof PodProxy p ? p.listening() : List.of();
    }

    public void closeAll() {
        for (PodProxy p : List.copyOf(byUid.values())) {
            drop(p);
        }
    }
}
