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
        try {
            proxy.start(in, hbone.get());
        } catch (Exception e) {
            proxy.close();
            in.certificates().release(identity);
            throw new IllegalStateException("pod " + pod.namespace() + "/" + pod.name() + ": " + e.getMessage(), e);
        }
        byUid.put(pod.uid(), proxy);
        byIp.put(ip, proxy);
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
