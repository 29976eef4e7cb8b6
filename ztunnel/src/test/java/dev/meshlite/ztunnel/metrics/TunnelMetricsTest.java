package dev.meshlite.ztunnel.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.meshlite.hbone.metrics.HboneMetrics;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The HBONE counters as an operator's scrape shows them: names, labels and current values. */
class TunnelMetricsTest {

    @Test
    void retriesAndHandshakeFailuresAreReadAtScrapeTime() throws Exception {
        HboneMetrics hbone = new HboneMetrics();
        PrometheusRegistry registry = new PrometheusRegistry();
        TunnelMetrics.register(registry, hbone);
        hbone.streamRetried();
        hbone.streamRetried();
        hbone.handshakeFailed(HboneMetrics.HandshakeFailure.EXPIRED_CERTIFICATE);

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        List<String> samples = out.toString(StandardCharsets.UTF_8).lines().filter(l -> !l.startsWith("#")).toList();
        assertEquals(2.0, value(samples, "meshlite_ztunnel_hbone_connect_retries_total "));
        assertEquals(1.0, value(samples, "meshlite_ztunnel_hbone_handshake_failures_total{reason=\"expired_certificate\"} "));
        assertEquals(0.0, value(samples, "meshlite_ztunnel_hbone_handshake_failures_total{reason=\"identity_rejected\"} "),
                "every reason is present from the start, so a rate() sees the first failure");
    }

    static double value(List<String> samples, String prefix) {
        return samples.stream().filter(l -> l.startsWith(prefix)).map(l -> Double.parseDouble(l.substring(prefix.length())))
                .findFirst().orElseThrow(() -> new AssertionError(prefix + " not in " + samples));
    }
}
