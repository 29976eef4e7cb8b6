package dev.meshlite.ztunnel.metrics;

import static dev.meshlite.ztunnel.Fixtures.id;
import static dev.meshlite.ztunnel.Fixtures.pod;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Istio's TCP metrics and the access log, driven by one connection's bytes. */
class TcpMetricsTest {

    final PrometheusRegistry registry = new PrometheusRegistry();
    final List<String> lines = new ArrayList<>();

    static final AccessLog.Entry ENTRY = new AccessLog.Entry("inbound", "10.244.1.4:5000", "client",
            "spiffe://cluster.local/ns/web/sa/client", "10.244.2.5:8080", "backend",
            "spiffe://cluster.local/ns/shop/sa/backend", null, "hbone");

    double value(String name, String label, String labelValue) {
        for (MetricSnapshot m : registry.scrape()) {
            if (m.getMetadata().getPrometheusName().equals(name) && m instanceof CounterSnapshot c) {
                return c.getDataPoints().stream().filter(d -> labelValue.equals(d.getLabels().get(label)))
                        .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
            }
        }
        return 0;
    }

    @Test
    void countsBytesBothWaysAndLogsOneLineWhenTheConnectionEnds() {
        TcpMetrics metrics = new TcpMetrics(registry, new AccessLog(AccessLog.Format.TEXT, lines::add));
        ConnectionLabels labels = ConnectionLabels.of("destination", pod("client", "web", "10.244.1.4", "client"),
                id("web", "client"), pod("backend", "shop", "10.244.2.5", "backend"), id("shop", "backend"), null, true);
        EmbeddedChannel app = new EmbeddedChannel();
        metrics.track(labels, app, false, ENTRY);
        assertEquals(1, metrics.active());
        app.writeOutbound(Unpooled.copiedBuffer("GET / HTTP/1.1\r\n\r\n", StandardCharsets.US_ASCII)); // to the app
        app.writeInbound(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\n\r\nhello", StandardCharsets.US_ASCII)); // from it
        app.releaseOutbound();
        app.releaseInbound();
        app.close();
        app.runPendingTasks();

        assertEquals(1, value("istio_tcp_connections_opened", "reporter", "destination"));
        assertEquals(1, value("istio_tcp_connections_closed", "connection_security_policy", "mutual_tls"));
        assertEquals(18, value("istio_tcp_sent_bytes", "source_workload", "client"), "what the source sent");
        assertEquals(24, value("istio_tcp_received_bytes", "destination_workload", "backend"), "what it got back");
        assertEquals(0, metrics.active());
        assertEquals(1, lines.size(), lines.toString());
        String line = lines.getFirst();
        assertTrue(line.contains("direction=inbound") && line.contains("bytes_sent=18") && line.contains("bytes_recv=24")
                && line.contains("via=hbone") && !line.contains("error="), line);
    }

    @Test
    void aRefusalIsCountedWithItsFlagAndLogsWhy() throws Exception {
        TcpMetrics metrics = new TcpMetrics(registry, new AccessLog(AccessLog.Format.JSON, lines::add));
        ConnectionLabels labels = ConnectionLabels.of("destination", null, id("batch", "cron"), null, id("shop", "backend"),
                null, true);
        metrics.refused(labels, "DENY", ENTRY, "denied by shop/deny-batch");
        assertEquals(1, value("istio_tcp_connections_opened", "response_flags", "DENY"));
        assertEquals(1, value("istio_tcp_connections_closed", "source_workload", "unknown"));
        JsonNode json = new ObjectMapper().readTree(lines.getFirst());
        assertEquals("DENY: denied by shop/deny-batch", json.get("error").asText());
        assertEquals(0, json.get("bytes_sent").asLong());
        assertEquals("inbound", json.get("direction").asText());
    }

    @Test
    void aFailedConnectionSaysWhyAndIsFlagged() {
        TcpMetrics metrics = new TcpMetrics(registry, new AccessLog(AccessLog.Format.TEXT, lines::add));
        ConnectionLabels labels = ConnectionLabels.of("source", null, id("web", "client"), null, null, null, true);
        EmbeddedChannel app = new EmbeddedChannel();
        TcpMetrics.Tracked t = metrics.track(labels, app, true, ENTRY);
        t.error("cannot connect to 10.244.2.5:15008: Connection refused");
        app.close();
        app.runPendingTasks();
        assertEquals(1, value("istio_tcp_connections_closed", "response_flags", "UF"));
        assertTrue(lines.getFirst().contains("error=\"cannot connect to 10.244.2.5:15008: Connection refused\""),
                lines.getFirst());
    }
}
