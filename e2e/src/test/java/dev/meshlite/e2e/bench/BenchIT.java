package dev.meshlite.e2e.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.meshlite.e2e.testing.MeshCommands;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code ./mesh bench} end to end, short: the baseline and ztunnel in dedicated mode (one per pod,
 * the sidecar shape), which the benchmark only measures once a call has arrived over mutual TLS.
 * Checks what it writes, not how fast anything is. Needs root.
 */
@Tag("root")
class BenchIT {

    @Test
    void dedicatedModeCarriesTheLoadOverMutualTlsAndTheRunWritesItsResults() throws Exception {
        MeshCommands.mesh("down");
        Path out = Files.createTempDirectory("bench-it");
        Process bench = new ProcessBuilder(MeshCommands.HOME.resolve("mesh").toString(), "bench", "none", "dedicated",
                "--pods", "1", "--connections", "2", "--seconds", "1", "--warmup", "0", "--iperf-seconds", "1",
                "--out", out.toString()).redirectErrorStream(true).start();
        String said = new String(bench.getInputStream().readAllBytes());
        assertTrue(bench.waitFor(5, TimeUnit.MINUTES), "./mesh bench did not finish:\n" + said);
        assertEquals(0, bench.exitValue(), said);

        JsonNode rows = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertEquals(2, rows.size(), rows.toString());
        JsonNode none = rows.get(0);
        JsonNode dedicated = rows.get(1);
        assertEquals("none", none.get("scenario").asText());
        assertEquals("dedicated", dedicated.get("scenario").asText());
        assertEquals(1000, dedicated.get("requests").asLong(), "one second at 1000 req/s");
        assertEquals(1, dedicated.get("proxies_per_node").asInt(), "one ztunnel for the one pod on the server's node");
        assertTrue(dedicated.get("proxy_rss_mib_per_node").asDouble() > 10, dedicated.toString());
        assertTrue(dedicated.get("proxy_rss_idle_mib_per_node").asDouble() > 10, "read before the load: " + dedicated);
        assertEquals((dedicated.get("proxy_rss_mib_per_node").asDouble() - dedicated.get("proxy_rss_idle_mib_per_node").asDouble()),
                dedicated.get("proxy_rss_growth_mib_per_1000rps").asDouble(), 0.002, "at 1000 req/s");
        assertTrue(dedicated.get("proxy_vcpu_per_1000rps").asDouble() > 0, dedicated.toString());
        assertTrue(dedicated.get("throughput_gbps").asDouble() > 0, dedicated.toString());
        assertEquals(dedicated.get("p99_ms").asDouble() - none.get("p99_ms").asDouble(),
                dedicated.get("added_p99_ms").asDouble(), 0.002);
        for (String png : new String[] {"latency.png", "memory.png"}) {
            assertNotNull(ImageIO.read(out.resolve(png).toFile()), png);
        }
        assertTrue(Files.readString(out.resolve("summary.md")).contains("| dedicated | 1 | 2 |"));
        assertTrue(!Files.exists(Path.of("/run/mesh/apiserver")), "the benchmark left its cluster up");
    }
}
