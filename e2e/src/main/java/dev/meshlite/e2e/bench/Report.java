package dev.meshlite.e2e.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The run's results: {@code summary.json} (the rows), {@code summary.md} (the table beside the anchors). */
final class Report {

    /** The published figures to beat (DESIGN §9), as they are stated there. */
    static final String ANCHORS = """
            | anchor (published) | CPU per 1000 req/s | memory | latency added at 1000 req/s |
            |---|---|---|---|
            | Istio 1.24 ztunnel (per node) | 0.06 vCPU | 12 MB | |
            | Istio 1.24 sidecar (per pod) | 0.20 vCPU | 60 MB | |
            | Istio 1.24 waypoint | 0.25 vCPU | 60 MB | |
            | Istio 1.22 ambient, two ztunnels | | | p90 +0.17 ms, p99 +0.20 ms |
            | this kind of machine, iperf3 one connection | direct 35.8 Gbit/s | stunnel TLS 1.3 mTLS pair 4.5 Gbit/s | |
            """;

    private Report() {
    }

    static void writeJson(Path file, List<Row> rows) throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("scenario", r.scenario());
            m.put("connections", r.connections());
            m.put("pods_per_node", r.podsPerNode());
            m.put("p50_ms", round(r.p50Ms()));
            m.put("p90_ms", round(r.p90Ms()));
            m.put("p99_ms", round(r.p99Ms()));
            m.put("max_ms", round(r.maxMs()));
            m.put("requests", r.requests());
            m.put("added_p50_ms", round(r.addedP50Ms()));
            m.put("added_p90_ms", round(r.addedP90Ms()));
            m.put("added_p99_ms", round(r.addedP99Ms()));
            m.put("throughput_gbps", round(r.throughputGbps()));
            m.put("proxy_vcpu_per_1000rps", round(r.proxyVcpuPer1000Rps()));
            m.put("proxies_on_path", r.proxiesOnPath());
            m.put("proxy_vcpu_per_1000rps_per_proxy", round(r.proxyVcpuPer1000RpsPerProxy()));
            m.put("proxy_rss_mib_per_node", round(r.proxyRssMibPerNode()));
            m.put("proxy_rss_mib_per_pod", round(r.proxyRssMibPerPod()));
            m.put("proxy_rss_idle_mib_per_node", round(r.proxyRssIdleMibPerNode()));
            m.put("proxy_rss_growth_mib_per_1000rps", round(r.proxyRssGrowthMibPer1000Rps()));
            m.put("proxies_per_node", r.proxiesPerNode());
            out.add(m);
        }
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), out);
    }

    static String markdown(String title, String machine, String parameters, List<Row> rows, String reproduce) {
        StringBuilder s = new StringBuilder("# ").append(title).append("\n\n");
        s.append(machine).append("\n\n").append(parameters).append("\n\n");
        s.append("| scenario | pods/node | conns | p50 ms | p90 ms | p99 ms | added p50 | added p90 | added p99 "
                + "| Gbit/s (1 conn) | proxy vCPU per 1000 req/s | per proxy on the path | proxy RSS per node, MiB | per pod, MiB "
                + "| idle RSS per node, MiB | RSS growth per 1000 req/s, MiB |\n");
        s.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            boolean none = r.scenario().equals("none");
            s.append(String.format(Locale.ROOT, "| %s | %d | %d | %.3f | %.3f | %.3f | %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s |%n",
                    r.scenario(), r.podsPerNode(), r.connections(), r.p50Ms(), r.p90Ms(), r.p99Ms(), added(r, r.addedP50Ms()),
                    added(r, r.addedP90Ms()), added(r, r.addedP99Ms()), r.throughputGbps(),
                    none ? "–" : String.format(Locale.ROOT, "%.3f", r.proxyVcpuPer1000Rps()),
                    r.proxyVcpuPer1000RpsPerProxy() == null ? "–" : String.format(Locale.ROOT, "%.3f", r.proxyVcpuPer1000RpsPerProxy()),
                    none ? "–" : String.format(Locale.ROOT, "%.1f", r.proxyRssMibPerNode()),
                    none ? "–" : String.format(Locale.ROOT, "%.1f", r.proxyRssMibPerPod()),
                    none ? "–" : String.format(Locale.ROOT, "%.1f", r.proxyRssIdleMibPerNode()),
                    none || r.proxyRssGrowthMibPer1000Rps() == null ? "–"
                            : String.format(Locale.ROOT, "%+.1f", r.proxyRssGrowthMibPer1000Rps())));
        }
        s.append("\n").append(ANCHORS).append("\n");
        s.append("""
                How to read it: *none* is the baseline measured in the same run (plaintext, kube-proxy's
                DNAT); *added* is a scenario's percentile minus the baseline's at the same pods and
                connections. *stunnel* is one stunnel per pod (TLS 1.3 mTLS), *ambient* one ztunnel per
                node, *dedicated* one ztunnel per pod (the sidecar shape). CPU counts every proxy of the
                scenario on both nodes over the measured run, user and system time from /proc (system
                time includes the emulated nodes' kernel packet path, charged to the sending thread);
                *per proxy on the path* divides it by the two proxies each request crosses (its
                client's and its server's), the unit of the published per-proxy anchors;
                memory is the RSS of the proxies on the server's node after the latency run (idle: in
                place with the pods enrolled, 12 s before any load; growth: what the load added, per
                1000 req/s; the throughput run comes after both). Pods per node
                counts that node's pods (the server and idle pods); the client is alone on node-1.

                ![latency percentiles](latency.png)

                ![proxy memory against pods per node](memory.png)

                """);
        s.append("Reproduce: `").append(reproduce).append("`\n");
        return s.toString();
    }

    /** The baseline's own "added" is zero by definition: shown as a dash, kept as 0 in the JSON. */
    private static String added(Row r, Double v) {
        return r.scenario().equals("none") ? "–" : signed(v);
    }

    private static String signed(Double v) {
        return v == null ? "–" : String.format(Locale.ROOT, "%+.3f", v);
    }

    private static Double round(Double v) {
        return v == null ? null : Math.round(v * 1000.0) / 1000.0;
    }
}
