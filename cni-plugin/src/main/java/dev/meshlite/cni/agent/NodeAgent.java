package dev.meshlite.cni.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.meshlite.cni.handoff.HandoffServer;
import dev.meshlite.cni.handoff.PodInfo;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-node CNI agent. It enrolls pods without restarting them: when a namespace gains
 * {@code istio.io/dataplane-mode=ambient} every running pod there on this node gets the capture
 * rules, the node's probe bypass and the annotation {@code ambient.istio.io/redirection=enabled};
 * when the label goes, all of it is reversed. New pods are enrolled inside their CNI ADD (the
 * plugin asks over {@link #socket}) so none starts uncaptured.
 *
 * <p>Level-triggered like a controller: every change to a watched pod or namespace schedules one
 * pass over this node's pods, comparing what should be with what the pod's namespace actually
 * holds, so an agent restart reconciles whatever a crash left half done. All enrollment
 * decisions, hand-offs and bookkeeping run on one thread, the worker; within a pass it farms the
 * per-pod rule work and annotations out to a small pool and waits for them before it goes on.
 *
 * <p>Every enrolled pod is also handed to ztunnel over the {@link HandoffServer} (its network
 * namespace as a descriptor), after its capture rules are in place. ztunnel being away does not
 * stop enrollment: the handoff remembers the pod and sends it in the snapshot ztunnel gets when it
 * connects.
 */
public final class NodeAgent implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(NodeAgent.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String REDIRECTION = "ambient.istio.io/redirection";
    /** Where kubelet-lite records a pod's network namespace (a real node would scan /proc). */
    static final String NETNS_ANNOTATION = "mesh.local/netns";
    /** Bounds one handoff exchange; a ztunnel slower than this is reconnected and resynced. */
    private static final Duration HANDOFF_TIMEOUT = Duration.ofSeconds(5);

    private final KubernetesClient client;
    private final String node;
    private final Path socket;
    private final Capture capture;
    private final ProbeBypass probes;
    private final HandoffServer handoff;
    private final ProcNetns procNetns = ProcNetns.host();
    /** Whether "ztunnel is not connected" was logged since it last acked; touched on the worker only. */
    private boolean ztunnelAwayLogged;
    private final ScheduledExecutorService worker = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("cni-agent").factory());
    /**
     * The per-pod work of a pass that may overlap between pods: capture rules (one process per
     * pod) and annotations (API calls). Bounded: a node has few cores and the tools are short
     * processes, so four keep them busy without a pass of 100 pods forking 100 at once. Only
     * the worker submits, and it waits for what it submitted before the pass ends.
     */
    private static final int RULE_WORKERS = 4;
    /** Above the 30 s a single command may take; a pod still not done is retried. */
    private static final Duration RULE_WORK_TIMEOUT = Duration.ofSeconds(45);
    private final ExecutorService ruleWork = Executors.newFixedThreadPool(RULE_WORKERS,
            Thread.ofPlatform().name("cni-rules-", 0).daemon(true).factory());
    private final AtomicBoolean pending = new AtomicBoolean();
    /** Pod uid → IP this agent captured; touched on the worker only. */
    private final Map<String, String> captured = new HashMap<>();
    private SharedIndexInformer<Pod> pods;
    private SharedIndexInformer<Namespace> namespaces;
    private ServerSocketChannel server;

    NodeAgent(KubernetesClient client, String node, Path socket, Capture capture, ProbeBypass probes,
            HandoffServer handoff) {
        this.client = client;
        this.node = node;
        this.socket = socket;
        this.capture = capture;
        this.probes = probes;
        this.handoff = handoff;
    }

    void start() throws IOException {
        probes.init();
        ResourceEventHandler<Object> any = new ResourceEventHandler<>() {
            @Override
            public void onAdd(Object o) {
                request();
            }

            @Override
            public void onUpdate(Object a, Object b) {
                request();
            }

            @Override
            public void onDelete(Object o, boolean unknown) {
                request();
            }
        };
        @SuppressWarnings({"unchecked", "rawtypes"})
        ResourceEventHandler<Pod> podHandler = (ResourceEventHandler) any;
        @SuppressWarnings({"unchecked", "rawtypes"})
        ResourceEventHandler<Namespace> nsHandler = (ResourceEventHandler) any;
        namespaces = client.namespaces().inform(nsHandler, 60_000L);
        pods = client.pods().inAnyNamespace().inform(podHandler, 60_000L);
        Files.createDirectories(socket.getParent());
        Files.deleteIfExists(socket);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        Thread.ofVirtual().name("cni-agent-socket").start(this::serve);
        worker.execute(this::openHandoff);
        LOG.info("cni agent on {} listening on {}", node, socket);
    }

    /**
     * ztunnel takes its first snapshot as the whole truth and drops every pod not in it, so the
     * handoff socket opens only after one full pass over this node's pods has re-enrolled what an
     * earlier agent had (after an agent restart the handoff's memory starts empty).
     */
    private void openHandoff() {
        if (!pods.hasSynced() || !namespaces.hasSynced()) {
            worker.schedule(this::openHandoff, 100, TimeUnit.MILLISECONDS);
            return;
        }
        reconcile();
        try {
            handoff.start();
        } catch (IOException | RuntimeException e) {
            LOG.error("cannot open the ztunnel handoff socket (will retry): {}", e.toString());
            worker.schedule(this::openHandoff, 2, TimeUnit.SECONDS);
        }
    }

    private void request() {
        if (pending.compareAndSet(false, true)) {
            worker.schedule(this::reconcile, 50, TimeUnit.MILLISECONDS);
        }
    }

    /** One pass: every pod of this node captured exactly when the policy says so. */
    private void reconcile() {
        pending.set(false);
        if (pods == null || namespaces == null) {
            return;
        }
        try {
            reconcilePods();
        } catch (RuntimeException e) {
            LOG.error("reconcile failed (will retry)", e);
            retryLater();
        }
    }

    /** A pod of this node with a sandbox, and what it needs in this pass. */
    private record Target(Pod pod, String netns, String ip) {
        String uid() {
            return pod.getMetadata().getUid();
        }

        String id() {
            return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
        }
    }

    private void reconcilePods() {
        Map<String, Map<String, String>> nsLabels = new HashMap<>();
        for (Namespace ns : namespaces.getStore().list()) {
            nsLabels.put(ns.getMetadata().getName(), ns.getMetadata().getLabels());
        }
        List<Target> joining = new ArrayList<>();
        List<Target> leaving = new ArrayList<>();
        Set<String> wantedIps = new HashSet<>();
        Map<String, Path> scanned = null; // a real node's /proc, read once per pass and only if needed
        for (Pod pod : pods.getStore().list()) {
            if (!node.equals(pod.getSpec().getNodeName())) {
                continue;
            }
            Optional<String> netns = netnsPath(pod);
            String ip = pod.getStatus() == null ? null : pod.getStatus().getPodIP();
            if (netns.isEmpty() && ip != null && !Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
                if (scanned == null) {
                    scanned = procNetns.scan();
                }
                netns = Optional.ofNullable(scanned.get(ip)).map(Path::toString);
            }
            if (netns.isEmpty() || ip == null) {
                continue; // no sandbox yet: its ADD will come through the plugin
            }
            boolean want = EnrollmentPolicy.decide(nsLabels.get(pod.getMetadata().getNamespace()),
                    pod.getMetadata().getLabels(), Boolean.TRUE.equals(pod.getSpec().getHostNetwork())).capture();
            boolean annotated = "enabled".equals(annotations(pod).get(REDIRECTION));
            if (want) {
                wantedIps.add(ip);
            }
            if (want && (!captured.containsKey(pod.getMetadata().getUid()) || !annotated)) {
                joining.add(new Target(pod, netns.get(), ip));
            } else if (!want && (captured.containsKey(pod.getMetadata().getUid()) || annotated)) {
                leaving.add(new Target(pod, netns.get(), ip));
            }
        }
        long started = System.nanoTime();
        unenroll(leaving);
        // A captured pod that is gone leaves nothing behind on the node: its netns went with it,
        // and its probe SNAT goes with the sync below (the IP may come back for another pod).
        var live = pods.getStore().list().stream().map(p -> p.getMetadata().getUid()).collect(java.util.stream.Collectors.toSet());
        captured.entrySet().removeIf(e -> {
            if (live.contains(e.getKey())) {
                return false;
            }
            removeFromZtunnel(e.getKey());
            return true;
        });
        // The probe bypass of every pod captured or to be captured here, before any of them is:
        // what this agent captured, and the pods it wants (a pod an earlier agent enrolled keeps
        // its bypass while it is re-enrolled). A bypass ahead of the rules is harmless; rules
        // without it fail probes.
        Set<String> bypass = new HashSet<>(captured.values());
        bypass.addAll(wantedIps);
        try {
            probes.sync(bypass);
        } catch (RuntimeException e) {
            LOG.warn("probe bypass: {} (will retry)", e.getMessage());
            retryLater();
            return; // nothing enrolled without its bypass: the next pass enrolls these pods
        }
        enroll(joining);
        if (!joining.isEmpty() || !leaving.isEmpty()) {
            LOG.info("pass: {} pod(s) to enroll, {} to remove, done in {} ms", joining.size(), leaving.size(),
                    (System.nanoTime() - started) / 1_000_000);
        }
    }

    private void retryLater() {
        worker.schedule(this::request, 2, TimeUnit.SECONDS);
    }

    /**
     * Order matters for traffic already flowing: the probe bypass (for the whole pass, before
     * this), then ztunnel's listeners (the hand-off), then the rules that send traffic to them,
     * then the annotation that tells istiod-lite the pod now speaks HBONE. Per pod that order
     * holds; across pods, each pod's rules and then its annotation run on {@link #ruleWork} while
     * the worker hands the next pod over (hand-offs are one at a time on the socket anyway), so
     * the first pods are announced while later ones are still being handed over.
     */
    private void enroll(List<Target> joining) {
        record Started(Target t, boolean taken, Future<?> work) {
        }
        List<Started> started = new ArrayList<>();
        for (Target t : joining) {
            try {
                boolean taken = handOver(podInfo(t.pod(), ips(t.pod())), t.netns());
                started.add(new Started(t, taken, ruleWork.submit(() -> {
                    capture.apply(t.netns());
                    if (taken) {
                        annotate(t.pod(), "enabled");
                        LOG.info("enrolled {} ({})", t.id(), t.ip());
                    }
                })));
            } catch (RuntimeException e) {
                failed(t, e);
            }
        }
        for (Started s : started) {
            if (!await(s.t(), s.work())) {
                continue; // rules or annotation failed: retried, and a retry applies both again
            }
            captured.put(s.t().uid(), s.t().ip());
            if (!s.taken()) {
                // Captured (fail closed) but not announced: the annotation tells istiod-lite that the
                // pod speaks HBONE, which is only true once ztunnel has it. Retried until it does.
                retryLater();
            }
        }
    }

    /**
     * Leaving reverses enrolling: clients are told to stop using HBONE (the annotation) before the
     * rules go, and the rules before ztunnel lets go of the pod. The first two run per pod on
     * {@link #ruleWork}; ztunnel and the bookkeeping stay on the worker.
     */
    private void unenroll(List<Target> leaving) {
        List<Future<?>> done = new ArrayList<>();
        for (Target t : leaving) {
            done.add(ruleWork.submit(() -> {
                annotate(t.pod(), null);
                capture.remove(t.netns());
            }));
        }
        for (int i = 0; i < leaving.size(); i++) {
            Target t = leaving.get(i);
            if (await(t, done.get(i))) {
                removeFromZtunnel(t.uid());
                captured.remove(t.uid());
                LOG.info("removed {} from the mesh", t.id());
            }
        }
    }

    /** Waits for one pod's work on the pool; false (logged, retried later) when it failed. */
    private boolean await(Target t, Future<?> work) {
        try {
            work.get(RULE_WORK_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (ExecutionException e) {
            failed(t, e.getCause());
        } catch (TimeoutException e) {
            work.cancel(true);
            failed(t, new IllegalStateException("no result within " + RULE_WORK_TIMEOUT));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failed(t, e);
        }
        return false;
    }

    private void failed(Target t, Throwable e) {
        LOG.warn("pod {}: {} (will retry)", t.id(), e.getMessage());
        retryLater();
    }

    /**
     * Hands a pod whose rules are in place to ztunnel. A refusal or timeout fails the enrollment
     * (it is retried); ztunnel being away does not (the pod goes out in its snapshot).
     */
    /** True when ztunnel took the pod; false when it is not connected (it gets it in its snapshot). */
    private boolean handOver(PodInfo info, String netns) {
        boolean acked;
        try {
            acked = handoff.add(info, Path.of(netns), HANDOFF_TIMEOUT);
        } catch (IOException e) {
            throw new IllegalStateException("handoff to ztunnel: " + e.getMessage(), e);
        }
        if (acked) {
            ztunnelAwayLogged = false;
        } else if (!ztunnelAwayLogged) {
            ztunnelAwayLogged = true;
            LOG.warn("ztunnel is not connected to the handoff socket; enrolled pods are handed over when it connects");
        }
        return acked;
    }

    private void removeFromZtunnel(String uid) {
        try {
            handoff.remove(uid, HANDOFF_TIMEOUT);
        } catch (IOException e) {
            // The pod is already forgotten, so ztunnel's next snapshot (a timeout reconnects it) drops it.
            LOG.warn("telling ztunnel pod {} is gone: {}", uid, e.getMessage());
        }
    }

    static PodInfo podInfo(Pod pod, List<String> ips) {
        String sa = pod.getSpec().getServiceAccountName();
        return new PodInfo(pod.getMetadata().getUid(), pod.getMetadata().getName(), pod.getMetadata().getNamespace(),
                sa == null || sa.isEmpty() ? "default" : sa, ips);
    }

    private static List<String> ips(Pod pod) {
        List<String> ips = new ArrayList<>();
        if (pod.getStatus() != null && pod.getStatus().getPodIPs() != null) {
            pod.getStatus().getPodIPs().forEach(a -> {
                if (a.getIp() != null && !a.getIp().isEmpty()) {
                    ips.add(a.getIp());
                }
            });
        }
        if (ips.isEmpty() && pod.getStatus() != null && pod.getStatus().getPodIP() != null) {
            ips.add(pod.getStatus().getPodIP());
        }
        return ips;
    }

    private void annotate(Pod pod, String value) {
        try {
            client.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName()).edit(p -> {
                Map<String, String> a = p.getMetadata().getAnnotations() == null ? new HashMap<>()
                        : new HashMap<>(p.getMetadata().getAnnotations());
                if (value == null) {
                    a.remove(REDIRECTION);
                } else {
                    a.put(REDIRECTION, value);
                }
                p.getMetadata().setAnnotations(a);
                return p;
            });
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) {
                throw e;
            }
        }
    }

    private static Map<String, String> annotations(Pod pod) {
        return pod.getMetadata().getAnnotations() == null ? Map.of() : pod.getMetadata().getAnnotations();
    }

    /**
     * Where the local cluster's kubelet-lite recorded the pod's namespace. On a real node there is
     * no such record and the pass scans /proc instead ({@link ProcNetns}).
     */
    static Optional<String> netnsPath(Pod pod) {
        String name = annotations(pod).get(NETNS_ANNOTATION);
        return name == null || name.isEmpty() ? Optional.empty() : Optional.of("/run/netns/" + name);
    }

    // ---- the plugin's socket ----

    private void serve() {
        while (server.isOpen()) {
            try {
                SocketChannel ch = server.accept();
                Thread.ofVirtual().start(() -> answer(ch));
            } catch (IOException e) {
                if (server.isOpen()) {
                    LOG.warn("accept on {}: {}", socket, e.getMessage());
                }
            }
        }
    }

    private void answer(SocketChannel ch) {
        try (ch) {
            StringBuilder in = new StringBuilder();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (in.indexOf("\n") < 0 && in.length() < 65536 && ch.read(buf) >= 0) {
                in.append(new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8));
                buf.clear();
            }
            ObjectNode reply;
            try {
                reply = handle(JSON.readTree(in.toString()));
            } catch (java.util.concurrent.ExecutionException e) {
                reply = JSON.createObjectNode().put("error", String.valueOf(e.getCause().getMessage())).put("retryable", true);
            } catch (Exception e) {
                reply = JSON.createObjectNode().put("error", String.valueOf(e.getMessage())).put("retryable", true);
            }
            ch.write(ByteBuffer.wrap((reply + "\n").getBytes(StandardCharsets.UTF_8)));
        } catch (IOException e) {
            LOG.debug("plugin connection: {}", e.getMessage());
        }
    }

    /** A plugin request, answered once the work is done (on the worker, in order with reconciles). */
    ObjectNode handle(JsonNode request) throws Exception {
        String command = request.path("command").asText();
        String ns = request.path("namespace").asText();
        String name = request.path("name").asText();
        if (command.equals("DEL")) {
            return JSON.createObjectNode().put("result", "ok");
        }
        Pod pod = lookUpPod(ns, name, request.path("uid").asText(""));
        Namespace namespace = lookUpNamespace(ns);
        if (pod == null || namespace == null) {
            return JSON.createObjectNode().put("error", "pod " + ns + "/" + name + " not found").put("retryable", true);
        }
        EnrollmentPolicy.Decision d = EnrollmentPolicy.decide(namespace.getMetadata().getLabels(),
                pod.getMetadata().getLabels(), Boolean.TRUE.equals(pod.getSpec().getHostNetwork()));
        if (!d.capture()) {
            return JSON.createObjectNode().put("result", "skipped").put("reason", d.reason());
        }
        String netns = request.path("netns").asText();
        String ip = request.path("ips").path(0).asText("");
        List<String> ips = new ArrayList<>();
        request.path("ips").forEach(a -> {
            if (!a.asText().isEmpty()) {
                ips.add(a.asText());
            }
        });
        if (command.equals("CHECK")) {
            return capture.isApplied(netns) ? JSON.createObjectNode().put("result", "captured")
                    : JSON.createObjectNode().put("error", "capture rules missing in " + netns).put("retryable", false);
        }
        // A new pod must not start with nobody behind its capture: without ztunnel it would run
        // cut off (fail closed, but broken). The runtime retries the ADD until ztunnel is back.
        if (!handoff.ztunnelConnected()) {
            return JSON.createObjectNode().put("error", "ztunnel is not connected to the node agent on " + node
                    + "; pod " + ns + "/" + name + " must be captured").put("retryable", true);
        }
        return worker.submit(() -> {
            // The probe bypass runs beside the hand-off and the rules: the pod starts only once
            // this ADD is answered, so their order does not matter, and a bypass left by a failure
            // goes with the next pass. The worker waits for it before it goes on, so the bypass
            // is still only ever touched by one thread at a time.
            Future<?> bypass = ip.isEmpty() ? CompletableFuture.completedFuture(null) : ruleWork.submit(() -> probes.add(ip));
            try {
                if (!handoff.add(podInfo(pod, ips), Path.of(netns), HANDOFF_TIMEOUT)) {
                    throw new IllegalStateException("ztunnel went away before it took pod " + ns + "/" + name);
                }
                capture.apply(netns);
            } finally {
                bypass.get(RULE_WORK_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
            captured.put(pod.getMetadata().getUid(), ip);
            return JSON.createObjectNode().put("result", "captured").put("reason", d.reason());
        }).get(30, TimeUnit.SECONDS);
    }

    /**
     * The pod an ADD names: from the informer's cache when it holds that very pod (same uid),
     * else from the API server (a pod created a moment ago may not have reached the cache yet).
     */
    private Pod lookUpPod(String ns, String name, String uid) {
        Pod cached = pods == null ? null : pods.getStore().getByKey(ns + "/" + name);
        if (cached != null && !uid.isEmpty() && uid.equals(cached.getMetadata().getUid())) {
            return cached;
        }
        return client.pods().inNamespace(ns).withName(name).get();
    }

    /**
     * The pod's namespace: from the cache, else from the API server. A label change the cache has
     * not seen yet is at most a watch event behind, and that event starts a pass which enrolls or
     * releases the pod as the label now says.
     */
    private Namespace lookUpNamespace(String ns) {
        Namespace cached = namespaces == null ? null : namespaces.getStore().getByKey(ns);
        return cached != null ? cached : client.namespaces().withName(ns).get();
    }

    @Override
    public void close() throws IOException {
        if (server != null) {
            server.close();
        }
        Files.deleteIfExists(socket);
        handoff.close();
        if (pods != null) {
            pods.close();
        }
        if (namespaces != null) {
            namespaces.close();
        }
        worker.shutdownNow();
        ruleWork.shutdownNow();
    }
}
