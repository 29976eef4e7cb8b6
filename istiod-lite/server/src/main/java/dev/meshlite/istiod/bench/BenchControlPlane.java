package dev.meshlite.istiod.bench;

import dev.meshlite.istiod.ca.CaOptions;
import dev.meshlite.istiod.ca.CertificateAuthority;
import dev.meshlite.istiod.watch.ClusterWatcher;
import dev.meshlite.istiod.xds.DiscoveryGrpcService;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.List;

/**
 * istiod-lite as {@code serve} wires it: the watcher feeding the delta xDS service, served on the
 * CA's gRPC server (TLS, node-credential authentication) on 127.0.0.1, port chosen by the system.
 */
record BenchControlPlane(KubernetesClient client, ClusterWatcher watcher, DiscoveryGrpcService xds,
        CertificateAuthority ca, PrometheusRegistry registry, Publishes publishes) implements AutoCloseable {

    /** When the last snapshot was handed to the xDS service, and when that call returned (µs since the epoch). */
    static final class Publishes {
        private volatile long startMicros;
        private volatile long endMicros;

        long startMicros() {
            return startMicros;
        }

        long endMicros() {
            return endMicros;
        }

        /**
         * Returns once the last publish call has returned: the last proxy can ACK before the loop
         * over the streams is done (it was not the last one pushed).
         */
        Publishes awaitEnd(java.time.Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (endMicros < startMicros && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            return this;
        }
    }

    static BenchControlPlane start(KubernetesClient client) throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        CaOptions options = CaOptions.defaults("cluster.local").withAuth(List.of(CaOptions.Auth.NODE_CREDENTIAL))
                .withBind(new InetSocketAddress("127.0.0.1", 0));
        DiscoveryGrpcService xds = new DiscoveryGrpcService(CertificateAuthority.callerAuthenticator(options, client),
                options.nodeAgents(), registry);
        Publishes publishes = new Publishes();
        // Timed around the publish: splits a change's latency into model (watch, debounce, rebuild),
        // push (a diff and a send per stream, on the rebuild thread) and delivery.
        ClusterWatcher watcher = new ClusterWatcher(client,
                ClusterWatcher.Options.defaults(SyntheticCluster.ROOT_NAMESPACE, "cluster.local"), snapshot -> {
                    publishes.startMicros = CountingHandler.epochMicros(java.time.Instant.now());
                    xds.publish(snapshot);
                    publishes.endMicros = CountingHandler.epochMicros(java.time.Instant.now());
                }, registry, Clock.systemUTC());
        watcher.start();
        CertificateAuthority ca = CertificateAuthority.start(options, client, registry, List.of(xds));
        return new BenchControlPlane(client, watcher, xds, ca, registry, publishes);
    }

    int port() {
        return ca.port();
    }

    /** {@code istiod_xds_bytes_sent_total}, all types. */
    double bytesSent() {
        return counter("istiod_xds_bytes_sent");
    }

    /** {@code istiod_xds_pushes_total}, all types. */
    double pushes() {
        return counter("istiod_xds_pushes");
    }

    /** A counter's sum over its labels; snapshots name counters without {@code _total}. */
    private double counter(String name) {
        return registry.scrape().stream().filter(s -> s.getMetadata().getPrometheusName().equals(name))
                .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
    }

    @Override
    public void close() {
        ca.close();
        xds.closeAll();
        watcher.close();
        client.close();
    }
}
