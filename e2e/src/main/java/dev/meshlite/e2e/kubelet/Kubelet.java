package dev.meshlite.e2e.kubelet;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.meshlite.e2e.cluster.Layout;
import dev.meshlite.e2e.cluster.Sh;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * kubelet-lite: runs the pods bound to one node. Per pod it makes a network namespace, runs the
 * node's CNI chain, starts each container's command inside the namespace (in a session of its
 * own, so it outlives a kubelet restart), probes readiness from the node's namespace, restarts
 * crashed containers with back-off, and reports status. On delete it kills the processes, runs
 * CNI DEL and removes the namespace.
 *
 * <p>All pod lifecycle work runs on one worker thread, so a pod is never set up and torn down at
 * once; informer callbacks, process exits and probe results only enqueue work. What it did is
 * recorded per pod ({@link PodRecord}) before each step, so a restarted kubelet adopts the running
 * processes instead of starting them twice.
 */
public final class Kubelet implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Kubelet.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String NETNS_ANNOTATION = "mesh.local/netns";

    /** Everything a kubelet needs, built once. */
    public record Config(String node, String nodeIp, String podCidr, Path stateDir, Path sampleBinary,
                         List<Path> cniBinDirs) {
    }

    private final Config config;
    private final KubernetesClient client;
    private final CniRunner cni;
    private final Images images;
    private final Path podsDir;
    private final ScheduledExecutorService worker = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("kubelet-worker").factory());
    private final ScheduledExecutorService probes = Executors.newScheduledThreadPool(2,
            Thread.ofPlatform().name("kubelet-probe-", 0).daemon().factory());
    /** Pod uid → live state; touched only on the worker thread. */
    private final Map<String, PodState> pods = new HashMap<>();
    private final Map<String, Boolean> readiness = new ConcurrentHashMap<>();
    private SharedIndexInformer<Pod> informer;
    private volatile boolean closing;

    /** A running pod: its spec as last seen and its record. */
    private static final class PodState {
        Pod pod;
        final PodRecord record;
        final Map<String, ProcessHandle> processes = new HashMap<>();
        final Map<String, ScheduledFuture<?>> probeTasks = new HashMap<>();
        final Map<String, String> waitingReason = new HashMap<>();
        boolean terminating;

        PodState(Pod pod, PodRecord record) {
            this.pod = pod;
            this.record = record;
        }
    }

    public Kubelet(Config config, KubernetesClient client) throws IOException {
        this.config = config;
        this.client = client;
        this.cni = new CniRunner(config.stateDir().resolve("net.d"), config.cniBinDirs());
        this.images = new Images(config.sampleBinary());
        this.podsDir = config.stateDir().resolve("pods");
        Files.createDirectories(podsDir);
    }

    public void start() throws Exception {
        registerNode();
        worker.submit(this::adoptRecordedPods).get();
        informer = client.pods().inAnyNamespace().inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Pod pod) {
                worker.execute(() -> sync(pod));
            }

            @Override
            public void onUpdate(Pod oldPod, Pod pod) {
                worker.execute(() -> sync(pod));
            }

            @Override
            public void onDelete(Pod pod, boolean unknownFinalState) {
                worker.execute(() -> remove(pod.getMetadata().getUid()));
            }
        }, 60_000L);
        worker.scheduleWithFixedDelay(this::heartbeat, 10, 10, TimeUnit.SECONDS);
        LOG.info("kubelet-lite on {} ({}) running", config.node(), config.nodeIp());
    }

    // ---- node ----

    private void registerNode() {
        Node node = new NodeBuilder()
                .withNewMetadata().withName(config.node())
                .addToLabels("kubernetes.io/hostname", config.node())
                .addToLabels("kubernetes.io/os", "linux")
                .endMetadata()
                .withNewSpec().withPodCIDR(config.podCidr()).withPodCIDRs(config.podCidr()).endSpec()
                .build();
        Node existing = client.nodes().withName(config.node()).get();
        if (existing == null) {
            client.nodes().resource(node).create();
        }
        heartbeat();
    }

    private void heartbeat() {
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        try {
            client.nodes().withName(config.node()).editStatus(n -> {
                n.setStatus(new io.fabric8.kubernetes.api.model.NodeStatusBuilder()
                        .addNewAddress().withType("InternalIP").withAddress(config.nodeIp()).endAddress()
                        .addNewAddress().withType("Hostname").withAddress(config.node()).endAddress()
                        .addNewCondition().withType("Ready").withStatus("True").withReason("KubeletReady")
                        .withMessage("kubelet-lite is posting ready status").withLastHeartbeatTime(now)
                        .withLastTransitionTime(now).endCondition()
                        .addToCapacity("pods", new Quantity("250"))
                        .addToAllocatable("pods", new Quantity("250"))
                        .withNewNodeInfo().withKubeletVersion("v1.32.0-mesh-lite").withOperatingSystem("linux")
                        .withArchitecture("amd64").withContainerRuntimeVersion("netns://kubelet-lite")
                        .endNodeInfo()
                        .build());
                return n;
            });
        } catch (KubernetesClientException e) {
            LOG.warn("node heartbeat failed: {}", e.getMessage());
        }
    }

    // ---- pods ----

    /** On start: adopt what a previous kubelet left running; tear down what is no longer wanted. */
    private void adoptRecordedPods() {
        Map<String, Pod> wanted = new HashMap<>();
        for (Pod p : client.pods().inAnyNamespace().list().getItems()) {
            if (config.node().equals(p.getSpec().getNodeName())) {
                wanted.put(p.getMetadata().getUid(), p);
            }
        }
        try (Stream<Path> files = Files.list(podsDir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".json")).toList()) {
                PodRecord record = JSON.readValue(f.toFile(), PodRecord.class);
                Pod pod = wanted.get(record.uid);
                PodState state = new PodState(pod, record);
                pods.put(record.uid, state);
                if (pod == null) {
                    LOG.info("pod {}/{} is gone; removing what was left of it", record.namespace, record.name);
                    remove(record.uid);
                    continue;
                }
                for (Container c : pod.getSpec().getContainers()) {
                    PodRecord.ContainerRecord cr = record.containers.get(c.getName());
                    Optional<ProcessHandle> live = cr == null ? Optional.empty() : alive(cr);
                    if (live.isPresent()) {
                        watch(state, c.getName(), live.get());
                        LOG.info("adopted {}/{} container {} (pid {})", record.namespace, record.name, c.getName(), cr.pid);
                    } else {
                        startContainer(state, c);
                    }
                }
                startProbes(state);
                reportStatus(state);
            }
        } catch (IOException e) {
            LOG.error("cannot read pod records in {}", podsDir, e);
        }
    }

    private void sync(Pod pod) {
        if (closing) {
            return;
        }
        String uid = pod.getMetadata().getUid();
        PodState state = pods.get(uid);
        boolean mine = config.node().equals(pod.getSpec().getNodeName());
        if (!mine || pod.getMetadata().getDeletionTimestamp() != null) {
            if (state != null) {
                remove(uid);
            }
            return;
        }
        if (state != null) {
            state.pod = pod;
            return;
        }
        create(pod);
    }

    private void create(Pod pod) {
        String uid = pod.getMetadata().getUid();
        PodRecord record = new PodRecord();
        record.uid = uid;
        record.namespace = pod.getMetadata().getNamespace();
        record.name = pod.getMetadata().getName();
        String id = Integer.toHexString(Objects.hash(uid, record.namespace, record.name) & 0x7fffffff);
        record.netns = Layout.NETNS_PREFIX + "pod-" + uid.substring(uid.length() - 8) + "-" + id;
        record.containerId = "kubelet-lite-" + uid;
        record.startTime = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        PodState state = new PodState(pod, record);
        pods.put(uid, state);
        try {
            save(record);
            if (!Sh.tryRun("ip", "netns", "exec", record.netns, "true").ok()) {
                Sh.run("ip", "netns", "add", record.netns);
            }
            dnsFiles(record);
            record.cniResult = cni.add(sandbox(record));
            record.podIp = CniRunner.podIp(record.cniResult)
                    .orElseThrow(() -> new IllegalStateException("the CNI result has no IPv4 address: " + record.cniResult));
            save(record);
            annotate(pod, record);
            for (Container c : pod.getSpec().getContainers()) {
                startContainer(state, c);
            }
            startProbes(state);
            LOG.info("pod {}/{} running at {} in {}", record.namespace, record.name, record.podIp, record.netns);
        } catch (RuntimeException | IOException e) {
            LOG.error("pod {}/{}: sandbox failed: {}", record.namespace, record.name, e.getMessage());
            state.waitingReason.put("*", "CreatePodSandboxError: " + e.getMessage());
            reportStatus(state);
            // Undo now and retry later from a clean slate: nothing is left half made.
            teardown(state);
            pods.remove(uid);
            worker.schedule(() -> {
                Pod latest = client.pods().inNamespace(record.namespace).withName(record.name).get();
                if (latest != null && uid.equals(latest.getMetadata().getUid())) {
                    sync(latest);
                }
            }, 5, TimeUnit.SECONDS);
            return;
        }
        reportStatus(state);
    }

    private void annotate(Pod pod, PodRecord record) {
        try {
            client.pods().inNamespace(record.namespace).withName(record.name)
                    .edit(p -> {
                        if (p.getMetadata().getAnnotations() == null) {
                            p.getMetadata().setAnnotations(new HashMap<>());
                        }
                        p.getMetadata().getAnnotations().put(NETNS_ANNOTATION, record.netns);
                        return p;
                    });
        } catch (KubernetesClientException e) {
            LOG.warn("cannot annotate {}/{}: {}", record.namespace, record.name, e.getMessage());
        }
    }

    /** Name resolution inside the pod: {@code ip netns exec} binds these over /etc/hosts and /etc/resolv.conf. */
    private void dnsFiles(PodRecord record) throws IOException {
        Path etc = Path.of("/etc/netns", record.netns);
        Files.createDirectories(etc);
        Path hosts = Layout.dnsDir().resolve(record.namespace + ".hosts");
        if (!Files.exists(hosts)) {
            Files.createDirectories(hosts.getParent());
            Files.writeString(hosts, "127.0.0.1 localhost\n");
        }
        Path link = etc.resolve("hosts");
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, hosts);
        Files.writeString(etc.resolve("resolv.conf"), "search " + record.namespace + ".svc." + Layout.CLUSTER_DOMAIN
                + " svc." + Layout.CLUSTER_DOMAIN + " " + Layout.CLUSTER_DOMAIN
                + "\nnameserver 127.0.0.53\noptions ndots:5 timeout:1 attempts:1\n");
    }

    private void startContainer(PodState state, Container c) {
        PodRecord r = state.record;
        Optional<List<String>> cmd = images.argv(c);
        if (cmd.isEmpty()) {
            state.waitingReason.put(c.getName(), "ErrImageNeverPull: image " + c.getImage()
                    + " is not known to kubelet-lite; give the container a command");
            return;
        }
        List<String> argv = new ArrayList<>(List.of("setsid", "ip", "netns", "exec", r.netns, "env", "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOSTNAME=" + r.name, "HOME=/root",
                "POD_NAME=" + r.name, "POD_NAMESPACE=" + r.namespace, "POD_IP=" + r.podIp,
                "NODE_NAME=" + config.node()));
        if (c.getEnv() != null) {
            for (EnvVar e : c.getEnv()) {
                if (e.getValue() != null) {
                    argv.add(e.getName() + "=" + e.getValue());
                }
            }
        }
        argv.addAll(cmd.get());
        Path log = logFile(r, c.getName());
        try {
            Files.createDirectories(log.getParent());
            Process p = new ProcessBuilder(argv)
                    .redirectInput(Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(Redirect.appendTo(log.toFile())).redirectErrorStream(true).start();
            PodRecord.ContainerRecord cr = r.containers.computeIfAbsent(c.getName(), n -> new PodRecord.ContainerRecord());
            cr.pid = p.pid();
            cr.processStartMillis = p.toHandle().info().startInstant().map(Instant::toEpochMilli).orElse(0L);
            cr.startedAt = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
            save(r);
            state.waitingReason.remove(c.getName());
            watch(state, c.getName(), p.toHandle());
        } catch (IOException e) {
            state.waitingReason.put(c.getName(), "RunContainerError: " + e.getMessage());
        }
    }

    private void watch(PodState state, String container, ProcessHandle process) {
        state.processes.put(container, process);
        process.onExit().thenRun(() -> worker.execute(() -> exited(state, container, process)));
    }

    private void exited(PodState state, String container, ProcessHandle process) {
        if (closing || state.terminating || pods.get(state.record.uid) != state
                || state.processes.get(container) != process) {
            return;
        }
        PodRecord.ContainerRecord cr = state.record.containers.get(container);
        cr.lastFinishedAt = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        readiness.remove(state.record.uid + "/" + container);
        String policy = Optional.ofNullable(state.pod.getSpec().getRestartPolicy()).orElse("Always");
        state.processes.remove(container);
        if (policy.equals("Never")) {
            reportStatus(state);
            return;
        }
        cr.restartCount++;
        long backoffMs = Math.min(20_000L, 500L << Math.min(cr.restartCount, 6));
        LOG.info("{}/{} container {} exited; restart #{} in {} ms", state.record.namespace, state.record.name,
                container, cr.restartCount, backoffMs);
        state.waitingReason.put(container, "CrashLoopBackOff: back-off " + backoffMs + "ms restarting failed container");
        saveQuietly(state.record);
        reportStatus(state);
        worker.schedule(() -> {
            if (!closing && !state.terminating && pods.get(state.record.uid) == state) {
                state.pod.getSpec().getContainers().stream().filter(c -> c.getName().equals(container))
                        .findFirst().ifPresent(c -> startContainer(state, c));
                reportStatus(state);
            }
        }, backoffMs, TimeUnit.MILLISECONDS);
    }

    private void remove(String uid) {
        PodState state = pods.remove(uid);
        if (state == null) {
            return;
        }
        state.terminating = true;
        teardown(state);
        LOG.info("pod {}/{} removed", state.record.namespace, state.record.name);
    }

    /** Kills the pod's processes, runs CNI DEL, deletes the namespace and the record; tolerates missing pieces. */
    private void teardown(PodState state) {
        PodRecord r = state.record;
        state.probeTasks.values().forEach(f -> f.cancel(false));
        for (PodRecord.ContainerRecord cr : r.containers.values()) {
            alive(cr).ifPresent(h -> Sh.tryRun("kill", "-TERM", "--", "-" + h.pid()));
        }
        for (PodRecord.ContainerRecord cr : r.containers.values()) {
            alive(cr).ifPresent(h -> {
                try {
                    h.onExit().get(3, TimeUnit.SECONDS);
                } catch (Exception e) {
                    Sh.tryRun("kill", "-KILL", "--", "-" + h.pid());
                }
            });
        }
        if (r.netns != null) {
            for (String pid : Sh.tryRun("ip", "netns", "pids", r.netns).stdout().split("\\s+")) {
                if (!pid.isBlank()) {
                    ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            if (Sh.tryRun("ip", "netns", "exec", r.netns, "true").ok()) {
                try {
                    cni.del(sandbox(r), r.cniResult);
                } catch (RuntimeException | IOException e) {
                    LOG.warn("CNI DEL for {}/{}: {}", r.namespace, r.name, e.getMessage());
                }
                Sh.tryRun("ip", "netns", "del", r.netns);
            }
            try {
                Path etc = Path.of("/etc/netns", r.netns);
                if (Files.isDirectory(etc)) {
                    try (Stream<Path> files = Files.list(etc)) {
                        for (Path f : files.toList()) {
                            Files.deleteIfExists(f);
                        }
                    }
                    Files.deleteIfExists(etc);
                }
                Files.deleteIfExists(podsDir.resolve(r.uid + ".json"));
            } catch (IOException e) {
                LOG.warn("cleaning up {}: {}", r.netns, e.getMessage());
            }
        }
        readiness.keySet().removeIf(k -> k.startsWith(r.uid + "/"));
    }

    // ---- probes and status ----

    private void startProbes(PodState state) {
        for (Container c : state.pod.getSpec().getContainers()) {
            Probe probe = c.getReadinessProbe();
            if (probe == null) {
                continue;
            }
            long period = Optional.ofNullable(probe.getPeriodSeconds()).orElse(10) * 1000L;
            long delay = Optional.ofNullable(probe.getInitialDelaySeconds()).orElse(0) * 1000L;
            String key = state.record.uid + "/" + c.getName();
            int threshold = Optional.ofNullable(probe.getFailureThreshold()).orElse(3);
            int[] failures = {0};
            state.probeTasks.put(c.getName(), probes.scheduleWithFixedDelay(() -> {
                boolean ok = Probes.check(probe, c, state.record.podIp, state.record.netns);
                failures[0] = ok ? 0 : failures[0] + 1;
                boolean ready = ok || (readiness.getOrDefault(key, false) && failures[0] < threshold);
                Boolean before = readiness.put(key, ready);
                if (before == null || before != ready) {
                    worker.execute(() -> {
                        if (pods.get(state.record.uid) == state) {
                            reportStatus(state);
                        }
                    });
                }
            }, delay, period, TimeUnit.MILLISECONDS));
        }
    }

    private boolean containerReady(PodState state, Container c) {
        if (!state.processes.containsKey(c.getName())) {
            return false;
        }
        return c.getReadinessProbe() == null || readiness.getOrDefault(state.record.uid + "/" + c.getName(), false);
    }

    private void reportStatus(PodState state) {
        Pod pod = state.pod;
        if (pod == null) {
            return;
        }
        PodRecord r = state.record;
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        List<ContainerStatus> statuses = new ArrayList<>();
        boolean allReady = true;
        boolean allRunning = true;
        for (Container c : pod.getSpec().getContainers()) {
            PodRecord.ContainerRecord cr = r.containers.get(c.getName());
            boolean running = state.processes.containsKey(c.getName());
            boolean ready = containerReady(state, c);
            allReady &= ready;
            allRunning &= running;
            ContainerStatusBuilder b = new ContainerStatusBuilder().withName(c.getName()).withImage(c.getImage())
                    .withImageID("kubelet-lite://" + c.getImage()).withReady(ready).withStarted(running)
                    .withRestartCount(cr == null ? 0 : cr.restartCount)
                    .withContainerID(cr == null ? null : "kubelet-lite://" + cr.pid);
            if (running) {
                b.withNewState().withNewRunning().withStartedAt(cr.startedAt).endRunning().endState();
            } else {
                String reason = Optional.ofNullable(state.waitingReason.get(c.getName()))
                        .or(() -> Optional.ofNullable(state.waitingReason.get("*"))).orElse("ContainerCreating");
                int colon = reason.indexOf(':');
                b.withNewState().withNewWaiting().withReason(colon < 0 ? reason : reason.substring(0, colon))
                        .withMessage(colon < 0 ? null : reason.substring(colon + 1).strip()).endWaiting().endState();
            }
            if (cr != null && cr.lastFinishedAt != null) {
                b.withNewLastState().withNewTerminated().withFinishedAt(cr.lastFinishedAt).withExitCode(0)
                        .withReason("Error").endTerminated().endLastState();
            }
            statuses.add(b.build());
        }
        String phase = allRunning ? "Running" : "Pending";
        if ("Never".equals(pod.getSpec().getRestartPolicy()) && !allRunning
                && r.containers.values().stream().allMatch(c -> c.lastFinishedAt != null)) {
            phase = "Succeeded";
        }
        List<PodCondition> conditions = List.of(
                condition("PodScheduled", true, now),
                condition("Initialized", true, now),
                condition("ContainersReady", allReady, now),
                condition("Ready", allReady, now));
        PodStatus status = new PodStatus();
        status.setPhase(phase);
        status.setHostIP(config.nodeIp());
        status.setPodIP(r.podIp);
        if (r.podIp != null) {
            status.setPodIPs(List.of(new PodIP(r.podIp)));
        }
        status.setStartTime(r.startTime);
        status.setConditions(conditions);
        status.setContainerStatuses(statuses);
        try {
            client.pods().inNamespace(r.namespace).withName(r.name).editStatus(p -> {
                if (!r.uid.equals(p.getMetadata().getUid())) {
                    return p;
                }
                keepTransitionTimes(p.getStatus(), status);
                p.setStatus(status);
                return p;
            });
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) {
                LOG.warn("status of {}/{}: {}", r.namespace, r.name, e.getMessage());
                worker.schedule(() -> {
                    if (pods.get(r.uid) == state) {
                        reportStatus(state);
                    }
                }, 1, TimeUnit.SECONDS);
            }
        }
    }

    private static void keepTransitionTimes(PodStatus before, PodStatus after) {
        if (before == null || before.getConditions() == null) {
            return;
        }
        for (PodCondition c : after.getConditions()) {
            before.getConditions().stream()
                    .filter(o -> o.getType().equals(c.getType()) && Objects.equals(o.getStatus(), c.getStatus()))
                    .findFirst().ifPresent(o -> c.setLastTransitionTime(o.getLastTransitionTime()));
        }
    }

    private static PodCondition condition(String type, boolean status, String now) {
        return new PodConditionBuilder().withType(type).withStatus(status ? "True" : "False")
                .withLastTransitionTime(now).build();
    }

    // ---- records ----

    private Optional<ProcessHandle> alive(PodRecord.ContainerRecord cr) {
        return ProcessHandle.of(cr.pid).filter(ProcessHandle::isAlive)
                .filter(h -> cr.processStartMillis == 0 || h.info().startInstant()
                        .map(Instant::toEpochMilli).map(t -> Math.abs(t - cr.processStartMillis) < 2_000).orElse(false));
    }

    private CniRunner.Sandbox sandbox(PodRecord r) {
        return new CniRunner.Sandbox(r.containerId, "/run/netns/" + r.netns, r.namespace, r.name, r.uid);
    }

    private Path logFile(PodRecord r, String container) {
        return config.stateDir().resolve("logs").resolve(r.namespace + "_" + r.name + "_" + r.uid).resolve(container + ".log");
    }

    private void save(PodRecord r) throws IOException {
        Path f = podsDir.resolve(r.uid + ".json");
        Path tmp = podsDir.resolve(r.uid + ".json.tmp");
        JSON.writeValue(tmp.toFile(), r);
        Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private void saveQuietly(PodRecord r) {
        try {
            save(r);
        } catch (IOException e) {
            LOG.warn("cannot save the record of {}/{}: {}", r.namespace, r.name, e.getMessage());
        }
    }

    /** Stops watching; running pods are left alone so that a new kubelet adopts them. */
    @Override
    public void close() {
        closing = true;
        if (informer != null) {
            informer.close();
        }
        worker.shutdown();
        probes.shutdownNow();
        try {
            worker.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The readiness probe kinds kubelet-lite runs, from the node's network namespace. */
    static final class Probes {
        private Probes() {
        }

        static boolean check(Probe probe, Container c, String podIp, String netns) {
            int timeoutMs = Optional.ofNullable(probe.getTimeoutSeconds()).orElse(1) * 1000;
            try {
                if (probe.getTcpSocket() != null) {
                    int port = port(probe.getTcpSocket().getPort(), c);
                    try (Socket s = new Socket()) {
                        s.connect(new InetSocketAddress(podIp, port), timeoutMs);
                        return true;
                    }
                }
                if (probe.getHttpGet() != null) {
                    int port = port(probe.getHttpGet().getPort(), c);
                    String path = Optional.ofNullable(probe.getHttpGet().getPath()).orElse("/");
                    HttpURLConnection conn = (HttpURLConnection) URI.create("http://" + podIp + ":" + port + path)
                            .toURL().openConnection(java.net.Proxy.NO_PROXY);
                    conn.setConnectTimeout(timeoutMs);
                    conn.setReadTimeout(timeoutMs);
                    try {
                        int code = conn.getResponseCode();
                        return code >= 200 && code < 400;
                    } finally {
                        conn.disconnect();
                    }
                }
                if (probe.getExec() != null && probe.getExec().getCommand() != null) {
                    List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", netns));
                    argv.addAll(probe.getExec().getCommand());
                    return Sh.exec(argv, null, Map.of()).ok();
                }
            } catch (IOException | RuntimeException e) {
                return false;
            }
            return true;
        }

        private static int port(io.fabric8.kubernetes.api.model.IntOrString port, Container c) {
            if (port.getIntVal() != null) {
                return port.getIntVal();
            }
            return c.getPorts().stream().filter(p -> port.getStrVal().equals(p.getName())).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no container port named " + port.getStrVal()))
                    .getContainerPort();
        }
    }
}
