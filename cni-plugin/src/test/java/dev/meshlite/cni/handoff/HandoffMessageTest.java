package dev.meshlite.cni.handoff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class HandoffMessageTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final PodInfo POD = new PodInfo("u-1", "web-0", "shop", "web", List.of("10.0.1.5", "fd00::5"));

    private static HandoffMessage decode(String s) throws HandoffMessage.MalformedMessageException {
        return HandoffMessage.decode(s.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void everyMessageRoundTrips() throws Exception {
        for (HandoffMessage m : List.of(new HandoffMessage.Add(POD), new HandoffMessage.SnapshotSent(),
                new HandoffMessage.Del("u-1"), new HandoffMessage.Ack(""), new HandoffMessage.Ack("no such pod"))) {
            assertEquals(m, HandoffMessage.decode(HandoffMessage.encode(m)));
        }
    }

    @Test
    void theWireFormIsTheDocumentedJson() throws Exception {
        JsonNode add = JSON.readTree(HandoffMessage.encode(new HandoffMessage.Add(POD)));
        assertEquals(JSON.readTree("""
                {"type":"add","uid":"u-1","name":"web-0","namespace":"shop","serviceAccount":"web","ips":["10.0.1.5","fd00::5"]}
                """), add);
        assertEquals(JSON.readTree("{\"type\":\"snapshot-sent\"}"), JSON.readTree(HandoffMessage.encode(new HandoffMessage.SnapshotSent())));
        assertEquals(JSON.readTree("{\"type\":\"del\",\"uid\":\"u-1\"}"), JSON.readTree(HandoffMessage.encode(new HandoffMessage.Del("u-1"))));
        assertEquals(JSON.readTree("{\"type\":\"ack\",\"error\":\"\"}"), JSON.readTree(HandoffMessage.encode(new HandoffMessage.Ack(""))));
    }

    @Test
    void unknownFieldsAreIgnored() throws Exception {
        assertEquals(new HandoffMessage.Del("u-9"), decode("{\"type\":\"del\",\"uid\":\"u-9\",\"reason\":\"gone\"}"));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "not json                 | {oops                                   | not JSON",
            "array                    | [1,2]                                   | not a JSON object",
            "empty                    | ''                                      | not a JSON object",
            "no type                  | {\"uid\":\"u\"}                         | missing \"type\"",
            "type not a string        | {\"type\":7}                            | \"type\" is number (expected a string)",
            "unknown type             | {\"type\":\"explode\"}                  | unknown message type \"explode\" (expected add, snapshot-sent, del or ack)",
            "del without uid          | {\"type\":\"del\"}                      | missing \"uid\"",
            "del with empty uid       | {\"type\":\"del\",\"uid\":\"\"}         | \"uid\" is empty",
            "add without name         | {\"type\":\"add\",\"uid\":\"u\",\"namespace\":\"n\",\"serviceAccount\":\"s\",\"ips\":[]}              | missing \"name\"",
            "add without sa           | {\"type\":\"add\",\"uid\":\"u\",\"name\":\"p\",\"namespace\":\"n\",\"ips\":[]}                       | missing \"serviceAccount\"",
            "add without ips          | {\"type\":\"add\",\"uid\":\"u\",\"name\":\"p\",\"namespace\":\"n\",\"serviceAccount\":\"s\"}         | missing \"ips\"",
            "add with a host name ip  | {\"type\":\"add\",\"uid\":\"u\",\"name\":\"p\",\"namespace\":\"n\",\"serviceAccount\":\"s\",\"ips\":[\"example.com\"]} | ips[0] is \"example.com\" (expected an IP address literal)",
            "add with a numeric ip    | {\"type\":\"add\",\"uid\":\"u\",\"name\":\"p\",\"namespace\":\"n\",\"serviceAccount\":\"s\",\"ips\":[17]} | ips[0] is 17",
            "ack without error        | {\"type\":\"ack\"}                      | missing \"error\"",
    })
    void malformedInputIsRejectedWholeWithWhatWasExpected(String what, String packet, String reason) {
        var e = assertThrows(HandoffMessage.MalformedMessageException.class, () -> decode(packet));
        assertTrue(e.getMessage().contains(reason), what + ": " + e.getMessage());
    }

    @Test
    void podInfoCopiesItsIpsAndNeedsAUid() {
        var ips = new java.util.ArrayList<>(List.of("10.0.0.1"));
        PodInfo p = new PodInfo("u", "n", "ns", "sa", ips);
        ips.add("10.0.0.2");
        assertEquals(List.of("10.0.0.1"), p.ips());
        assertThrows(IllegalArgumentException.class, () -> new PodInfo("", "n", "ns", "sa", List.of()));
    }
}
