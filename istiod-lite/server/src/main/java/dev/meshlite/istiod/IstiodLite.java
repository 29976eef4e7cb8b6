package dev.meshlite.istiod;

import dev.meshlite.istiod.analyze.Analyze;
import dev.meshlite.istiod.ca.CaOptions;
import dev.meshlite.istiod.ca.CaSecretStore;
import dev.meshlite.istiod.ca.CertificateAuthority;
import dev.meshlite.istiod.ca.RootCertificates;
import dev.meshlite.istiod.ca.auth.NodeCredentials;
import dev.meshlite.istiod.ca.auth.ServiceAccountRef;
import dev.meshlite.istiod.lead.LeaseElection;
import dev.meshlite.istiod.lead.Leadership;
import dev.meshlite.istiod.lead.ReplicaIdentity;
import dev.meshlite.istiod.model.ModelInputs;
import dev.meshlite.istiod.watch.ClusterWatcher;
import dev.meshlite.istiod.xds.DiscoveryGrpcService;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code istiod-lite}: the control plane: certificate authority, cluster watches, delta xDS, and tools. */
@Command(name = "istiod-lite", mixinStandardHelpOptions = true,
        description = "meshlite control plane (certificate authority and configuration discovery)",
        subcommands = {IstiodLite.Serve.class, IstiodLite.NodeCredential.class, IstiodLite.RotateRoot.class,
                IstiodLite.RetireRoots.class, Analyze.class})
public final class IstiodLite {

    public static void main(String[] args) {
        if (System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", "dev/meshlite/istiod/logback-istiod.xml");
        }
        System.exit(new CommandLine(new IstiodLite()).execute(args));
    }

    /** {@code 24h}, {@code 90m}, {@code 3600s}, or ISO-8601 ({@code PT24H}). */
    static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            String v = value.strip().toLowerCase(java.util.Locale.ROOT);
            if (v.startsWith("pt") || v.startsWith("p")) {
                return Duration.parse(value.strip().toUpperCase(java.util.Locale.ROOT));
            }
            if (v.length() < 2) {
                throw new CommandLine.TypeConversionException("duration '" + value + "' (expected: e.g. 24h, 90m, 3600s)");
            }
            long n;
            try {
                n = Long.parseLong(v.substring(0, v.length() - 1));
            } catch (NumberFormatException e) {
                throw new CommandLine.TypeConversionException("duration '" + value + "' (expected: e.g. 24h, 90m, 3600s)");
            }
            return switch (v.charAt(v.length() - 1)) {
                case 'h' -> Duration.ofHours(n);
                case 'm' -> Duration.ofMinutes(n);
                case 's' -> Duration.ofSeconds(n);
                default -> throw new CommandLine.TypeConversionException("duration '" + value
                        + "' (expected: a number with h, m or s)");
            };
        }
    }

    /** Options every subcommand shares: where the cluster is and where the CA keeps its Secrets. */
    static class Cluster {
        @Option(names = "--kubeconfig", description = "kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
        Path kubeconfig;

        @Option(names = "--namespace", defaultValue = CaSecretStore.DEFAULT_NAMESPACE,
                description = "namespace of the CA Secrets and the leader Lease (default: ${DEFAULT-VALUE})")
        String namespace;

        @Option(names = "--trust-domain", defaultValue = "cluster.local", description = "default: ${DEFAULT-VALUE}")
        String trustDomain;

        KubernetesClient client() throws IOException {
            Config config = kubeconfig == null ? Config.autoConfigure(null)
                    : Config.fromKubeconfig(Files.readString(kubeconfig));
            return new KubernetesClientBuilder().withConfig(config).build();
        }
    }

    @Command(name = "serve", mixinStandardHelpOptions = true, description = "run the CA and xDS: gRPC on --address:--port, metrics on --metrics-port; replicas elect one writer through a Lease")
    static final class Serve implements Callable<Integer> {
        @CommandLine.Mixin
        Cluster cluster = new Cluster();

        @Option(names = "--address", defaultValue = "127.0.0.1", description = "listen address (default: ${DEFAULT-VALUE})")
        String address;

        @Option(names = "--port", defaultValue = "15012", description = "CA gRPC port (default: ${DEFAULT-VALUE})")
        int port;

        @Option(names = "--metrics-port", defaultValue = "15014", description = "Prometheus port, -1 for none (default: ${DEFAULT-VALUE})")
        int metricsPort;

        @Option(names = "--max-ttl", defaultValue = "24h", converter = DurationConverter.class,
                description = "longest workload certificate: 24h, 90m, 3600s or ISO-8601 (default: ${DEFAULT-VALUE})")
        Duration maxTtl;

        @Option(names = "--node-agent", description = "trusted node agent service account ns/name (repeatable; default: istio-system/ztunnel)")
        List<String> nodeAgents = new ArrayList<>();

        @Option(names = "--auth", split = ",", defaultValue = "NODE_CREDENTIAL,TOKEN_REVIEW",
                description = "caller authentication, tried in order: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
        List<CaOptions.Auth> auth;

        @Option(names = "--audience", description = "token audiences for TokenReview (repeatable)")
        List<String> audiences = new ArrayList<>();

        @Option(names = "--root-namespace", defaultValue = ModelInputs.DEFAULT_ROOT_NAMESPACE,
                description = "mesh root namespace: its policies without selector apply mesh-wide (default: ${DEFAULT-VALUE})")
        String rootNamespace;

        @Option(names = "--leader-elect", arity = "0..1", defaultValue = "true", fallbackValue = "true",
                description = "elect one writer among replicas through a Lease in --namespace; false: this replica"
                        + " always writes (one replica only) (default: ${DEFAULT-VALUE})")
        boolean leaderElect;

        @Option(names = "--lease-name", defaultValue = "istiod-lite",
                description = "name of the coordination.k8s.io/v1 Lease (default: ${DEFAULT-VALUE})")
        String leaseName;

        @Option(names = "--identity",
                description = "this replica's name in the Lease, unique among replicas (default: POD_NAME, else the host name, else random)")
        String identity;

        /** How long a clean shutdown waits for serve to release the Lease and close. */
        static final long SHUTDOWN_GRACE_SECONDS = 10;

        @Override
        public Integer call() throws Exception {
            CountDownLatch stop = new CountDownLatch(1);
            CountDownLatch closed = new CountDownLatch(1);
            // The hook waits for serve to finish closing: otherwise the JVM halts before the Lease
            // is released, and the next leader waits for it to expire instead.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stop.countDown();
                try {
                    closed.await(SHUTDOWN_GRACE_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "istiod-shutdown"));
            try {
                return serve(stop, System.out::println);
            } finally {
                closed.countDown();
            }
        }

        /** Runs until {@code stop} opens; {@code ready} gets one line naming the bound ports. */
        int serve(CountDownLatch stop, Consumer<String> ready) throws Exception {
            var agents = new HashSet<ServiceAccountRef>();
            nodeAgents.forEach(a -> agents.add(ServiceAccountRef.parse(a)));
            if (agents.isEmpty()) {
                agents.add(CaOptions.DEFAULT_NODE_AGENT);
            }
            InetAddress host = InetAddress.getByName(address);
            CaOptions options = new CaOptions(cluster.trustDomain, cluster.namespace, new InetSocketAddress(host, port),
                    maxTtl, RootCertificates.DEFAULT_ROOT_TTL, agents, auth, audiences, Duration.ofSeconds(30),
                    Clock.systemUTC());
            PrometheusRegistry registry = new PrometheusRegistry();
            String name = identity == null || identity.isBlank() ? ReplicaIdentity.resolve() : identity.strip();
            Leadership leadership = leaderElect ? Leadership.elected(name) : Leadership.always(name);
            leadership.exportTo(registry);
            try (KubernetesClient client = cluster.client();
                    // First, so a lone replica leads (and may create the CA root) before the CA starts.
                    LeaseElection election = leaderElect ? LeaseElection.start(client, cluster.namespace, leaseName,
                            leadership, LeaseElection.Timings.DEFAULT) : null;
                    Discovery discovery = Discovery.start(client, options, rootNamespace, registry, leadership);
                    CertificateAuthority ca = CertificateAuthority.start(options, client, registry,
                            List.of(discovery.service()), leadership);
                    HTTPServer metrics = metricsPort < 0 ? null
                            : HTTPServer.builder().inetAddress(host).port(metricsPort).registry(registry).buildAndStart()) {
                if (!leaderElect) {
                    // Not a static logger: main() picks the logging configuration before the first one exists.
                    LoggerFactory.getLogger(IstiodLite.class)
                            .info("leader election off: {} writes (run one replica only)", name);
                }
                ready.accept("istiod-lite CA listening on " + address + ":" + ca.port()
                        + (metrics == null ? "" : ", metrics on " + address + ":" + metrics.getPort()));
                try {
                    stop.await();
                } finally {
                    // Hand over first, drain after: the next leader starts while this one closes.
                    if (election != null) {
                        election.close();
                    }
                }
            }
            return 0;
        }
    }

    /**
     * Watches and the discovery service. Started before the gRPC server, so no proxy is ever
     * served before the cluster has been read; closed after it (try-with-resources order).
     */
    record Discovery(ClusterWatcher watcher, DiscoveryGrpcService service) implements AutoCloseable {
        static Discovery start(KubernetesClient client, CaOptions options, String rootNamespace,
                PrometheusRegistry registry, Leadership leadership) throws Exception {
            DiscoveryGrpcService service = new DiscoveryGrpcService(
                    CertificateAuthority.callerAuthenticator(options, client), options.nodeAgents(), registry);
            ClusterWatcher watcher = new ClusterWatcher(client,
                    ClusterWatcher.Options.defaults(rootNamespace, options.trustDomain()), service::publish, registry,
                    Clock.systemUTC(), leadership);
            try {
                watcher.start();
            } catch (Exception e) {
                watcher.close();
                throw e;
            }
            return new Discovery(watcher, service);
        }

        @Override
        public void close() {
            service.closeAll();
            watcher.close();
        }
    }

    @Command(name = "node-credential", mixinStandardHelpOptions = true, description = "issue (or show) a node's credential; prints the bearer token")
    static final class NodeCredential implements Callable<Integer> {
        @CommandLine.Mixin
        Cluster cluster = new Cluster();

        @Option(names = "--node", required = true)
        String node;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            try (KubernetesClient client = cluster.client()) {
                spec.commandLine().getOut().println(
                        new NodeCredentials(client, cluster.namespace, CaOptions.DEFAULT_NODE_AGENT).issue(node));
            }
            return 0;
        }
    }

    @Command(name = "rotate-root", mixinStandardHelpOptions = true, description = "start a root rotation: a new root signs, old roots stay trusted")
    static final class RotateRoot implements Callable<Integer> {
        @CommandLine.Mixin
        Cluster cluster = new Cluster();

        @Override
        public Integer call() throws Exception {
            try (KubernetesClient client = cluster.client()) {
                var keys = new CaSecretStore(client, cluster.namespace, cluster.trustDomain,
                        RootCertificates.DEFAULT_ROOT_TTL, Clock.systemUTC()).rotateSelfSigned();
                System.out.println("signing with " + keys.activeRoot().getSubjectX500Principal() + "; trusting "
                        + keys.roots().size() + " root(s); running CAs pick this up within 30 s");
            }
            return 0;
        }
    }

    @Command(name = "retire-old-roots", mixinStandardHelpOptions = true, description = "end a root rotation: trust only the active root")
    static final class RetireRoots implements Callable<Integer> {
        @CommandLine.Mixin
        Cluster cluster = new Cluster();

        @Override
        public Integer call() throws Exception {
            try (KubernetesClient client = cluster.client()) {
                new CaSecretStore(client, cluster.namespace, cluster.trustDomain, RootCertificates.DEFAULT_ROOT_TTL,
                        Clock.systemUTC()).retireOldRoots();
            }
            return 0;
        }
    }
}
