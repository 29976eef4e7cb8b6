package dev.meshlite.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the demo reads from ztunnel: Prometheus text lines and access-log lines, as ztunnel writes them. */
class DemoTest {

    private static final String OPENED = "istio_tcp_connections_opened_total{connection_security_policy=\"mutual_tls\","
            + "destination_principal=\"spiffe://cluster.local/ns/shop/sa/default\",reporter=\"destination\","
            + "response_flags=\"-\",source_principal=\"spiffe://cluster.local/ns/legacy/sa/default\"} 6.0";

    @Test
    void seriesHasItsNameLabelsAndValue() {
        ZtunnelEvidence.Series s = ZtunnelEvidence.Series.parse("node-2", OPENED).orElseThrow();
        assertEquals("istio_tcp_connections_opened_total", s.name());
        assertEquals("spiffe://cluster.local/ns/legacy/sa/default", s.labels().get("source_principal"));
        assertEquals("-", s.labels().get("response_flags"));
        assertEquals(6.0, s.value());
        assertEquals("istio_tcp_connections_opened_total{reporter=\"destination\",connection_security_policy=\"mutual_tls\",...} 6",
                s.show("reporter", "connection_security_policy", "absent"));
    }

    @Test
    void seriesLabelValuesKeepEscapedQuotesCommasAndBraces() {
        ZtunnelEvidence.Series s = ZtunnelEvidence.Series.parse("node-1", "m{a=\"x\\\"y,}\",b=\"\\\\\"} 1 1700000000000").orElseThrow();
        assertEquals(Map.of("a", "x\"y,}", "b", "\\"), s.labels());
        assertEquals(1.0, s.value());
    }

    @Test
    void seriesWithoutLabelsCommentsAndMalformedLines() {
        assertEquals(Map.of(), ZtunnelEvidence.Series.parse("node-1", "up 1").orElseThrow().labels());
        assertEquals(Double.POSITIVE_INFINITY, ZtunnelEvidence.Series.parse("node-1", "x{le=\"+Inf\"} +Inf").orElseThrow().value());
        assertTrue(ZtunnelEvidence.Series.parse("node-1", "# TYPE up gauge").isEmpty());
        assertTrue(ZtunnelEvidence.Series.parse("node-1", "").isEmpty());
        assertThrows(IllegalArgumentException.class, () -> ZtunnelEvidence.Series.parse("node-1", "m{a=b} 1"));
        assertThrows(IllegalArgumentException.class, () -> ZtunnelEvidence.Series.parse("node-1", "lonely"));
    }

    @Test
    void growthIsPerSeriesAndCountsNewSeriesFromZero() {
        ZtunnelEvidence.Series a1 = ZtunnelEvidence.Series.parse("node-1", "c{k=\"a\"} 3").orElseThrow();
        ZtunnelEvidence.Series a2 = ZtunnelEvidence.Series.parse("node-1", "c{k=\"a\"} 5").orElseThrow();
        ZtunnelEvidence.Series b = ZtunnelEvidence.Series.parse("node-1", "c{k=\"b\"} 4").orElseThrow();
        ZtunnelEvidence.Series otherNode = ZtunnelEvidence.Series.parse("node-2", "c{k=\"a\"} 3").orElseThrow();
        ZtunnelEvidence.Scrape before = new ZtunnelEvidence.Scrape(List.of(a1, otherNode));
        ZtunnelEvidence.Scrape after = new ZtunnelEvidence.Scrape(List.of(a2, b, otherNode));
        assertEquals(6, after.since(before, s -> s.is("c")));
        assertEquals(2, after.since(before, s -> s.has("k", "a")));
    }

    @Test
    void accessLineFieldsAsZtunnelWritesThem() {
        String line = "16:07:19.501 INFO  [ztunnel-1-1] access: time=2026-11-22T16:07:19.501432098Z direction=inbound "
                + "src.addr=10.244.1.3 src.workload=client src.identity=spiffe://cluster.local/ns/legacy/sa/default "
                + "dst.addr=10.244.1.2:8080 dst.identity=spiffe://cluster.local/ns/shop/sa/default via=\"hbone 10.244.1.2:15008\" "
                + "bytes_sent=0 duration_ms=0 error=\"DENY: denied by shop/deny-legacy\"";
        ZtunnelEvidence.AccessLine a = ZtunnelEvidence.AccessLine.parse("ztunnel-node-1.log", line).orElseThrow();
        assertEquals("inbound", a.fields().get("direction"));
        assertEquals("spiffe://cluster.local/ns/legacy/sa/default", a.fields().get("src.identity"));
        assertEquals("hbone 10.244.1.2:15008", a.fields().get("via"));
        assertEquals("DENY: denied by shop/deny-legacy", a.fields().get("error"));
        assertEquals(Instant.parse("2026-11-22T16:07:19.501432098Z"), a.time().orElseThrow());
        assertTrue(a.text().startsWith("time="));
        assertTrue(ZtunnelEvidence.AccessLine.parse("f", "16:07:18.955 INFO  [main] Ztunnel: serving pod shop/backend").isEmpty());
    }
}
