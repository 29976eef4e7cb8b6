package dev.meshlite.istiod.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmark end to end at a tiny size: the JSON it writes has every figure, and they are sane. */
class ControlPlaneBenchIT {

    @Test
    void aTinyRunWritesEveryFigure(@TempDir Path dir) throws Exception {
        BenchConfig config = new BenchConfig(200, 20, 10, 4, 2, 3, 2, Duration.ofSeconds(60), dir);
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        Results r = ControlPlaneBench.run(config, new PrintStream(progress, true));
        Path json = ControlPlaneBench.write(r);

        assertEquals(dir, json.getParent().getParent());
        assertEquals("control-plane.json", json.getFileName().toString());
        @SuppressWarnings("unchecked")
        Map<String, Object> f = Serialization.unmarshal(Files.readString(json), Map.class);
        assertEquals(200, number(f, "pods").intValue());
        assertEquals(20, number(f, "services").intValue());
        assertEquals(10, number(f, "proxies").intValue(), "every proxy synced: the run waits for all of them");
        assertEquals(3, ((List<?>) f.get("label_to_last_ack_ms")).size());
        assertEquals(2, ((List<?>) f.get("warmup_label_to_last_ack_ms")).size(), "warm-ups reported apart");
        double p50 = number(f, "label_to_last_ack_ms_p50").doubleValue();
        double p99 = number(f, "label_to_last_ack_ms_p99").doubleValue();
        assertTrue(p50 > 0 && p50 <= p99, "0 < p50 " + p50 + " <= p99 " + p99);
        assertTrue(number(f, "heap_mib").doubleValue() > 0, "heap_mib " + f.get("heap_mib"));
        double podChange = number(f, "bytes_per_pod_change").doubleValue();
        double workload = number(f, "workload_resource_bytes").doubleValue();
        assertTrue(podChange > 0 && workload > 0 && podChange < Results.POD_CHANGE_OVERHEAD_FACTOR * workload,
                "one pod's bytes " + podChange + " vs its workload's " + workload);
        assertTrue(number(f, "label_change_bytes_per_proxy").doubleValue() > 10 * workload,
                "a 50-pod namespace flip carries its pods");
        assertTrue(number(f, "cpu_seconds").doubleValue() > 0);
        assertTrue(r.markdown().contains("| label change → last ACK, p99"), r.markdown());
    }

    private static Number number(Map<String, Object> f, String key) {
        assertTrue(f.get(key) instanceof Number, key + ": " + f.get(key));
        return (Number) f.get(key);
    }
}
