package dev.meshlite.cni.json;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The project's own JSON reader and writer, checked against RFC 8259 and against Jackson. */
class JsonTest {

    private static final ObjectMapper JACKSON = new ObjectMapper();

    @Test
    void readsEveryKindOfValue() throws Exception {
        Map<String, Object> m = Json.parseObject(" {\"s\":\"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\",\"n\":-12.5e+3,\"z\":0,"
                + "\"t\":true,\"f\":false,\"nil\":null,\"a\":[1,[],{}],\"o\":{\"k\":\"v\"}}\n");
        assertEquals("a\"b\\c/d\né\uD83D\uDE00", m.get("s"));
        assertEquals(new Json.Num("-12.5e+3"), m.get("n"));
        assertEquals(new Json.Num("0"), m.get("z"));
        assertEquals(Boolean.TRUE, m.get("t"));
        assertEquals(Boolean.FALSE, m.get("f"));
        assertTrue(m.containsKey("nil"));
        assertNull(m.get("nil"));
        assertEquals(List.of(new Json.Num("1"), List.of(), Map.of()), m.get("a"));
        assertEquals(Map.of("k", "v"), m.get("o"));
    }

    @Test
    void writesWhatItReadMembersInOrderNumbersAsWritten() throws Exception {
        String prev = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"aa:bb\",\"sandbox\":\"/run/netns/p\"}],"
                + "\"ips\":[{\"address\":\"10.244.1.7/24\",\"gateway\":\"10.244.1.1\",\"interface\":0}],"
                + "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"priority\":1.50,\"mtu\":1E3}],\"dns\":{},\"x\":[null,true,false,-0]}";
        assertEquals(prev, Json.write(Json.parse(prev)));
        String spaced = "{ \"b\" : 1 ,\n\t\"a\" : [ 2 , 3 ] }";
        assertEquals("{\"b\":1,\"a\":[2,3]}", Json.write(Json.parse(spaced)));
    }

    @Test
    void escapesLikeJacksonAndReadsBackTheSameString() throws Exception {
        StringBuilder all = new StringBuilder();
        for (char c = 0; c < 0x80; c++) {
            all.append(c);
        }
        all.append("é€\uD83D\uDE00\u2028");
        String s = all.toString();
        String written = Json.write(s);
        assertEquals(JACKSON.writeValueAsString(s), written);
        assertEquals(s, Json.parse(written));
    }

    @Test
    void aRepeatedKeyKeepsItsFirstPlaceAndItsLastValue() throws Exception {
        assertEquals("{\"a\":3,\"b\":2}", Json.write(Json.parse("{\"a\":1,\"b\":2,\"a\":3}")));
    }

    @Test
    void writesTheTypesThePluginBuilds() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("code", 11);
        m.put("list", List.of("0.3.0", "1.0.0"));
        m.put("none", null);
        assertEquals("{\"code\":11,\"list\":[\"0.3.0\",\"1.0.0\"],\"none\":null}", Json.write(m));
        assertThrows(IllegalArgumentException.class, () -> Json.write(new Object()));
    }

    /** What ztunnel writes: its numbers, nested and empty containers, maps keyed by port. */
    private static Map<String, Object> proxyDocument() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("connected", true);
        m.put("seconds", 1.5);
        m.put("large", 1e20);
        m.put("tenth", 0.1);
        m.put("inode", 4026531840L);
        m.put("count", 3);
        m.put("none", null);
        m.put("text", "tab\there \"quoted\" \u0001 é");
        m.put("emptyObject", Map.of());
        m.put("emptyArray", List.of());
        m.put("ports", Map.of(80, 8080));
        m.put("nested", Map.of("inner", Map.of("deepest", List.of("a"))));
        m.put("objects", List.of(Map.of("uid", "u-1", "listening", List.of(15001, 15006)), Map.of()));
        m.put("arrays", List.of(List.of(1, 2), List.of(), List.of(Map.of("k", List.of()))));
        return m;
    }

    @Test
    void writesWhatJacksonWritesCompactAndIndented() throws Exception {
        Map<String, Object> doc = proxyDocument();
        assertEquals(JACKSON.writeValueAsString(doc), Json.write(doc));
        ObjectMapper indenting = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        assertEquals(indenting.writeValueAsString(doc), Json.writeIndented(doc));
        for (Object v : List.of(List.of(), Map.of(), List.of(Map.of("a", 1)), "x", 7L)) {
            assertEquals(indenting.writeValueAsString(v), Json.writeIndented(v));
        }
    }

    @Test
    void theIndentedFormIsTheOneOperatorsGrep() {
        Map<String, Object> pod = new LinkedHashMap<>();
        pod.put("uid", "u-1");
        pod.put("ip", "10.244.1.5");
        pod.put("listening", List.of(15001, 15006));
        Map<String, Object> dump = new LinkedHashMap<>();
        dump.put("pods", List.of(pod));
        dump.put("drainingPods", List.of());
        assertEquals("""
                {
                  "pods" : [ {
                    "uid" : "u-1",
                    "ip" : "10.244.1.5",
                    "listening" : [ 15001, 15006 ]
                  } ],
                  "drainingPods" : [ ]
                }""", Json.writeIndented(dump));
    }

    @Test
    void aNumberJsonCannotHoldIsRefused() {
        for (double d : new double[] {Double.NaN, Double.POSITIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class, () -> Json.write(d));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "", "   ", "{", "}", "{\"a\":1", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}", "[1,]", "[1 2]",
        "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":NaN}",
        "{\"a\":tru}", "{\"a\":nulll}", "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}", "{\"a\":\"\u0001\"}", "{} {}", "{}x", "{\"a\":1}/* c */", "\u0001\u0002not a network configuration",
        "\uFEFF{}",
    })
    void malformedInputIsRefusedWithWhereAndWhatWasExpected(String text) {
        Json.MalformedJsonException e = assertThrows(Json.MalformedJsonException.class, () -> Json.parse(text), text);
        assertTrue(e.getMessage().contains("expected"), e.getMessage());
    }

    @Test
    void deepNestingIsRefusedNotAStackOverflow() {
        String deep = "[".repeat(100_000) + "]".repeat(100_000);
        Json.MalformedJsonException e = assertThrows(Json.MalformedJsonException.class, () -> Json.parse(deep));
        assertTrue(e.getMessage().contains("nested"), e.getMessage());
        String ok = "[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH);
        assertEquals(ok, Json.write(assertDoesNotThrowParse(ok)));
    }

    @Test
    void onlyAnObjectIsAConfiguration() {
        for (String notAnObject : List.of("[]", "\"x\"", "1", "null", "true")) {
            Json.MalformedJsonException e = assertThrows(Json.MalformedJsonException.class, () -> Json.parseObject(notAnObject));
            assertTrue(e.getMessage().contains("expected an object"), e.getMessage());
        }
    }

    @Test
    void textOfAMemberIsItsStringOrItsLiteral() throws Exception {
        Map<String, Object> m = Json.parseObject("{\"s\":\"x\",\"n\":1.0,\"b\":true,\"o\":{},\"a\":[],\"z\":null}");
        assertEquals("x", Json.text(m, "s", "?"));
        assertEquals("1.0", Json.text(m, "n", "?"));
        assertEquals("true", Json.text(m, "b", "?"));
        assertEquals("?", Json.text(m, "o", "?"));
        assertEquals("?", Json.text(m, "a", "?"));
        assertEquals("?", Json.text(m, "z", "?"));
        assertEquals("?", Json.text(m, "missing", "?"));
        assertNull(Json.object(m, "a"));
        assertEquals(List.of(), Json.array(m, "o"));
    }

    private static Object assertDoesNotThrowParse(String text) {
        try {
            return Json.parse(text);
        } catch (Json.MalformedJsonException e) {
            throw new AssertionError(text.length() + " characters: " + e.getMessage(), e);
        }
    }
}
