package dev.meshlite.e2e.bench;

import dev.meshlite.e2e.ClusterCommands;
import dev.meshlite.e2e.MeshCli;
import dev.meshlite.e2e.cluster.ClusterDown;
import dev.meshlite.e2e.cluster.ClusterUp;
import dev.meshlite.e2e.cluster.Layout;
import dev.meshlite.e2e.cluster.Sh;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code ./mesh bench [scenario...]}: node-level against per-pod proxies on the local cluster,
 * beside the baselines measured in the same run (DESIGN §9). For each pods-per-node count the
 * pods are set up once and every scenario is put in place, measured and taken away in turn:
 * latency at a fixed rate for each connection count (a warm-up run first, not recorded), one
 * connection's iperf3 throughput, the proxies' CPU over the measured run and their memory after
 * it. Writes summary.md, summary.json and two PNG plots under benchmarks/results/RUN/.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Data-plane benchmark on the local cluster: none, stunnel, ambient, dedicated at several pods per node.")
public final class DataPlaneBench implements Callable<Integer> {

    static final List<String> SCENARIOS = List.of("none", "stunnel", "ambient", "dedicated");

    /** How long the proxies sit unloaded after a scenario is in place before their idle memory is read. */
    static final Duration IDLE_SETTLE = Duration.ofSeconds(12);

    @Parameters(arity = "0..*", paramLabel = "SCENARIO", description = "none, stunnel, ambient, dedicated (default: all four)")
    List<String> scenarios = new ArrayList<>();

    @Option(names = "--pods", split = ",", defaultValue = "1,10,50", description = "pods per node to measure at (default: ${DEFAULT-VALUE})")
    List<Integer> podsPerNode;

    @Option(names = "--connections", split = ",", defaultValue = "2,16", description = "keep-alive connections (default: ${DEFAULT-VALUE})")
    List<Integer> connections;

    @Option(names = "--rate", defaultValue = "1000", description = "requests per second in total (default: ${DEFAULT-VALUE})")
    int rate;

    @Option(names = "--seconds", defaultValue = "5", description = "each measured latency run (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--warmup", defaultValue = "3", description = "an unrecorded run before each measured one (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--size", defaultValue = "1024", description = "reply body bytes (default: ${DEFAULT-VALUE})")
    int size;

    @Option(names = "--iperf-seconds", defaultValue = "3", description = "throughput run (default: ${DEFAULT-VALUE})")
    int iperfSeconds;

    @Option(names = "--out", description = "results directory (default: benchmarks/results/<UTC stamp>)")
    Path out;

    @Option(names = "--keep", description = "leave the cluster up afterwards")
    boolean keep;

    @Override
    public Integer call() throws Exception {
        List<String> chosen = scenarios.isEmpty() ? SCENARIOS : scenarios;
        for (String s : chosen) {
            if (!SCENARIOS.contains(s)) {
                System.err.println("bench: unknown scenario " + s + " (expected: " + String.join(", ", SCENARIOS)
                        + "; the control plane's is ./mesh bench control-plane)");
                return 2;
            }
        }
        if (podsPerNode.stream().anyMatch(n -> n < 1 || n > 100) || connections.stream().anyMatch(c -> c < 1 || c > 64)
                || rate < 1 || seconds < 1 || warmup < 0) {
            System.err.println("bench: pods 1-100, connections 1-64, rate and seconds positive");
            return 2;
        }
        int pre = ClusterCommands.preflight();
        if (pre != 0) {
            return pre;
        }
        if (ClusterCommands.clusterRunning()) {
            System.err.println("bench: a local cluster is already up; the benchmark brings up its own (./mesh down first)");
            return 2;
        }
        String stamp = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(Instant.now());
        Path dir = out != null ? out : Layout.meshHome().resolve("benchmarks/results/" + stamp);
        Files.createDirectories(dir);
        List<Integer> pods = podsPerNode.stream().distinct().sorted().toList();
        Instant started = Instant.now();
        Process iperfServer = null;
        try {
            System.out.println("bench: local cluster of two nodes with the mesh");
            new ClusterUp(System.out).up(2, Duration.ofSeconds(120), true);
            List<Row> rows = new ArrayList<>();
            try (KubernetesClient client = MeshCli.client(Layout.kubeconfig())) {
                BenchPods bench = new BenchPods(client);
                bench.deploy();
                BenchPods.BenchPod server = bench.serverPod();
                iperfServer = InNetns.start(server.netns(), List.of("iperf3", "-s", "-p", Integer.toString(Load.IPERF_PORT)),
                        Layout.logDir().resolve("bench-iperf3.log"));
                Load load = new Load(bench.clientPod().netns());
                List<Shape> shapes = new ArrayList<>();
                for (String s : chosen) {
                    shapes.add(switch (s) {
                        case "none" -> new NoMesh();
                        case "stunnel" -> new Stunnel(Layout.stateDir().resolve("bench-stunnel"));
                        case "ambient" -> new Ambient();
                        default -> new Dedicated(ClusterUp.ztunnelJvmFlags());
                    });
                }
                for (int n : pods) {
                    bench.scaleServerNode(n);
                    for (Shape shape : shapes) {
                        System.out.printf("bench: %s, %d pod(s) per node%n", shape.name(), n);
                        try {
                            shape.enter(bench);
                        } catch (Exception e) {
                            try {
                                shape.exit(bench); // its processes go too: they live outside the cluster's components
                            } catch (Exception second) {
                                e.addSuppressed(second);
                            }
                            throw e;
                        }
                        try {
                            rows.addAll(measure(shape, bench, load, n));
                        } finally {
                            shape.exit(bench);
                        }
                    }
                }
            }
            rows = withBaselines(rows);
            Report.writeJson(dir.resolve("summary.json"), rows);
            Plots.latency(dir.resolve("latency.png"), rows);
            Plots.memory(dir.resolve("memory.png"), rows);
            String md = Report.markdown("Data plane: node-level against per-pod proxies (" + stamp + ")", machine(),
                    String.format(Locale.ROOT, "Load: %d req/s HTTP/1.1 keep-alive, %d-byte replies, open loop, %d s measured "
                                    + "after a %d s warm-up per connection count; iperf3 %d s on one connection. "
                                    + "Run took %d s.", rate, size, seconds, warmup, iperfSeconds,
                            Duration.between(started, Instant.now()).toSeconds()),
                    rows, "./mesh bench " + String.join(" ", chosen) + " --pods " + join(pods) + " --connections "
                            + join(connections) + " --rate " + rate + " --seconds " + seconds + " --warmup " + warmup);
            Files.writeString(dir.resolve("summary.md"), md);
            System.out.println();
            System.out.println(md);
            System.out.println("bench: results in " + dir);
            return 0;
        } catch (BenchFailure | IllegalStateException | Sh.CommandFailedException e) {
            System.err.println("bench FAILED: " + e.getMessage() + " (logs: " + Layout.logDir()
                    + (keep ? ")" : ", gone with the cluster: rerun with --keep to read them)"));
            return 1;
        } finally {
            if (iperfServer != null) {
                InNetns.stopAll(List.of(iperfServer));
            }
            if (!keep) {
                new ClusterDown(System.out).down();
            }
        }
    }

    private List<Row> measure(Shape shape, BenchPods bench, Load load, int n) throws Exception {
        Shape.Target target = shape.target(bench);
        List<Long> serverNode = shape.proxies(BenchPods.SERVER_NODE);
        // Idle is after the enrollment's own transients settle: the JIT's compile arenas and the
        // first certificates' garbage, which ztunnel hands back within seconds (its native heap
        // is trimmed every 5 s), would otherwise make "idle" more than loaded.
        if (!serverNode.isEmpty()) {
            Thread.sleep(IDLE_SETTLE.toMillis());
        }
        double idleRss = ProcSample.rssMib(serverNode);
        record Measured(int conns, OpenLoopHttp.Result latency, double vcpu, double rss) {}
        List<Measured> runs = new ArrayList<>();
        for (int conns : connections) {
            if (warmup > 0) {
                load.http(target.http(), rate, warmup, size, conns);
            }
            List<Long> all = new ArrayList<>(shape.proxies(BenchPods.CLIENT_NODE));
            all.addAll(serverNode);
            ProcSample.Cpu cpu0 = ProcSample.cpu(all);
            long t0 = System.nanoTime();
            OpenLoopHttp.Result r = load.http(target.http(), rate, seconds, size, conns);
            double wall = (System.nanoTime() - t0) / 1e9;
            ProcSample.Cpu used = ProcSample.cpu(all).since(cpu0);
            double vcpu = used.seconds() / wall / (rate / 1000.0);
            double systemShare = used.seconds() > 0 ? used.systemSeconds() / used.seconds() : 0;
            double rss = ProcSample.rssMib(serverNode);
            System.out.printf(Locale.ROOT, "  %2d conns: p50 %.3f p90 %.3f p99 %.3f ms; %.3f vCPU/1000 req/s "
                    + "(%.3f per proxy on the path, %.0f%% of it system time); %.1f MiB on %s (%d proxies; %.1f idle)%n",
                    conns, r.p50(), r.p90(), r.p99(), vcpu, shape.proxiesOnPath() == 0 ? 0.0 : vcpu / shape.proxiesOnPath(),
                    systemShare * 100, rss, BenchPods.SERVER_NODE, serverNode.size(), idleRss);
            runs.add(new Measured(conns, r, vcpu, rss));
        }
        // Last, so that the memory figures above are those of the request load, not of a bulk transfer's buffers.
        double gbps = load.iperf(target.iperf(), target.iperfPort(), iperfSeconds);
        System.out.printf(Locale.ROOT, "  iperf3, one connection: %.2f Gbit/s%n", gbps);
        List<Row> rows = new ArrayList<>();
        for (Measured m : runs) {
            OpenLoopHttp.Result r = m.latency();
            rows.add(new Row(shape.name(), m.conns(), n, r.p50(), r.p90(), r.p99(), r.max(), r.count(), null, null, null, gbps,
                    m.vcpu(), m.rss(), serverNode.size(), shape.proxiesOnPath(), idleRss, rate));
        }
        return rows;
    }

    static List<Row> withBaselines(List<Row> rows) {
        List<Row> out = new ArrayList<>();
        for (Row r : rows) {
            Row none = rows.stream().filter(b -> b.scenario().equals("none") && b.connections() == r.connections()
                    && b.podsPerNode() == r.podsPerNode()).findFirst().orElse(null);
            out.add(r.withBaseline(none));
        }
        return out;
    }

    private static String machine() {
        String cpu = Sh.tryRun("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").stdout().strip();
        String mem = Sh.tryRun("sh", "-c", "awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo").stdout().strip();
        return "Machine: " + Runtime.getRuntime().availableProcessors() + " cores (" + cpu + "), " + mem + ", Linux "
                + Sh.tryRun("uname", "-r").stdout().strip() + ", Java " + Runtime.version()
                + ". Two emulated nodes (network namespaces on one host): every proxy, the load and the app share the cores.";
    }

    private static String join(List<Integer> values) {
        return String.join(",", values.stream().map(String::valueOf).toList());
    }
}
