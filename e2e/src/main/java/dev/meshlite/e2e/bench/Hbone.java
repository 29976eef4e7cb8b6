package dev.meshlite.e2e.bench;

import dev.meshlite.e2e.ZtunnelEvidence;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Proof that a mesh shape really carries the load before it is measured: a call from the client
 * must raise the server side's count of mutual-TLS connections into namespace bench, read from
 * the serving ztunnel's own Prometheus endpoint. A shape that silently fell back to plaintext
 * would otherwise be measured as if it were the mesh.
 */
final class Hbone {

    private static final Duration BOUND = Duration.ofSeconds(60);

    private Hbone() {
    }

    /** Calls the Service from the client until the ztunnel whose metrics are in {@code metricsNetns} counts it as mTLS. */
    static void awaitMutualTls(BenchPods pods, String metricsNetns) throws Exception {
        String client = pods.clientPod().netns();
        String url = "http://" + pods.serviceVip() + "/";
        Instant deadline = Instant.now().plus(BOUND);
        while (true) {
            double before = mutualTlsInbound(metricsNetns);
            boolean answered = InNetns.ok(client, List.of("curl", "-sf", "--max-time", "2", "-o", "/dev/null", url), 5);
            if (answered && mutualTlsInbound(metricsNetns) > before) {
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                throw new BenchFailure("the client's calls do not arrive over mutual TLS within " + BOUND.toSeconds()
                        + " s (answered: " + answered + "); see /run/mesh/logs");
            }
            Thread.sleep(300);
        }
    }

    /** Connections into namespace bench that the ztunnel in {@code netns} accepted over mutual TLS. */
    static double mutualTlsInbound(String netns) throws Exception {
        String text;
        try {
            text = InNetns.run(netns, List.of("curl", "-sf", "--max-time", "2", "http://127.0.0.1:15020/metrics"), 5);
        } catch (BenchFailure notYet) {
            return 0;
        }
        double sum = 0;
        for (String line : text.lines().toList()) {
            Optional<ZtunnelEvidence.Series> series;
            try {
                series = ZtunnelEvidence.Series.parse(netns, line);
            } catch (IllegalArgumentException e) {
                throw new BenchFailure("unreadable line in the metrics of the ztunnel in " + netns + ": " + e.getMessage());
            }
            sum += series
                    .filter(s -> s.is("istio_tcp_connections_opened_total") && s.has("reporter", "destination")
                            && s.has("connection_security_policy", "mutual_tls")
                            && s.has("destination_workload_namespace", "bench"))
                    .map(ZtunnelEvidence.Series::value).orElse(0.0);
        }
        return sum;
    }
}
