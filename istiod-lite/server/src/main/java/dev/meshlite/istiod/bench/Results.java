package dev.meshlite.istiod.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * One run's figures, in the order they are printed and written. Goals (issue 5): label change to
 * last ACK p99 under 500 ms, istiod heap under 512 MiB, a one-pod change costing bytes of the
 * order of that pod's resource, independent of the cluster's size.
 */
record Results(BenchConfig config, double populateSeconds, double controlPlaneStartSeconds, double syncSeconds,
        List<Double> warmupLabelToLastAckMs, List<Double> labelToLastAckMs, List<Double> labelToPublishMs, List<Double> publishMs,
        double labelChangeBytesPerProxy, double cpuSecondsControlPlane,
        double cpuSecondsProxies, double heapMib, double heapTotalMib, double proxiesHeapMib,
        double bytesPerPodChange, double pushesPerPodChange, double workloadResourceBytes, String jvm) {

    static final double P99_GOAL_MS = 500;
    static final double HEAP_GOAL_MIB = 512;
    /**
     * A one-pod change may cost a few times the workload's own bytes (the delta response's type URL,
     * nonce, version and the resource's name and version wrap it), never anything that grows with
     * the cluster.
     */
    static final double POD_CHANGE_OVERHEAD_FACTOR = 4;

    double p50() {
        return percentile(labelToLastAckMs, 50);
    }

    double p99() {
        return percentile(labelToLastAckMs, 99);
    }

    /** Nearest rank: with 20 samples p99 is the largest. */
    static double percentile(List<Double> samples, double p) {
        if (samples.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = samples.stream().sorted().toList();
        int rank = (int) Math.ceil(p / 100 * sorted.size());
        return sorted.get(Math.max(0, rank - 1));
    }

    boolean podChangeProportional() {
        return bytesPerPodChange > 0 && bytesPerPodChange <= POD_CHANGE_OVERHEAD_FACTOR * workloadResourceBytes;
    }

    Map<String, Object> fields() {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("pods", config.pods());
        f.put("services", config.services());
        f.put("proxies", config.proxies());
        f.put("namespaces", config.namespaces());
        f.put("pods_per_flipped_namespace", config.podsIn(0));
        f.put("label_changes", config.changes());
        f.put("label_to_last_ack_ms_p50", p50());
        f.put("label_to_last_ack_ms_p99", p99());
        f.put("label_to_last_ack_ms_max", percentile(labelToLastAckMs, 100));
        f.put("label_to_last_ack_ms", labelToLastAckMs);
        f.put("warmup_label_changes", warmupLabelToLastAckMs.size());
        f.put("warmup_label_to_last_ack_ms", warmupLabelToLastAckMs);
        f.put("label_to_publish_ms_p50", percentile(labelToPublishMs, 50));
        f.put("publish_ms_p50", percentile(publishMs, 50));
        f.put("label_change_bytes_per_proxy", labelChangeBytesPerProxy);
        f.put("heap_mib", heapMib);
        f.put("heap_total_mib", heapTotalMib);
        f.put("cpu_seconds", cpuSecondsControlPlane);
        f.put("cpu_seconds_proxies", cpuSecondsProxies);
        f.put("proxies_heap_mib", proxiesHeapMib);
        f.put("bytes_per_pod_change", bytesPerPodChange);
        f.put("pushes_per_pod_change", pushesPerPodChange);
        f.put("workload_resource_bytes", workloadResourceBytes);
        f.put("pod_changes", config.podChanges());
        f.put("sync_seconds", syncSeconds);
        f.put("control_plane_start_seconds", controlPlaneStartSeconds);
        f.put("populate_seconds", populateSeconds);
        f.put("goal_p99_met", p99() < P99_GOAL_MS);
        f.put("goal_heap_met", heapMib < HEAP_GOAL_MIB);
        f.put("goal_pod_change_proportional", podChangeProportional());
        f.put("cores", Runtime.getRuntime().availableProcessors());
        f.put("jvm", jvm);
        f.put("notes", "heap_mib: istiod-lite's share of its JVM's used heap after a full GC at steady state "
                + "(heap_total_mib minus the same measure before it started, which holds the in-process API server "
                + "mock); cpu_seconds: that JVM (istiod-lite and the API server mock) during the label changes; "
                + "label_to_publish_ms: from the label request to the snapshot handed to the xDS service; publish_ms: "
                + "that call (a diff and a send per stream); the rest is delivery and the proxies applying it; "
                + "the simulated proxies run in a JVM of their own (cpu_seconds_proxies, proxies_heap_mib); "
                + "bytes: serialized delta responses (istiod_xds_bytes_sent_total) per proxy, before gRPC/TLS framing");
        return f;
    }

    String json() {
        return fields().entrySet().stream()
                .map(e -> "  \"" + e.getKey() + "\": " + jsonValue(e.getValue()))
                .collect(Collectors.joining(",\n", "{\n", "\n}\n"));
    }

    private static String jsonValue(Object v) {
        return switch (v) {
            case Double d -> d.isNaN() || d.isInfinite() ? "null" : String.format(Locale.ROOT, "%.3f", d);
            case Number n -> n.toString();
            case Boolean b -> b.toString();
            case List<?> l -> l.stream().map(Results::jsonValue).collect(Collectors.joining(", ", "[", "]"));
            default -> "\"" + v.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        };
    }

    String markdown() {
        String size = String.format(Locale.ROOT, "%,d pods, %,d services, %d proxies, %d namespaces (%,d pods flipped)",
                config.pods(), config.services(), config.proxies(), config.namespaces(), config.podsIn(0));
        StringBuilder t = new StringBuilder("Control plane: " + size + "\n\n");
        t.append("| figure | value | goal |\n|---|---:|---|\n");
        row(t, "label change → last ACK, p50", ms(p50()), "");
        row(t, "label change → last ACK, p99 (" + config.changes() + " changes)", ms(p99()),
                "< 500 ms " + mark(p99() < P99_GOAL_MS));
        row(t, "… of which: label change → snapshot published (watch, debounce, rebuild), p50",
                ms(percentile(labelToPublishMs, 50)), "");
        row(t, "… of which: publish (a diff and send per stream), p50", ms(percentile(publishMs, 50)), "");
        row(t, "warm-up label changes before those (not in the percentiles)", warmupLabelToLastAckMs.isEmpty() ? "none"
                : warmupLabelToLastAckMs.stream().map(v -> fmt("%.0f", v)).collect(Collectors.joining(", ")) + " ms", "");
        row(t, "istiod-lite heap (after GC, steady state)", mib(heapMib), "< 512 MiB " + mark(heapMib < HEAP_GOAL_MIB));
        row(t, "CPU during the label changes (istiod-lite + API server mock)", fmt("%.2f s", cpuSecondsControlPlane), "");
        row(t, "bytes per proxy, one-pod change", fmt("%.0f B", bytesPerPodChange),
                fmt("~ the pod (its workload: %.0f B) ", workloadResourceBytes) + mark(podChangeProportional()));
        row(t, "bytes per proxy, namespace label change", fmt("%,.0f B", labelChangeBytesPerProxy), "");
        row(t, "pushes per one-pod change", fmt("%.1f", pushesPerPodChange), "");
        row(t, "initial sync of all proxies", fmt("%.2f s", syncSeconds), "");
        row(t, "simulated proxies: CPU during the label changes / heap", fmt("%.2f s / ", cpuSecondsProxies)
                + mib(proxiesHeapMib), "(own JVM)");
        return t.toString();
    }

    private static void row(StringBuilder t, String figure, String value, String goal) {
        t.append("| ").append(figure).append(" | ").append(value).append(" | ").append(goal).append(" |\n");
    }

    private static String mark(boolean met) {
        return met ? "(met)" : "(MISSED)";
    }

    private static String ms(double v) {
        return fmt("%.1f ms", v);
    }

    private static String mib(double v) {
        return fmt("%.1f MiB", v);
    }

    private static String fmt(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
