package dev.meshlite.e2e;

import dev.meshlite.e2e.cluster.ClusterDown;
import dev.meshlite.e2e.cluster.ClusterUp;
import dev.meshlite.e2e.cluster.Components;
import dev.meshlite.e2e.cluster.Layout;
import dev.meshlite.e2e.cluster.Preflight;
import dev.meshlite.e2e.cluster.Readiness;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The operator's commands for the local cluster: up, down, status, exec, component. */
public final class ClusterCommands {

    private ClusterCommands() {
    }

    public static int preflight() {
        List<String> problems = Preflight.problems();
        problems.forEach(p -> System.err.println("mesh: " + p));
        return problems.isEmpty() ? 0 : 2;
    }

    public static boolean clusterRunning() throws Exception {
        Components components = new Components(Layout.stateDir());
        Optional<Components.Spec> api = components.find("apiserver", "");
        return api.isPresent() && components.process(api.get()).isPresent();
    }

    @Command(name = "up", mixinStandardHelpOptions = true,
            description = "Bring up the local cluster: API server, controllers, N nodes with kubelet-lite and kube-proxy-lite.")
    static final class Up implements Callable<Integer> {
        @Option(names = "--nodes", defaultValue = "2", description = "How many nodes (default ${DEFAULT-VALUE}).")
        int nodes;
        @Option(names = "--timeout", defaultValue = "60", description = "Seconds to wait for the nodes to be ready.")
        int timeoutSeconds;
        @Option(names = {"--mesh", "--with-cni-agent"}, description = "Also run the data plane on every node: the CNI "
                + "node agent (enrolls pods of namespaces labelled istio.io/dataplane-mode=ambient) and ztunnel (carries their traffic in HBONE).")
        boolean cniAgent;
        @Option(names = "--certificate-ttl", description = "With --mesh: the workload-certificate lifetime ztunnel asks for "
                + "(ISO-8601, e.g. PT60S; default: ztunnel's, PT24H). Short values make rotation happen within a test.")
        Duration certificateTtl;

        @Override
        public Integer call() throws Exception {
            int pre = preflight();
            if (pre != 0) {
                return pre;
            }
            if (clusterRunning()) {
                System.err.println("mesh: a local cluster is already up (" + Files.readString(Layout.stateDir().resolve("cluster"))
                        .lines().findFirst().orElse("") + "); run ./mesh down first");
                return 1;
            }
            if (Files.exists(Layout.stateDir()) || !ClusterDownProbe.leftovers().isEmpty()) {
                System.out.println("cleaning up what an earlier cluster left behind");
                new ClusterDown(System.out).down();
            }
            try {
                new ClusterUp(System.out).withCertificateTtl(certificateTtl).up(nodes, Duration.ofSeconds(timeoutSeconds), cniAgent);
                return 0;
            } catch (IllegalStateException | IllegalArgumentException e) {
                System.err.println("mesh: up failed: " + e.getMessage());
                return 1;
            }
        }
    }

    /** Finds cluster pieces on the host without touching them. */
    static final class ClusterDownProbe {
        static List<String> leftovers() {
            List<String> found = new ArrayList<>();
            for (String line : dev.meshlite.e2e.cluster.Sh.tryRun("ip", "netns", "list").stdout().split("\n")) {
                if (line.startsWith(Layout.NETNS_PREFIX)) {
                    found.add(line.split("\\s+")[0]);
                }
            }
            if (dev.meshlite.e2e.cluster.Sh.tryRun("ip", "link", "show", Layout.BRIDGE).ok()) {
                found.add(Layout.BRIDGE);
            }
            return found;
        }
    }

    @Command(name = "down", mixinStandardHelpOptions = true,
            description = "Remove everything the local cluster made: processes, network namespaces, links, rules, state.")
    static final class Down implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            int pre = preflight();
            if (pre != 0) {
                return pre;
            }
            new ClusterDown(System.out).down();
            return 0;
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "Show the cluster's components, nodes and pods.")
    static final class Status implements Callable<Integer> {
        @Override
        public Integer call() throws Exception {
            Components components = new Components(Layout.stateDir());
            List<Components.Spec> specs = components.all();
            if (specs.isEmpty()) {
                System.out.println("no local cluster (./mesh up starts one)");
                return 3;
            }
            System.out.printf("%-28s %-9s %s%n", "COMPONENT", "PID", "STATE");
            boolean allUp = true;
            for (Components.Spec s : specs) {
                Optional<ProcessHandle> p = components.process(s);
                allUp &= p.isPresent();
                System.out.printf("%-28s %-9s %s%n", s.id(), p.map(h -> Long.toString(h.pid())).orElse("-"),
                        p.isPresent() ? "running" : "stopped (log: " + s.log() + ")");
            }
            if (components.process(components.find("apiserver", "").orElseThrow()).isPresent()) {
                try (KubernetesClient client = MeshCli.client(Layout.kubeconfig())) {
                    List<Pod> pods = client.pods().inAnyNamespace().list().getItems();
                    Map<String, Long> perNode = pods.stream().collect(Collectors.groupingBy(
                            p -> Optional.ofNullable(p.getSpec().getNodeName()).orElse("<unscheduled>"), Collectors.counting()));
                    System.out.printf("%n%-10s %-8s %-16s %-16s %s%n", "NODE", "READY", "INTERNAL-IP", "POD-CIDR", "PODS");
                    for (Node n : client.nodes().list().getItems()) {
                        String ip = n.getStatus() == null || n.getStatus().getAddresses() == null ? "" : n.getStatus().getAddresses().stream()
                                .filter(a -> "InternalIP".equals(a.getType())).map(a -> a.getAddress()).findFirst().orElse("");
                        System.out.printf("%-10s %-8s %-16s %-16s %d%n", n.getMetadata().getName(), Readiness.ready(n) ? "True" : "False",
                                ip, n.getSpec().getPodCIDR(), perNode.getOrDefault(n.getMetadata().getName(), 0L));
                    }
                }
            }
            System.out.println("\nkubeconfig: " + Layout.kubeconfig());
            return allUp ? 0 : 1;
        }
    }

    @Command(name = "exec", mixinStandardHelpOptions = true,
            description = {"Run a command in a pod's network namespace (exec POD [-n NS] -- CMD...)",
                    "or in a node's (exec --node NODE -- CMD...)."})
    static final class Exec implements Callable<Integer> {
        @Option(names = {"-n", "--namespace"}, defaultValue = "default")
        String namespace;
        @Option(names = "--node", description = "Run in this node's namespace instead of a pod's.")
        String node;
        @Parameters(arity = "1..*", description = "POD -- CMD..., or with --node: CMD...")
        List<String> args;

        @Override
        public Integer call() throws Exception {
            int pre = preflight();
            if (pre != 0) {
                return pre;
            }
            String netns;
            List<String> cmd;
            if (node != null) {
                Layout.nodeIndex(node);
                netns = Layout.nodeNetns(node);
                cmd = args;
            } else {
                if (args.size() < 2) {
                    System.err.println("mesh: exec POD [-n NS] -- CMD...: no command given");
                    return 2;
                }
                String pod = args.get(0);
                cmd = args.subList(1, args.size());
                try (KubernetesClient client = MeshCli.client(Layout.kubeconfig())) {
                    Pod p = client.pods().inNamespace(namespace).withName(pod).get();
                    if (p == null) {
                        System.err.println("mesh: pod " + namespace + "/" + pod + " not found");
                        return 1;
                    }
                    netns = p.getMetadata().getAnnotations() == null ? null
                            : p.getMetadata().getAnnotations().get("mesh.local/netns");
                    if (netns == null) {
                        System.err.println("mesh: pod " + namespace + "/" + pod + " has no sandbox yet (phase "
                                + (p.getStatus() == null ? "Pending" : p.getStatus().getPhase()) + ")");
                        return 1;
                    }
                }
            }
            List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", netns));
            argv.addAll(cmd);
            return new ProcessBuilder(argv).inheritIO().start().waitFor();
        }
    }

    @Command(name = "component", mixinStandardHelpOptions = true,
            description = "Stop, start or restart one of the cluster's long-running processes.")
    static final class Component implements Callable<Integer> {
        @Parameters(index = "0", description = "stop, start or restart")
        String action;
        @Parameters(index = "1", description = "apiserver, istiod (cluster-wide); kubelet, kube-proxy, cni-agent, ztunnel (per node, with --node)")
        String name;
        @Option(names = "--node", description = "The node, for per-node components.")
        String node;

        @Override
        public Integer call() throws Exception {
            int pre = preflight();
            if (pre != 0) {
                return pre;
            }
            Components components = new Components(Layout.stateDir());
            Optional<Components.Spec> spec = components.find(name, node);
            if (spec.isEmpty()) {
                System.err.println("mesh: no component " + name + (node == null ? "" : " on " + node) + "; known: "
                        + components.all().stream().map(Components.Spec::id).collect(Collectors.joining(", ")));
                return 1;
            }
            switch (action) {
                case "stop" -> System.out.println(components.stop(spec.get(), Duration.ofSeconds(10))
                        ? spec.get().id() + " stopped" : spec.get().id() + " was not running");
                case "start" -> System.out.println(spec.get().id() + " running, pid " + components.start(spec.get()));
                case "restart" -> {
                    components.stop(spec.get(), Duration.ofSeconds(10));
                    System.out.println(spec.get().id() + " restarted, pid " + components.start(spec.get()));
                }
                default -> {
                    System.err.println("mesh: component " + action + ": expected stop, start or restart");
                    return 2;
                }
            }
            return 0;
        }
    }
}
