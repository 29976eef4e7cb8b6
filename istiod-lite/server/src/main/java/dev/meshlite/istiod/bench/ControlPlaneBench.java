package dev.meshlite.istiod.bench;

import dev.meshlite.istiod.ca.CaOptions;
import dev.meshlite.istiod.ca.auth.NodeCredentials;
import dev.meshlite.istiod.xds.XdsSnapshot;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./mesh bench control-plane}: istiod-lite against a synthetic cluster and simulated ztunnels.
 *
 * <p>This JVM runs fabric8's API server mock (CRUD) and istiod-lite as {@code serve} wires it
 * (watcher, delta xDS on the CA's TLS gRPC server, node-credential authentication); a second JVM
 * ({@link SimulatedProxies}) runs one real xDS client per node. Measured:
 * <ol>
 *   <li>namespace label change → last proxy's ACK: {@code istio.io/dataplane-mode=ambient} is
 *       removed from and put back on one namespace, {@code changes} times after
 *       {@code warmup-changes} that are reported apart; each is timed from the API request to the
 *       moment the last proxy applied the result (its ACK leaves then);</li>
 *   <li>istiod-lite's heap after a full GC at steady state, and CPU seconds during the changes;</li>
 *   <li>bytes sent per proxy for a one-pod change (a readiness flip), from
 *       {@code istiod_xds_bytes_sent_total}: it must follow the pod's size, not the cluster's.</li>
 * </ol>
 */
@Command(name = "bench control-plane", mixinStandardHelpOptions = true,
        description = "istiod-lite against a synthetic cluster (fabric8 API server mock) and simulated ztunnels; "
                + "writes a Markdown table to stdout and <results-dir>/<UTC stamp>/control-plane.json")
public final class ControlPlaneBench implements Callable<Integer> {

    static final String LOGBACK = "dev/meshlite/istiod/bench/logback-bench.xml";
    /** Between label changes: each gets a debounce window of its own. */
    private static final Duration SETTLE = Duration.ofMillis(200);
    /** After a pod change reached every proxy: a further push it caused would land in this window. */
    private static final Duration QUIET = Duration.ofMillis(400);

    @Option(names = "--pods", defaultValue = "10000", description = "pods (default: ${DEFAULT-VALUE})")
    int pods;

    @Option(names = "--services", defaultValue = "1000", description = "services (default: ${DEFAULT-VALUE})")
    int services;

    @Option(names = "--proxies", defaultValue = "200",
            description = "simulated ztunnels, one per node (default: ${DEFAULT-VALUE})")
    int proxies;

    @Option(names = "--namespaces", defaultValue = "20",
            description = "namespaces; the first one's label is flipped (default: ${DEFAULT-VALUE})")
    int namespaces;

    @Option(names = "--warmup-changes", defaultValue = "4",
            description = "label changes made first, reported apart from the timed ones (default: ${DEFAULT-VALUE})")
    int warmupChanges;

    @Option(names = "--changes", defaultValue = "20", description = "label changes timed (default: ${DEFAULT-VALUE})")
    int changes;

    @Option(names = "--pod-changes", defaultValue = "3",
            description = "one-pod changes measured (default: ${DEFAULT-VALUE})")
    int podChanges;

    @Option(names = "--timeout-seconds", defaultValue = "300",
            description = "limit for any one step (default: ${DEFAULT-VALUE})")
    int timeoutSeconds;

    @Option(names = "--results-dir", description = "default: $MESH_HOME/benchmarks/results, else benchmarks/results")
    Path resultsDir;

    /**
     * The API server mock logs every request at INFO through java.util.logging: 11,000 lines while
     * the cluster is created, and console output on the measured JVM. Held here: JUL keeps loggers
     * only weakly.
     */
    private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

    public static void main(String[] args) {
        if (System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", LOGBACK);
        }
        System.exit(new CommandLine(new ControlPlaneBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Path dir = resultsDir != null ? resultsDir
                : System.getenv("MESH_HOME") != null ? Path.of(System.getenv("MESH_HOME"), "benchmarks", "results")
                : Path.of("benchmarks", "results");
        BenchConfig config = new BenchConfig(pods, services, proxies, namespaces, warmupChanges, changes, podChanges,
                Duration.ofSeconds(timeoutSeconds), dir);
        Results r = run(config, System.err);
        Path json = write(r);
        System.out.println(r.markdown());
        System.out.println("Written: " + json);
        return 0;
    }

    /** Writes {@code <resultsDir>/<UTC stamp>/control-plane.json}; returns its path. */
    static Path write(Results r) throws java.io.IOException {
        String stamp = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(Instant.now());
        Path out = Files.createDirectories(r.config().resultsDir().resolve(stamp)).resolve("control-plane.json");
        Files.writeString(out, r.json());
        return out;
    }

    /** One run; progress goes to {@code progress}. */
    static Results run(BenchConfig c, PrintStream progress) throws Exception {
        MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
        Duration timeout = c.timeout();
        try (SyntheticCluster cluster = new SyntheticCluster(c)) {
            progress.printf("bench: creating %d namespaces, %d services, %d pods...%n", c.namespaces(), c.services(),
                    c.pods());
            long t = System.nanoTime();
            cluster.populate();
            double populateSeconds = seconds(t);
            NodeCredentials credentials = new NodeCredentials(cluster.client(), SyntheticCluster.ROOT_NAMESPACE,
                    CaOptions.DEFAULT_NODE_AGENT);
            Map<String, String> tokens = new LinkedHashMap<>();
            for (int k = 0; k < c.proxies(); k++) {
                tokens.put(BenchConfig.node(k), credentials.issue(BenchConfig.node(k)));
            }
            long heapBefore = usedHeapAfterGc();

            progress.println("bench: starting istiod-lite and " + c.proxies() + " simulated ztunnels...");
            t = System.nanoTime();
            try (BenchControlPlane plane = BenchControlPlane.start(cluster.newClient());
                 ForkedFleet fleet = ForkedFleet.start(plane.port(), plane.ca().signer().keys().roots(), tokens,
                         proxiesHeap(c))) {
                double startSeconds = seconds(t);
                long connectAt = nowMicros();
                fleet.connect();
                double syncSeconds = (fleet.awaitHolding(c.pods(), c.services(), timeout) - connectAt) / 1e6;
                progress.printf("bench: cluster created in %.1f s, istiod-lite started in %.1f s, proxies synced in %.1f s%n",
                        populateSeconds, startSeconds, syncSeconds);

                String flipped = c.namespace(0);
                int offWorkloads = c.pods() - c.podsIn(0);
                int offServices = c.services() - c.servicesIn(0);
                // Warm-up flips come in pairs (off, on): the timed ones start from the same state.
                int warmups = c.warmupChanges() + c.warmupChanges() % 2;
                progress.println("bench: " + warmups + " warm-up and " + c.changes() + " timed label changes on "
                        + flipped + " (" + c.podsIn(0) + " pods)...");
                List<Double> warmupLatencies = new ArrayList<>();
                List<Double> latencies = new ArrayList<>();
                List<Double> toPublish = new ArrayList<>();
                List<Double> publishing = new ArrayList<>();
                long proxiesCpu = 0;
                long cpu = 0;
                double bytes = 0;
                for (int k = 0; k < warmups + c.changes(); k++) {
                    boolean warmup = k < warmups;
                    if (k == warmups) {
                        proxiesCpu = fleet.stats().cpuNanos();
                        cpu = SimulatedProxies.processCpuNanos();
                        bytes = plane.bytesSent();
                    }
                    boolean on = k % 2 == 1;
                    Thread.sleep(SETTLE);
                    long start = nowMicros();
                    cluster.ambient(flipped, on);
                    long last = fleet.awaitHolding(on ? c.pods() : offWorkloads, on ? c.services() : offServices,
                            timeout);
                    double ms = (last - start) / 1000.0;
                    BenchControlPlane.Publishes p = plane.publishes().awaitEnd(timeout);
                    if (warmup) {
                        warmupLatencies.add(ms);
                    } else {
                        latencies.add(ms);
                        toPublish.add((p.startMicros() - start) / 1000.0);
                        publishing.add((p.endMicros() - p.startMicros()) / 1000.0);
                    }
                    progress.printf("bench:   %s%s %s: %.1f ms (published after %.1f ms, publish took %.1f ms)%n",
                            warmup ? "warm-up " : "", on ? "label" : "unlabel", flipped, ms,
                            (p.startMicros() - start) / 1000.0, (p.endMicros() - p.startMicros()) / 1000.0);
                }
                double cpuSeconds = (SimulatedProxies.processCpuNanos() - cpu) / 1e9;
                double labelBytes = (plane.bytesSent() - bytes) / c.changes() / c.proxies();
                ForkedFleet.Stats proxyStats = fleet.stats();
                double proxiesCpuSeconds = (proxyStats.cpuNanos() - proxiesCpu) / 1e9;
                if ((warmups + c.changes()) % 2 == 1) {
                    cluster.ambient(flipped, true); // the pod changes below assume every namespace ambient
                    fleet.awaitHolding(c.pods(), c.services(), timeout);
                }

                Thread.sleep(QUIET.toMillis());
                long heapAfter = usedHeapAfterGc();

                progress.println("bench: " + c.podChanges() + " one-pod changes...");
                List<Double> podBytes = new ArrayList<>();
                List<Double> podPushes = new ArrayList<>();
                double workloadBytes = 0;
                int stride = Math.max(1, c.pods() / c.podChanges());
                for (int r = 0; r < c.podChanges(); r++) {
                    int pod = (r * stride + 1) % c.pods();
                    fleet.mark();
                    double b0 = plane.bytesSent();
                    double p0 = plane.pushes();
                    cluster.ready(pod, false);
                    fleet.awaitChanged(timeout);
                    Thread.sleep(QUIET.toMillis());
                    podBytes.add((plane.bytesSent() - b0) / c.proxies());
                    podPushes.add((plane.pushes() - p0) / c.proxies());
                    workloadBytes = plane.xds().current().of(XdsSnapshot.WORKLOAD).get(cluster.uid(pod)).resource()
                            .getValue().size();
                }
                return new Results(c, populateSeconds, startSeconds, syncSeconds, warmupLatencies, latencies,
                        toPublish, publishing,
                        labelBytes, cpuSeconds,
                        proxiesCpuSeconds, mib(heapAfter - heapBefore), mib(heapAfter),
                        mib(proxyStats.heapBytes()), mean(podBytes), mean(podPushes), workloadBytes,
                        String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()));
            }
        }
    }

    /** The proxies' JVM: every client holds every workload's and service's name and version. */
    static String proxiesHeap(BenchConfig c) {
        long mib = 128 + (long) c.proxies() * (c.pods() + c.services()) * 600 / (1 << 20);
        return mib + "m";
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        for (int i = 0; i < 2; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }

    private static double mean(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    private static double seconds(long sinceNanos) {
        return (System.nanoTime() - sinceNanos) / 1e9;
    }

    private static long nowMicros() {
        return CountingHandler.epochMicros(Instant.now());
    }
}
