package dev.meshlite.ztunnel.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The access log's two forms, byte for byte: log collectors parse them. The JSON form is what
 * Jackson wrote before: compact, members in the entry's order, an absent field left out, counts as
 * numbers and everything else as strings.
 */
class AccessLogTest {

    static final AccessLog.Entry ENTRY = new AccessLog.Entry("outbound", "10.244.1.4:5000", "client",
            "spiffe://cluster.local/ns/web/sa/client", "10.96.0.10:80", "backend",
            "spiffe://cluster.local/ns/shop/sa/backend", "backend.shop.svc.cluster.local", "hbone");

    static Map<String, Object> finished(String error) {
        Map<String, Object> fields = ENTRY.finish(18, 24, Duration.ofMillis(1234), error);
        fields.put("time", "2026-01-02T07:03:09.005Z");
        return fields;
    }

    @Test
    void jsonIsOneCompactObjectPerConnection() {
        List<String> lines = new ArrayList<>();
        AccessLog log = new AccessLog(AccessLog.Format.JSON, lines::add);
        log.log(finished(null));
        log.log(finished("cannot connect to 10.244.2.5:15008: \"refused\"\n"));
        assertEquals(List.of("{\"time\":\"2026-01-02T07:03:09.005Z\",\"direction\":\"outbound\",\"src.addr\":\"10.244.1.4:5000\","
                + "\"src.workload\":\"client\",\"src.identity\":\"spiffe://cluster.local/ns/web/sa/client\","
                + "\"dst.addr\":\"10.96.0.10:80\",\"dst.workload\":\"backend\","
                + "\"dst.identity\":\"spiffe://cluster.local/ns/shop/sa/backend\","
                + "\"dst.service\":\"backend.shop.svc.cluster.local\",\"via\":\"hbone\",\"bytes_sent\":18,\"bytes_recv\":24,"
                + "\"duration_ms\":1234}",
                "{\"time\":\"2026-01-02T07:03:09.005Z\",\"direction\":\"outbound\",\"src.addr\":\"10.244.1.4:5000\","
                + "\"src.workload\":\"client\",\"src.identity\":\"spiffe://cluster.local/ns/web/sa/client\","
                + "\"dst.addr\":\"10.96.0.10:80\",\"dst.workload\":\"backend\","
                + "\"dst.identity\":\"spiffe://cluster.local/ns/shop/sa/backend\","
                + "\"dst.service\":\"backend.shop.svc.cluster.local\",\"via\":\"hbone\",\"bytes_sent\":18,\"bytes_recv\":24,"
                + "\"duration_ms\":1234,\"error\":\"cannot connect to 10.244.2.5:15008: \\\"refused\\\"\\n\"}"), lines);
    }

    @Test
    void textIsKeyValuePairsQuotedWhereASpaceIs() {
        List<String> lines = new ArrayList<>();
        new AccessLog(AccessLog.Format.TEXT, lines::add).log(finished("connect \"refused\""));
        assertEquals(List.of("time=2026-01-02T07:03:09.005Z direction=outbound src.addr=10.244.1.4:5000 src.workload=client "
                + "src.identity=spiffe://cluster.local/ns/web/sa/client dst.addr=10.96.0.10:80 dst.workload=backend "
                + "dst.identity=spiffe://cluster.local/ns/shop/sa/backend dst.service=backend.shop.svc.cluster.local "
                + "via=hbone bytes_sent=18 bytes_recv=24 duration_ms=1234 error=\"connect 'refused'\""), lines);
    }
}
