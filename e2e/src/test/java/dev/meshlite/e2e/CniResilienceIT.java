package dev.meshlite.e2e;

import static dev.meshlite.e2e.testing.MeshCommands.mesh;
import static dev.meshlite.e2e.testing.MeshCommands.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.meshlite.e2e.cluster.Readiness;
import dev.meshlite.e2e.cluster.Sh;
import dev.meshlite.e2e.testing.Await;
import dev.meshlite.e2e.testing.MeshCommands.Run;
import dev.meshlite.e2e.testing.MeshPods;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The CNI agent and plugin when things go wrong, on the local cluster with the mesh (issue 7):
 * a pod created while its node's ztunnel is down waits on a retryable ADD error and never runs
 * uncaptured, then is captured and meshed once ztunnel is back; restarting the node agent applies
 * nothing twice and loses nothing; bad input to the plugin is a CNI error that leaves the pod's
 * network namespace as it found it. Needs root.
 */
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CniResilienceIT {

    private static final Duration BOUND = Duration.ofSeconds(60);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Ambient from the start: its pods are captured in their CNI ADD. */
    private static final String STEADY = "steady";
    /** Labelled once its pods run: they are captured by the agent's enrollment of running pods. */
    private static final String JOINED = "joined";
    private static final String APP = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: steady, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: joined}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: client, namespace: steady}
            spec:
              nodeSelector: {kubernetes.io/hostname: node-2}
              containers: [{name: sleep, image: sample/sleep}]
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: fleet, namespace: steady}
            spec:
              replicas: 4
              selector: {matchLabels: {app: fleet}}
              template:
                metadata: {labels: {app: fleet}}
                spec:
                  containers: [{name: sleep, image: sample/sleep}]
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: crowd, namespace: joined}
            spec:
              replicas: 2
              selector: {matchLabels: {app: crowd}}
              template:
                metadata: {labels: {app: crowd}}
                spec:
                  containers: [{name: sleep, image: sample/sleep}]
            """;
    /** The ADD the plugin logs when the agent refuses it for want of ztunnel (CniError.TRY_AGAIN_LATER). */
    private static final Pattern RETRYABLE_ADD = Pattern.compile("ADD (\\S+) failed: (.*) \\(code 11\\)");

    private static KubernetesClient client;

    @BeforeAll
    static void up() throws Exception {
        mesh("down");
        Run up = mesh("up", "--nodes", "2", "--mesh");
        assertEquals(0, up.exit(), up.out());
        client = MeshCli.client(Path.of("/run/mesh/apiserver/kubeconfig"));
        Path yaml = Files.createTempFile("cni-resilience", ".yaml");
        Files.writeString(yaml, APP);
        Run apply = mesh("kubectl", "apply", "-f", yaml.toString());
        Files.deleteIfExists(yaml);
        assertEquals(0, apply.exit(), apply.out());
        Await.until(BOUND, "the client, 4 fleet and 2 crowd pods ready", () -> meshPods().size() == 7
                && meshPods().stream().allMatch(Readiness::ready));
        assertEquals(0, mesh("kubectl", "label", "ns", JOINED, "istio.io/dataplane-mode=ambient").exit());
        Await.until(BOUND, "every pod enrolled, redirected and served by its node's ztunnel",
                () -> meshPods().stream().allMatch(CniResilienceIT::enrolledAndServed));
    }

    @AfterAll
    static void down() throws Exception {
        if (client != null) {
            client.close();
        }
        mesh("down");
    }

    @Test
    @Order(1)
    void aPodCreatedWhileZtunnelIsDownWaitsOnARetryableAddAndIsMeshedOnceZtunnelIsBack() throws Exception {
        String node = "node-1";
        Path pluginLog = pluginLog(node);
        long logStart = size(pluginLog);
        assertEquals(0, mesh("component", "stop", "ztunnel", "--node", node).exit());
        try {
            client.pods().inNamespace(STEADY).resource(new PodBuilder()
                    .withNewMetadata().withName("late").withNamespace(STEADY).endMetadata()
                    .withNewSpec().addToNodeSelector("kubernetes.io/hostname", node)
                    .addNewContainer().withName("http-echo").withImage("sample/http-echo")
                    .addNewPort().withName("http").withContainerPort(8080).endPort()
                    .withNewReadinessProbe().withNewHttpGet().withPath("/healthz").withPort(new IntOrString("http"))
                    .endHttpGet().withPeriodSeconds(1).endReadinessProbe()
                    .endContainer().endSpec().build()).create();
            String uid = pod(STEADY, "late").getMetadata().getUid();

            // Watched until kubelet-lite has tried (and been refused) three times: the pod must
            // stay down and no process of it may run outside a captured namespace meanwhile.
            Instant deadline = Instant.now().plus(BOUND);
            List<String> refusals = List.of();
            while (refusals.size() < 3 || refusals.stream().noneMatch(r -> r.contains("ztunnel is not connected"))) {
                if (Instant.now().isAfter(deadline)) {
                    fail("not within " + BOUND.toSeconds() + " s: three retryable ADD refusals for steady/late; plugin log:\n"
                            + since(pluginLog, logStart));
                }
                Pod late = pod(STEADY, "late");
                assertFalse(Readiness.ready(late), "steady/late became ready while ztunnel was down");
                assertNotEquals("Running", late.getStatus() == null ? null : late.getStatus().getPhase(),
                        "steady/late runs while ztunnel is down");
                for (long pid : podProcesses(STEADY, "late")) {
                    assertTrue(redirected("/proc/" + pid + "/ns/net"),
                            "process " + pid + " of steady/late runs in a namespace without capture rules");
                }
                for (String sandbox : sandboxes(uid)) {
                    // The node's own tools enter the sandbox too (the CNI plugins, kubelet-lite's
                    // existence check, the launcher before it execs the container): only what
                    // runs as the pod must find the capture rules in place.
                    List<Long> ofPod = new ArrayList<>();
                    for (String pid : Sh.tryRun("ip", "netns", "pids", sandbox).stdout().split("\\s+")) {
                        if (!pid.isBlank() && runsAs(Long.parseLong(pid), STEADY, "late")) {
                            ofPod.add(Long.parseLong(pid));
                        }
                    }
                    assertTrue(ofPod.isEmpty() || redirected("/run/netns/" + sandbox),
                            "processes " + ofPod + " of steady/late in sandbox " + sandbox + " without capture rules");
                }
                refusals = RETRYABLE_ADD.matcher(since(pluginLog, logStart)).results()
                        .filter(m -> m.group(1).equals(STEADY + "/late")).map(m -> m.group(2)).toList();
                Thread.sleep(100);
            }
            assertEquals(List.of(), podProcesses(STEADY, "late"), "no container of steady/late started while refused");
        } finally {
            Run start = mesh("component", "start", "ztunnel", "--node", node);
            assertEquals(0, start.exit(), start.out());
        }

        Await.until(BOUND, "steady/late ready once ztunnel is back", () -> Readiness.ready(pod(STEADY, "late")));
        Await.until(BOUND, "steady/late enrolled and served by ztunnel on " + node, () -> enrolledAndServed(pod(STEADY, "late")));
        Pod late = pod(STEADY, "late");
        assertTrue(since(pluginLog, logStart).contains("ADD " + STEADY + "/late: captured"), since(pluginLog, logStart));
        assertEquals(0, late.getStatus().getContainerStatuses().getFirst().getRestartCount());
        List<Long> processes = podProcesses(STEADY, "late");
        assertFalse(processes.isEmpty(), "no process of steady/late found");
        for (long pid : processes) {
            assertTrue(redirected("/proc/" + pid + "/ns/net"), "process " + pid + " of steady/late is not captured");
        }
        assertTrue(probeRules(node).contains("-d " + late.getStatus().getPodIP() + "/32 "), probeRules(node));

        // A meshed client on the other node reaches it, and its ztunnel receives that in HBONE.
        // The client's ztunnel must know the new pod as an HBONE workload first: until its xDS
        // update arrives it takes the address for an unknown destination and passes it through.
        Pod from = pod(STEADY, "client");
        Await.until(BOUND, "ztunnel on " + from.getSpec().getNodeName() + " knows steady/late as an HBONE workload",
                () -> knownAsHbone(from.getSpec().getNodeName(), late.getStatus().getPodIP()));
        String marker = "after-outage-" + UUID.randomUUID();
        Run call = inPod(from, "curl", "-sS", "--max-time", "5", "http://" + late.getStatus().getPodIP() + ":8080/" + marker);
        assertEquals(0, call.exit(), call.out());
        assertTrue(call.out().contains("pod: late") && call.out().contains(marker), call.out());
        Path ztunnelLog = Path.of("/run/mesh/logs/ztunnel-" + node + ".log");
        try {
            Await.until(BOUND, "ztunnel on " + node + " logs the call as inbound HBONE", () -> {
                try {
                    return Files.readAllLines(ztunnelLog).stream().anyMatch(l -> l.contains("direction=inbound")
                            && l.contains("via=hbone") && l.contains("src.addr=" + from.getStatus().getPodIP() + " ")
                            && l.contains("dst.addr=" + late.getStatus().getPodIP() + ":8080"));
                } catch (IOException e) {
                    return false;
                }
            });
        } catch (AssertionError e) {
            // What both ztunnels logged about the two pods tells a passthrough from a lost line.
            String ips = Pattern.quote(from.getStatus().getPodIP()) + "|" + Pattern.quote(late.getStatus().getPodIP());
            throw new AssertionError(e.getMessage() + "; ztunnel lines naming the client or steady/late, " + node + ":\n"
                    + linesMatching(ztunnelLog, ips) + "\n" + from.getSpec().getNodeName() + ":\n"
                    + linesMatching(Path.of("/run/mesh/logs/ztunnel-" + from.getSpec().getNodeName() + ".log"), ips), e);
        }
    }

    /** Whether ztunnel on {@code node} holds a workload at {@code ip} that speaks HBONE. */
    static boolean knownAsHbone(String node, String ip) {
        try {
            for (JsonNode w : MeshPods.configDump(node).path("workloads")) {
                for (JsonNode a : w.path("addresses")) {
                    if (a.asText().equals(ip) && "HBONE".equals(w.path("protocol").asText())) {
                        return true;
                    }
                }
            }
            return false;
        } catch (Exception e) {
            return false; // not answering yet
        }
    }

    /** The last 40 lines of a log that match a pattern, for a failure message. */
    static String linesMatching(Path log, String regex) {
        try {
            Pattern p = Pattern.compile(regex);
            List<String> hits = Files.readAllLines(log).stream().filter(l -> p.matcher(l).find()).toList();
            return String.join("\n", hits.subList(Math.max(0, hits.size() - 40), hits.size()));
        } catch (IOException e) {
            return "(" + log + " unreadable: " + e.getMessage() + ")";
        }
    }

    @Test
    @Order(2)
    void restartingTheAgentAppliesNothingTwiceAndLosesNothing() throws Exception {
        String node = "node-1";
        Await.until(BOUND, "every pod enrolled and served before the restart",
                () -> meshPods().stream().allMatch(CniResilienceIT::enrolledAndServed));
        List<Pod> enrolled = meshPods();
        long onNode = enrolled.stream().filter(p -> node.equals(p.getSpec().getNodeName())).count();
        assertTrue(onNode >= 2, "only " + onNode + " enrolled pod(s) on " + node);
        Map<String, NetnsState> before = netnsStates(enrolled);
        Map<String, String> probesBefore = Map.of("node-1", probeRules("node-1"), "node-2", probeRules("node-2"));
        Map<String, String> lifetimes = lifetimes();
        // The invariants themselves, so that "unchanged" below means "still exactly one copy".
        before.forEach(CniResilienceIT::assertOneCopy);
        assertOneProbeRulePerPod(enrolled);

        Path agentLog = Path.of("/run/mesh/logs/cni-agent-" + node + ".log");
        long logStart = size(agentLog);
        Run restart = mesh("component", "restart", "cni-agent", "--node", node);
        assertEquals(0, restart.exit(), restart.out());
        // The new agent re-enrolls what the old one had before it opens the handoff socket, so
        // ztunnel's first snapshot from it must carry every pod of the node.
        String expected = "sending a snapshot of " + onNode + " pod(s)";
        Await.until(BOUND, "the restarted agent's snapshot to ztunnel: " + expected, () -> since(agentLog, logStart).contains(expected));
        Await.until(BOUND, "every pod still served by its node's ztunnel",
                () -> meshPods().stream().allMatch(CniResilienceIT::enrolledAndServed));

        List<Pod> after = meshPods();
        assertEquals(names(enrolled), names(after));
        assertEquals(before, netnsStates(after), "a pod's namespace changed across the agent restart");
        assertEquals(probesBefore, Map.of("node-1", probeRules("node-1"), "node-2", probeRules("node-2")),
                "the nodes' probe SNAT changed across the agent restart");
        assertOneProbeRulePerPod(after);
        assertEquals(lifetimes, lifetimes(), "a pod restarted");
        Pod from = pod(STEADY, "client");
        Pod late = pod(STEADY, "late");
        Run call = inPod(from, "curl", "-sS", "--max-time", "5", "http://" + late.getStatus().getPodIP() + ":8080/");
        assertEquals(0, call.exit(), "meshed traffic after the agent restart: " + call.out());
    }

    /** Input a runtime should never send, and the CNI error code it must get back. */
    enum BadInput {
        GARBAGE(6), UNKNOWN_VERSION(1), NO_PREV_RESULT(7);

        final int code;

        BadInput(int code) {
            this.code = code;
        }

        String stdin(ObjectNode pluginConf, JsonNode prevResult) {
            ObjectNode conf = pluginConf.deepCopy();
            return switch (this) {
                case GARBAGE -> "\u0001\u0002not a network configuration {\"cniVersion\": ";
                case UNKNOWN_VERSION -> conf.put("cniVersion", "9.9.9").set("prevResult", prevResult).toString();
                case NO_PREV_RESULT -> conf.toString();
            };
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(BadInput.class)
    @Order(3)
    void badInputIsACniErrorAndLeavesThePodsNamespaceUntouched(BadInput input) throws Exception {
        // The installed plugin, exec'd as kubelet-lite's runtime does, for a real ambient pod: if
        // the bad input slipped through to the agent, it would capture the sandbox given here.
        String node = "node-2";
        Pod target = pod(STEADY, "client");
        Path exe = Path.of("/run/mesh/nodes/" + node + "/cni-bin/mesh-cni");
        assertTrue(Files.isExecutable(exe), exe + " not installed");
        JsonNode conflist = JSON.readTree(Path.of("/run/mesh/nodes/" + node + "/net.d/10-mesh.conflist").toFile());
        ObjectNode conf = null;
        for (JsonNode plugin : conflist.path("plugins")) {
            if (plugin.path("type").asText().equals("mesh-cni")) {
                conf = ((ObjectNode) plugin.deepCopy()).put("cniVersion", conflist.path("cniVersion").asText())
                        .put("name", conflist.path("name").asText());
            }
        }
        assertNotNull(conf, "mesh-cni is not chained in " + node + "'s conflist: " + conflist);

        String sandbox = "mesh-cni-bad-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24));
        Sh.run("ip", "netns", "add", sandbox);
        try {
            Sh.run("ip", "netns", "exec", sandbox, "ip", "link", "set", "lo", "up");
            // What an earlier plugin or the pod itself may have put there: it must survive too.
            Sh.run("ip", "netns", "exec", sandbox, "iptables", "-t", "nat", "-A", "OUTPUT", "-d", "192.0.2.1/32",
                    "-p", "tcp", "-j", "RETURN");
            NetnsState before = netnsState(sandbox);
            JsonNode prevResult = JSON.readTree("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/"
                    + sandbox + "\"}],\"ips\":[{\"address\":\"10.255.0.9/24\",\"interface\":0}],\"dns\":{}}");
            Sh.Result r = Sh.exec(List.of(exe.toString()), input.stdin(conf, prevResult), Map.of(
                    "CNI_COMMAND", "ADD", "CNI_CONTAINERID", "bad-input-" + input, "CNI_NETNS", "/run/netns/" + sandbox,
                    "CNI_IFNAME", "eth0", "CNI_PATH", exe.getParent() + ":/usr/lib/cni",
                    "CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + STEADY + ";K8S_POD_NAME=" + target.getMetadata().getName()
                            + ";K8S_POD_UID=" + target.getMetadata().getUid()));

            assertNotEquals(0, r.exitCode(), "exit code; stdout: " + r.stdout());
            List<String> lines = r.stdout().lines().toList();
            assertEquals(1, lines.size(), "expected exactly one line (the error JSON) on stdout: " + r.stdout());
            JsonNode error = JSON.readTree(lines.getFirst());
            assertEquals(input.code, error.path("code").asInt(), error.toString());
            assertFalse(error.path("msg").asText().isBlank(), error.toString());
            assertTrue(error.hasNonNull("cniVersion"), error.toString());
            assertEquals(before, netnsState(sandbox), "the sandbox's namespace changed");
        } finally {
            Sh.tryRun("ip", "netns", "del", sandbox);
        }
        // and the pod named in CNI_ARGS is still what its node's ztunnel serves
        assertTrue(enrolledAndServed(pod(STEADY, target.getMetadata().getName())));
    }

    // ---- what a namespace holds ----

    /** Everything the capture touches in one network namespace, in a comparable form. */
    record NetnsState(List<String> iptables, List<String> rules, List<String> routeTable100, List<String> listeners) {
    }

    static NetnsState netnsState(String netns) {
        List<String> iptables = Sh.run("ip", "netns", "exec", netns, "iptables-save").lines()
                .filter(l -> !l.startsWith("#")).map(l -> l.replaceAll("\\[\\d+:\\d+]", "[0:0]")).toList();
        List<String> rules = Sh.run("ip", "netns", "exec", netns, "ip", "-4", "rule", "show").lines().toList();
        // "show table 100" fails while the table does not exist: the same as empty
        Sh.Result table = Sh.tryRun("ip", "netns", "exec", netns, "ip", "-4", "route", "show", "table", "100");
        List<String> routes = table.ok() ? table.stdout().lines().toList() : List.of();
        List<String> listeners = Sh.run("ip", "netns", "exec", netns, "ss", "-ltnH").lines()
                .map(l -> l.trim().split("\\s+")[3]).sorted().toList();
        return new NetnsState(iptables, rules, routes, listeners);
    }

    static Map<String, NetnsState> netnsStates(List<Pod> pods) {
        Map<String, NetnsState> states = new TreeMap<>();
        for (Pod p : pods) {
            states.put(key(p), netnsState(netns(p)));
        }
        return states;
    }

    /** One copy of each jump into our chains, of the policy routing, and of each ztunnel listener. */
    static void assertOneCopy(String pod, NetnsState s) {
        for (String table : List.of("mangle", "nat")) {
            List<String> section = tableSection(s.iptables(), table);
            for (String jump : List.of("-A PREROUTING -j ISTIO_PRERT", "-A OUTPUT -j ISTIO_OUTPUT")) {
                assertEquals(1, section.stream().filter(jump::equals).count(), pod + " " + table + ": " + jump + "\n" + section);
            }
            List<String> ours = section.stream().filter(l -> l.startsWith("-A ISTIO_")).toList();
            assertEquals(ours.stream().distinct().toList(), ours, pod + " " + table + ": a rule of ours twice");
        }
        assertEquals(1, s.rules().stream().filter(r -> r.contains("lookup 100")).count(), pod + ": " + s.rules());
        assertEquals(1, s.routeTable100().size(), pod + ": " + s.routeTable100());
        for (String port : List.of(":15001", ":15006", ":15008")) {
            assertEquals(1, s.listeners().stream().filter(l -> l.endsWith(port)).count(), pod + " listeners " + s.listeners());
        }
    }

    static List<String> tableSection(List<String> iptablesSave, String table) {
        int start = iptablesSave.indexOf("*" + table);
        assertTrue(start >= 0, "no " + table + " table in " + iptablesSave);
        int end = iptablesSave.subList(start, iptablesSave.size()).indexOf("COMMIT");
        return iptablesSave.subList(start, start + end);
    }

    /** Each node's MESH-PROBE-SNAT holds exactly one rule per enrolled pod on it, and nothing else. */
    static void assertOneProbeRulePerPod(List<Pod> pods) throws Exception {
        for (String node : List.of("node-1", "node-2")) {
            List<String> rules = probeRules(node).lines().filter(l -> l.startsWith("-A ")).toList();
            List<String> ips = pods.stream().filter(p -> node.equals(p.getSpec().getNodeName()))
                    .map(p -> p.getStatus().getPodIP()).sorted().toList();
            List<String> targets = rules.stream().map(r -> r.split("\\s+")[3].replace("/32", "")).sorted().toList();
            assertEquals(ips, targets, node + " MESH-PROBE-SNAT:\n" + String.join("\n", rules));
            long hooks = run(List.of("ip", "netns", "exec", "mesh-" + node, "iptables", "-t", "nat", "-S", "POSTROUTING"))
                    .out().lines().filter(l -> l.equals("-A POSTROUTING -j MESH-PROBE-SNAT")).count();
            assertEquals(1, hooks, node + ": jumps from POSTROUTING into MESH-PROBE-SNAT");
        }
    }

    static String probeRules(String node) throws Exception {
        return run(List.of("ip", "netns", "exec", "mesh-" + node, "iptables", "-t", "nat", "-S", "MESH-PROBE-SNAT")).out();
    }

    static boolean redirected(String netnsPath) {
        return Sh.tryRun("nsenter", "--net=" + netnsPath, "iptables", "-t", "nat", "-S", "ISTIO_OUTPUT").stdout()
                .contains("--to-ports 15001");
    }

    // ---- pods ----

    static List<Pod> meshPods() {
        List<Pod> pods = new ArrayList<>(client.pods().inNamespace(STEADY).list().getItems());
        pods.addAll(client.pods().inNamespace(JOINED).list().getItems());
        return pods;
    }

    static Pod pod(String ns, String name) {
        return client.pods().inNamespace(ns).withName(name).get();
    }

    static String key(Pod p) {
        return p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
    }

    static List<String> names(List<Pod> pods) {
        return pods.stream().map(CniResilienceIT::key).sorted().toList();
    }

    static String netns(Pod p) {
        return p.getMetadata().getAnnotations().get("mesh.local/netns");
    }

    /** Annotated, its namespace redirected, and listed by its node's ztunnel. */
    static boolean enrolledAndServed(Pod p) {
        if (p == null || p.getMetadata().getAnnotations() == null || netns(p) == null || p.getStatus().getPodIP() == null) {
            return false;
        }
        return "enabled".equals(p.getMetadata().getAnnotations().get("ambient.istio.io/redirection"))
                && redirected("/run/netns/" + netns(p))
                && configDump(p.getSpec().getNodeName()).contains("\"ip\" : \"" + p.getStatus().getPodIP() + "\"");
    }

    static String configDump(String node) {
        return Sh.tryRun("ip", "netns", "exec", "mesh-" + node, "curl", "-sS", "--max-time", "3",
                "http://127.0.0.1:15000/config_dump").stdout();
    }

    static Run inPod(Pod p, String... cmd) throws Exception {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", netns(p)));
        argv.addAll(List.of(cmd));
        return run(argv);
    }

    /** What must not change: uid, start time, restart count and container of every pod. */
    static Map<String, String> lifetimes() {
        return meshPods().stream().collect(Collectors.toMap(CniResilienceIT::key,
                p -> p.getMetadata().getUid() + " " + p.getStatus().getStartTime() + " "
                        + p.getStatus().getContainerStatuses().getFirst().getRestartCount() + " "
                        + p.getStatus().getContainerStatuses().getFirst().getContainerID()));
    }

    /** The processes that are containers of {@code ns/name} (see {@link #runsAs}). */
    static List<Long> podProcesses(String ns, String name) throws IOException {
        List<Long> pids = new ArrayList<>();
        try (DirectoryStream<Path> proc = Files.newDirectoryStream(Path.of("/proc"),
                p -> p.getFileName().toString().chars().allMatch(Character::isDigit))) {
            for (Path p : proc) {
                long pid = Long.parseLong(p.getFileName().toString());
                if (runsAs(pid, ns, name)) {
                    pids.add(pid);
                }
            }
        }
        return pids;
    }

    /**
     * Whether process {@code pid} is (or is about to exec) a container of {@code ns/name}:
     * kubelet-lite starts every container with POD_NAMESPACE and POD_NAME in its environment,
     * passed as arguments to its launcher ({@code ip netns exec ... env -i ...}), so either the
     * environment or the command line names the pod. A process that exited meanwhile is not.
     */
    static boolean runsAs(long pid, String ns, String name) {
        Path proc = Path.of("/proc", Long.toString(pid));
        for (String file : List.of("environ", "cmdline")) {
            try {
                List<String> entries = Arrays.asList(new String(Files.readAllBytes(proc.resolve(file)), StandardCharsets.UTF_8).split("\0"));
                if (entries.contains("POD_NAMESPACE=" + ns) && entries.contains("POD_NAME=" + name)) {
                    return true;
                }
            } catch (IOException gone) {
                return false;
            }
        }
        return false;
    }

    /** The network namespaces kubelet-lite made for the pod with this uid (named after its last 8 characters). */
    static List<String> sandboxes(String uid) {
        String prefix = "mesh-pod-" + uid.substring(uid.length() - 8) + "-";
        return Sh.tryRun("ip", "netns", "list").stdout().lines().map(l -> l.split("\\s+")[0])
                .filter(n -> n.startsWith(prefix)).toList();
    }

    // ---- logs ----

    static Path pluginLog(String node) {
        return Path.of("/run/mesh/nodes/" + node + "/logs/cni-plugin.log");
    }

    static long size(Path file) throws IOException {
        return Files.exists(file) ? Files.size(file) : 0;
    }

    /** What was appended to {@code file} after it was {@code offset} bytes long. */
    static String since(Path file, long offset) {
        try {
            if (!Files.exists(file)) {
                return "";
            }
            byte[] all = Files.readAllBytes(file);
            return offset >= all.length ? "" : new String(all, (int) offset, all.length - (int) offset, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
