package dev.meshlite.cni.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The plugin's protocol: env and stdin in, one JSON document or nothing out, exit code. */
class CniPluginTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PREV = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/p\"}],"
            + "\"ips\":[{\"address\":\"10.244.1.7/24\",\"gateway\":\"10.244.1.1\",\"interface\":0}],\"dns\":{}}";

    @TempDir
    Path dir;

    record Outcome(int exit, String stdout) {
        JsonNode json() throws Exception {
            return JSON.readTree(stdout);
        }
    }

    private String config(String extra) {
        return "{\"cniVersion\":\"1.0.0\",\"name\":\"mesh-pods\",\"type\":\"mesh-cni\",\"agent_socket\":\"" + dir.resolve("agent.sock")
                + "\",\"log_file\":\"" + dir.resolve("cni.log") + "\"" + extra + "}";
    }

    private Outcome run(String command, String namespace, String stdin) throws Exception {
        Map<String, String> env = new HashMap<>();
        if (command != null) {
            env.put("CNI_COMMAND", command);
        }
        env.put("CNI_CONTAINERID", "c1");
        env.put("CNI_NETNS", "/run/netns/p");
        env.put("CNI_IFNAME", "eth0");
        env.put("CNI_PATH", "/usr/lib/cni");
        env.put("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + namespace + ";K8S_POD_NAME=web-1;K8S_POD_UID=u-1");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit = new CniPlugin(env, new PrintStream(out, true, StandardCharsets.UTF_8))
                .run(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
        return new Outcome(exit, out.toString(StandardCharsets.UTF_8).strip());
    }

    @Test
    void versionListsWhatItSpeaks() throws Exception {
        Outcome o = run("VERSION", "shop", "{\"cniVersion\":\"1.0.0\"}");
        assertEquals(0, o.exit());
        assertTrue(o.json().path("supportedVersions").toString().contains("1.0.0"), o.stdout());
    }

    @Test
    void addAsksTheAgentAndPassesThePreviousResultThroughUnchanged() throws Exception {
        try (FakeAgent agent = new FakeAgent(dir.resolve("agent.sock"), r -> "{\"result\":\"captured\"}")) {
            Outcome o = run("ADD", "shop", config(",\"prevResult\":" + PREV));
            assertEquals(0, o.exit(), o.stdout());
            assertEquals(JSON.readTree(PREV), o.json());
            JsonNode request = agent.requests.get(0);
            assertEquals("ADD", request.path("command").asText());
            assertEquals("shop", request.path("namespace").asText());
            assertEquals("web-1", request.path("name").asText());
            assertEquals("u-1", request.path("uid").asText());
            assertEquals("/run/netns/p", request.path("netns").asText());
            assertEquals("[\"10.244.1.7\"]", request.path("ips").toString());
        }
        assertTrue(Files.readString(dir.resolve("cni.log")).contains("ADD shop/web-1: captured"));
    }

    @Test
    void thePreviousResultComesOutAsItWentInButForTheVersionAsked() throws Exception {
        String prev = "{\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:01:07\",\"sandbox\":\"/run/netns/p\"}],"
                + "\"ips\":[{\"address\":\"10.244.1.7/24\",\"gateway\":\"10.244.1.1\",\"interface\":0}],"
                + "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"priority\":1.50,\"mtu\":1E3}],\"dns\":{\"nameservers\":[\"10.96.0.10\"]},"
                + "\"cniVersion\":\"0.4.0\",\"x-vendor\":{\"k\":[null,true,\"\\u00e9\\n\"]}}";
        Outcome o = run("ADD", "kube-system", config(",\"prevResult\":" + prev));
        assertEquals(0, o.exit(), o.stdout());
        assertEquals(prev.replace("\"0.4.0\"", "\"1.0.0\"").replace("\\u00e9", "\u00e9"), o.stdout());
        Outcome noVersion = run("ADD", "kube-system", config(",\"prevResult\":{\"ips\":[]}"));
        assertEquals("{\"ips\":[],\"cniVersion\":\"1.0.0\"}", noVersion.stdout());
    }

    @Test
    void anAgentReplyThatIsNotJsonIsRetryable() throws Exception {
        try (FakeAgent agent = new FakeAgent(dir.resolve("agent.sock"), r -> "{\"result\":")) {
            Outcome o = run("ADD", "shop", config(",\"prevResult\":" + PREV));
            assertEquals(1, o.exit());
            assertEquals(11, o.json().path("code").asInt(), o.stdout());
        }
    }

    @Test
    void withoutAnAgentAddIsRetryableAndThePodDoesNotStart() throws Exception {
        Outcome o = run("ADD", "shop", config(",\"prevResult\":" + PREV));
        assertEquals(1, o.exit());
        assertEquals(11, o.json().path("code").asInt());
        assertTrue(o.json().path("msg").asText().contains("not reachable"), o.stdout());
    }

    @Test
    void excludedNamespacesPassThroughWithoutTheAgent() throws Exception {
        Outcome o = run("ADD", "kube-system", config(",\"prevResult\":" + PREV));
        assertEquals(0, o.exit(), o.stdout());
        assertEquals(JSON.readTree(PREV), o.json());
    }

    @Test
    void aRefusalThatCannotBeRetriedIsAnInternalError() throws Exception {
        try (FakeAgent agent = new FakeAgent(dir.resolve("agent.sock"), r -> "{\"error\":\"netns gone\",\"retryable\":false}")) {
            Outcome o = run("ADD", "shop", config(",\"prevResult\":" + PREV));
            assertEquals(1, o.exit());
            assertEquals(999, o.json().path("code").asInt());
            assertTrue(o.json().path("msg").asText().contains("netns gone"));
        }
    }

    @Test
    void delSucceedsEvenWithoutTheAgentAndPrintsNothing() throws Exception {
        Outcome o = run("DEL", "shop", config(""));
        assertEquals(0, o.exit());
        assertEquals("", o.stdout());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "not JSON                 | ADD |  {oops                                                             | 6",
        "unsupported version      | ADD |  {\"cniVersion\":\"9.9\",\"name\":\"n\",\"agent_socket\":\"/a\"}   | 1",
        "no agent socket          | ADD |  {\"cniVersion\":\"1.0.0\",\"name\":\"n\"}                         | 7",
        "not chained              | ADD |  {\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"agent_socket\":\"/a\"}  | 7",
        "unknown command          | FOO |  {\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"agent_socket\":\"/a\"}  | 4",
        "empty stdin              | ADD |  ''                                                                | 6",
        "garbage                  | ADD |  \u0001\u0002not a network configuration {\"cniVersion\":           | 6",
        "trailing garbage         | ADD |  {\"cniVersion\":\"1.0.0\"} x                                      | 6",
        "array, not an object     | ADD |  [1]                                                               | 6",
        "prevResult not an object | ADD |  {\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"agent_socket\":\"/a\",\"prevResult\":[]} | 7",
        "bad exclude_namespaces   | ADD |  {\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"agent_socket\":\"/a\",\"exclude_namespaces\":\"x\"} | 7",
    })
    void badInputIsAClearCniError(String what, String command, String stdin, int code) throws Exception {
        Outcome o = run(command, "shop", stdin.strip());
        assertEquals(1, o.exit(), what);
        assertEquals(code, o.json().path("code").asInt(), what + ": " + o.stdout());
        assertTrue(!o.json().path("msg").asText().isEmpty(), what);
    }
}
