package dev.meshlite.e2e.apiserver;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TableViewTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Instant NOW = Instant.parse("2026-11-22T12:00:00Z");

    @ParameterizedTest
    @CsvSource({"2026-11-22T11:59:15Z,45s", "2026-11-22T11:56:48Z,3m12s", "2026-11-22T11:30:00Z,30m",
            "2026-11-22T06:57:00Z,5h3m", "2026-11-21T00:00:00Z,36h", "2026-11-18T08:00:00Z,4d4h", "garbage,<unknown>"})
    void agesReadLikeKubectls(String created, String age) {
        assertEquals(age, TableView.age(created, NOW));
    }

    @Test
    void aPodListBecomesRowsWithReadyStatusRestartsAndWideColumns() throws Exception {
        JsonNode list = JSON.readTree("""
                {"kind":"List","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"web","namespace":"shop",
                "creationTimestamp":"2026-11-22T11:59:00Z","labels":{"app":"web"}},
                "spec":{"nodeName":"node-2","containers":[{"name":"a"},{"name":"b"}]},
                "status":{"phase":"Running","podIP":"10.244.2.7","containerStatuses":[
                  {"name":"a","ready":true,"restartCount":2,"state":{"running":{}}},
                  {"name":"b","ready":false,"restartCount":1,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}]}""");
        JsonNode table = JSON.readTree(TableView.of(list, "Pod", NOW));
        assertEquals("Table", table.path("kind").asText());
        assertEquals("[\"web\",\"1/2\",\"CrashLoopBackOff\",3,\"60s\",\"10.244.2.7\",\"node-2\"]",
                table.path("rows").path(0).path("cells").toString());
        assertEquals(1, table.path("columnDefinitions").path(5).path("priority").asInt());
        assertEquals("shop", table.path("rows").path(0).path("object").path("metadata").path("namespace").asText());
    }
}
