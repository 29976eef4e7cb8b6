package dev.meshlite.e2e.bench;

import dev.meshlite.e2e.cluster.Components;
import dev.meshlite.e2e.cluster.Layout;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The sidecar shape: one ztunnel per pod, in dedicated mode, inside the pod's own network
 * namespace, with the same in-pod capture rules the node agent installs (applied here as an init
 * container would). The node agents are stopped meanwhile, so the label that puts the pods in
 * istiod-lite's model does not also enroll them with the node ztunnels; each pod's annotation is
 * set by hand, as the agent would, so istiod-lite tells every proxy the pods speak HBONE.
 *
 * <p>Each proxy uses its node's credential (the CA grants it only pods on that node) and the JVM
 * flags of the node ztunnel: the same program and tuning, only the shape differs.
 */
final class Dedicated implements Shape {

    private static final Duration READY_BOUND = Duration.ofSeconds(240);

    private final List<String> jvmFlags;
    private final PodProcesses proxies = new PodProcesses();

    Dedicated(List<String> jvmFlags) {
        this.jvmFlags = jvmFlags;
    }

    @Override
    public String name() {
        return "dedicated";
    }

    @Override
    public void enter(BenchPods pods) throws Exception {
        Components components = new Components(Layout.stateDir());
        for (String node : List.of(BenchPods.CLIENT_NODE, BenchPods.SERVER_NODE)) {
            components.find("cni-agent", node).ifPresent(spec -> stopQuietly(components, spec));
        }
        pods.labelAmbient(true);
        List<BenchPods.BenchPod> all = pods.all();
        for (BenchPods.BenchPod pod : all) {
            pods.annotateRedirection(pod.name(), true);
        }
        String classpath = Layout.ztunnelClasspath().orElseThrow(() -> new BenchFailure("ztunnel is not built"));
        for (BenchPods.BenchPod pod : all) {
            List<String> command = dev.meshlite.e2e.cluster.Components.javaCommand("ztunnel-dedicated@" + pod.name(),
                    jvmFlags, classpath, java.util.Optional.empty(), "dev.meshlite.ztunnel.Main", "--mode", "dedicated",
                    "--node", pod.node(), "--control-plane", Layout.BRIDGE_IP + ":" + Layout.ISTIOD_CA_PORT,
                    "--ca-root", Layout.meshRootCert().toString(),
                    "--token-file", Layout.nodeDir(pod.node()).resolve("ztunnel-token").toString(),
                    "--pod-uid", pod.uid(), "--pod-name", pod.name(), "--pod-namespace", BenchPods.NAMESPACE,
                    "--service-account", "default", "--pod-ip", pod.ip());
            Path log = Layout.logDir().resolve("ztunnel-dedicated-" + pod.name() + ".log");
            proxies.start(pod, command, log);
        }
        awaitReady(all);
        // Capture only once each proxy is up: its own control-plane connection predates the rules,
        // and a reconnect later goes through its own outbound path as passthrough.
        capture("apply", all);
        Hbone.awaitMutualTls(pods, pods.serverPod().netns());
    }

    private void awaitReady(List<BenchPods.BenchPod> all) throws Exception {
        Instant deadline = Instant.now().plus(READY_BOUND);
        List<BenchPods.BenchPod> waiting = new ArrayList<>(all);
        while (!waiting.isEmpty()) {
            BenchPods.BenchPod pod = waiting.getFirst();
            Process p = proxies.of(pod.name());
            if (!p.isAlive()) {
                throw new BenchFailure("the dedicated ztunnel of " + pod.name() + " exited (" + p.exitValue() + "); see "
                        + Layout.logDir().resolve("ztunnel-dedicated-" + pod.name() + ".log"));
            }
            if (InNetns.ok(pod.netns(), List.of("curl", "-sf", "--max-time", "1", "-o", "/dev/null",
                    "http://127.0.0.1:15021/healthz/ready"), 3)) {
                waiting.removeFirst();
                continue;
            }
            if (Instant.now().isAfter(deadline)) {
                throw new BenchFailure(waiting.size() + " dedicated ztunnels not ready in " + READY_BOUND.toSeconds()
                        + " s, e.g. " + pod.name());
            }
            Thread.sleep(300);
        }
    }

    @Override
    public Target target(BenchPods pods) {
        return new Target(pods.serviceVip() + ":80", pods.serverPod().ip(), Load.IPERF_PORT);
    }

    @Override
    public List<Long> proxies(String node) {
        return proxies.pids(node);
    }

    @Override
    public void exit(BenchPods pods) throws Exception {
        List<BenchPods.BenchPod> all = pods.all();
        capture("remove", all);
        proxies.stopAll();
        for (BenchPods.BenchPod pod : all) {
            pods.annotateRedirection(pod.name(), false);
        }
        pods.labelAmbient(false);
        Components components = new Components(Layout.stateDir());
        for (String node : List.of(BenchPods.CLIENT_NODE, BenchPods.SERVER_NODE)) {
            var spec = components.find("cni-agent", node);
            if (spec.isPresent() && components.process(spec.get()).isEmpty()) {
                components.start(spec.get());
            }
        }
    }

    private static void stopQuietly(Components components, Components.Spec spec) {
        try {
            components.stop(spec, Duration.ofSeconds(10));
        } catch (java.io.IOException e) {
            throw new BenchFailure("cannot stop " + spec.id() + ": " + e.getMessage());
        }
    }

    /** The node agent's own capture rules, applied or removed in every pod, as an init container would. */
    private static void capture(String verb, List<BenchPods.BenchPod> pods) {
        List<String> argv = new ArrayList<>(List.of(Components.javaBinary(), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", Layout.cniClasspath().orElseThrow(() -> new BenchFailure("cni-plugin is not built")),
                "dev.meshlite.cni.agent.CaptureCli", verb));
        pods.forEach(p -> argv.add(p.netnsPath()));
        dev.meshlite.e2e.cluster.Sh.run(argv.toArray(String[]::new));
    }
}
