package dev.meshlite.ztunnel.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The process figures, from a /proc directory written by the test and from the real one. */
class ProcessMetricsTest {

    static Map<String, Double> scrape(PrometheusRegistry registry) {
        MetricSnapshots snapshots = registry.scrape();
        Map<String, Double> values = new HashMap<>();
        for (MetricSnapshot s : snapshots) {
            if (s instanceof GaugeSnapshot g && !g.getDataPoints().isEmpty()) {
                values.put(s.getMetadata().getPrometheusName(), g.getDataPoints().getFirst().getValue());
            } else if (s instanceof CounterSnapshot c && !c.getDataPoints().isEmpty()) {
                values.put(s.getMetadata().getPrometheusName(), c.getDataPoints().getFirst().getValue());
            }
        }
        return values;
    }

    @Test
    void figuresAreReadFromProc(@TempDir Path proc) throws Exception {
        // a command name with spaces and a parenthesis: fields are counted after the last ')'
        Files.writeString(proc.resolve("stat"), "4242 (java (ztunnel) x) S 1 4242 4242 0 -1 4194560 9 0 0 0 "
                + "1234 566 0 0 20 0 21 0 100 1000 100 18446744073709551615\n");
        Files.writeString(proc.resolve("status"), "Name:\tjava\nVmSize:\t 2048000 kB\nVmRSS:\t  110336 kB\nThreads:\t21\n");
        Files.writeString(proc.resolve("limits"), """
                Limit                     Soft Limit           Hard Limit           Units
                Max cpu time              unlimited            unlimited            seconds
                Max open files            1048576              1048576              files
                """);
        Files.createDirectories(proc.resolve("fd"));
        for (int fd = 0; fd < 3; fd++) {
            Files.writeString(proc.resolve("fd").resolve(Integer.toString(fd)), "");
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        new ProcessMetrics(proc).register(registry);
        Map<String, Double> values = scrape(registry);
        assertEquals(18.0, values.get("process_cpu_seconds"), 1e-9, values.toString()); // (1234 + 566) / 100
        assertEquals(110336.0 * 1024, values.get("process_resident_memory_bytes"));
        assertEquals(2048000.0 * 1024, values.get("process_virtual_memory_bytes"));
        assertEquals(3.0, values.get("process_open_fds"));
        assertEquals(1048576.0, values.get("process_max_fds"));
        assertTrue(values.get("process_start_time_seconds") > 1.6e9, values.toString());
    }

    @Test
    void whatCannotBeReadIsLeftOutNotReportedAsZero(@TempDir Path empty) {
        PrometheusRegistry registry = new PrometheusRegistry();
        new ProcessMetrics(empty.resolve("gone")).register(registry);
        Map<String, Double> values = scrape(registry);
        for (String name : new String[] {"process_cpu_seconds", "process_resident_memory_bytes",
                "process_virtual_memory_bytes", "process_open_fds", "process_max_fds"}) {
            assertTrue(!values.containsKey(name), name + " in " + values);
        }
    }

    @Test
    void theRealProcessHasCpuMemoryAndDescriptors() {
        PrometheusRegistry registry = new PrometheusRegistry();
        new ProcessMetrics(Path.of("/proc/self")).register(registry);
        Map<String, Double> values = scrape(registry);
        assertTrue(values.get("process_cpu_seconds") > 0, values.toString());
        assertTrue(values.get("process_resident_memory_bytes") > 16 * 1024 * 1024, values.toString());
        assertTrue(values.get("process_open_fds") >= 3, values.toString());
        assertTrue(values.get("process_max_fds") >= values.get("process_open_fds"), values.toString());
    }
}
