package dev.meshlite.e2e.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportTest {

    private static Row row(String scenario, int conns, int pods, double p50, double p90, double p99, double rss) {
        // idle 30 MiB less than loaded, at 2000 req/s: 15 MiB more per 1000 req/s
        return new Row(scenario, conns, pods, p50, p90, p99, p99 * 2, 8000, null, null, null, 3.5, 0.2, rss,
                scenario.equals("none") ? 0 : scenario.equals("ambient") ? 1 : pods, scenario.equals("none") ? 0 : 2,
                scenario.equals("none") ? 0 : rss - 30, 2000);
    }

    private static final List<Row> ROWS = List.of(
            row("none", 2, 1, 0.10, 0.20, 1.00, 0), row("ambient", 2, 1, 0.40, 0.60, 3.00, 170),
            row("dedicated", 2, 1, 0.50, 0.70, 3.50, 150), row("ambient", 16, 1, 0.45, 0.65, 3.20, 171),
            row("none", 2, 50, 0.12, 0.22, 1.10, 0), row("ambient", 2, 50, 0.41, 0.61, 3.10, 190),
            row("dedicated", 2, 50, 0.60, 0.90, 5.00, 7000));

    @Test
    void addedLatencyIsAgainstNoneAtTheSamePodsAndConnections() {
        List<Row> rows = DataPlaneBench.withBaselines(ROWS);
        Row ambient = rows.get(1);
        assertEquals(0.30, ambient.addedP50Ms(), 1e-9);
        assertEquals(0.40, ambient.addedP90Ms(), 1e-9);
        assertEquals(2.00, ambient.addedP99Ms(), 1e-9);
        assertEquals(2.00, rows.get(5).addedP99Ms(), 1e-9, "50 pods compares with none at 50 pods");
        assertNull(rows.get(3).addedP99Ms(), "no none row at 16 connections: nothing to add to");
        assertEquals(0.0, rows.get(0).addedP99Ms(), 1e-9);
    }

    @Test
    void summaryJsonHasTheFieldsOperatorsScriptsRead(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("summary.json");
        Report.writeJson(file, DataPlaneBench.withBaselines(ROWS));
        JsonNode json = new ObjectMapper().readTree(file.toFile());
        assertEquals(ROWS.size(), json.size());
        for (JsonNode r : json) {
            for (String field : List.of("scenario", "connections", "pods_per_node", "p50_ms", "p90_ms", "p99_ms",
                    "added_p99_ms", "throughput_gbps", "proxy_vcpu_per_1000rps", "proxy_rss_mib_per_node")) {
                assertTrue(r.has(field), field + " missing in " + r);
            }
        }
        JsonNode dedicated50 = json.get(6);
        assertEquals("dedicated", dedicated50.get("scenario").asText());
        assertEquals(50, dedicated50.get("pods_per_node").asInt());
        assertEquals(3.9, dedicated50.get("added_p99_ms").asDouble(), 1e-9);
        assertEquals(140.0, dedicated50.get("proxy_rss_mib_per_pod").asDouble(), 1e-9);
        // two proxies on every meshed request's path: each is charged half of the scenario's CPU
        assertEquals(2, dedicated50.get("proxies_on_path").asInt());
        assertEquals(0.1, dedicated50.get("proxy_vcpu_per_1000rps_per_proxy").asDouble(), 1e-9);
        assertEquals("none", json.get(0).get("scenario").asText());
        assertTrue(json.get(0).get("proxy_vcpu_per_1000rps_per_proxy").isNull(), "no proxy, no per-proxy figure");
        assertTrue(json.get(3).get("added_p99_ms").isNull());
        assertEquals(6970.0, dedicated50.get("proxy_rss_idle_mib_per_node").asDouble(), 1e-9);
        assertEquals(15.0, dedicated50.get("proxy_rss_growth_mib_per_1000rps").asDouble(), 1e-9,
                "the load's memory, per 1000 req/s of it");
        assertTrue(json.get(0).get("proxy_rss_growth_mib_per_1000rps").isNull(), "no proxy, no growth");
    }

    @Test
    void markdownShowsEveryRowAndTheAnchors() {
        String md = Report.markdown("t", "machine", "load", DataPlaneBench.withBaselines(ROWS), "./mesh bench");
        assertEquals(ROWS.size(), md.lines().filter(l -> l.matches("\\| (none|ambient|dedicated) \\|.*")).count(), md);
        assertTrue(md.contains("| dedicated | 50 | 2 | 0.600 | 0.900 | 5.000 | +0.480 | +0.680 | +3.900 |"), md);
        assertTrue(md.contains("| none | 50 | 2 | 0.120 | 0.220 | 1.100 | – | – | – |"), md);
        assertTrue(md.contains("| 7000.0 | 140.0 | 6970.0 | +15.0 |"), md);
        assertTrue(md.contains("Istio 1.24 ztunnel"), md);
        assertTrue(md.contains("Reproduce: `./mesh bench`"), md);
    }

    @Test
    void plotsArePngsOfTheRun(@TempDir Path dir) throws Exception {
        Plots.latency(dir.resolve("latency.png"), DataPlaneBench.withBaselines(ROWS));
        Plots.memory(dir.resolve("memory.png"), DataPlaneBench.withBaselines(ROWS));
        for (String name : List.of("latency.png", "memory.png")) {
            BufferedImage img = ImageIO.read(dir.resolve(name).toFile());
            assertNotNull(img, name + " is not a readable PNG");
            assertEquals(1100, img.getWidth());
            assertTrue(Files.size(dir.resolve(name)) > 5_000, name + " looks empty");
        }
    }
}
