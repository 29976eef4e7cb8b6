package dev.meshlite.e2e;

import static dev.meshlite.e2e.testing.MeshCommands.mesh;
import static dev.meshlite.e2e.testing.MeshCommands.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.e2e.cluster.Readiness;
import dev.meshlite.e2e.cluster.WireCapture;
import dev.meshlite.e2e.testing.Await;
import dev.meshlite.e2e.testing.MeshCommands.Run;
import dev.meshlite.e2e.testing.MeshPods;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The ambient data path on the local cluster, end to end: two nodes, each with ztunnel and the
 * CNI agent; pods of ambient namespaces talk through HBONE (on the wire, only TLS to port 15008
 * between pods), policy from istiod-lite is enforced by the destination's ztunnel, and the data
 * plane rides out a control-plane outage and its own restart. Needs root.
 */
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AmbientMeshIT {

    private static final Duration BOUND = Duration.ofSeconds(60);
    private static final String APP = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: web, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: legacy}
            ---
            """ + MeshPods.SHOP_APPS + """
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: outsider, namespace: legacy}
            spec:
              containers: [{name: sleep, image: sample/sleep}]
            """;

    private static KubernetesClient client;
    private static Map<String, String> lifetimes;

    @BeforeAll
    static void up() throws Exception {
        mesh("down");
        Run up = mesh("up", "--nodes", "2", "--mesh");
        assertEquals(0, up.exit(), up.out());
        client = MeshCli.client(Path.of("/run/mesh/apiserver/kubeconfig"));
        apply(APP);
        Await.until(BOUND, "every pod ready", () -> {
            List<Pod> pods = client.pods().inAnyNamespace().list().getItems();
            return pods.size() == 6 && pods.stream().allMatch(Readiness::ready);
        });
        Await.until(BOUND, "both ztunnels ready", () -> ready("node-1") && ready("node-2"));
        Await.until(BOUND, "the mesh pods served by their node's ztunnel", () -> {
            for (Pod p : meshPods()) {
                if (!configDump(p.getSpec().getNodeName()).contains("\"ip\" : \"" + p.getStatus().getPodIP() + "\"")) {
                    return false;
                }
            }
            return true;
        });
        Await.until(BOUND, "the backend Service routable from web/frontend", () -> {
            try {
                return http("web", "frontend", "http://backend.shop/warmup").exit() == 0;
            } catch (Exception e) {
                return false;
            }
        });
        lifetimes = lifetimes();
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
    void meshedTrafficCrossesNodesOnlyAsTlsToPort15008() throws Exception {
        String marker = "marker-" + UUID.randomUUID();
        WireCapture.Seen seen;
        try (WireCapture capture = WireCapture.start()) {
            for (Pod b : backends()) {
                Run r = http("web", "frontend", "http://" + b.getStatus().getPodIP() + ":8080/" + marker);
                assertEquals(0, r.exit(), r.out());
                assertTrue(r.out().contains("pod: " + b.getMetadata().getName()), r.out());
            }
            Run viaService = http("web", "frontend", "http://backend.shop/" + marker);
            assertEquals(0, viaService.exit(), viaService.out());
            assertTrue(viaService.out().contains(marker), viaService.out());
            Run tcp = inPod("web", "frontend", "bash", "-c",
                    "exec 3<>/dev/tcp/echo.shop/9000; echo " + marker + " >&3; head -n1 <&3");
            assertEquals(0, tcp.exit(), tcp.out());
            assertEquals(marker, tcp.out().strip());
            seen = capture.stop();
        }
        assertFalse(seen.contains(marker), "application bytes in clear on mesh0");
        assertFalse(seen.packets().isEmpty(), "the capture saw no pod traffic between the nodes");
        assertEquals(List.of(), seen.notHbone(), "pod packets that are not HBONE");
        // The destination's ztunnel counted mutual-TLS connections for the backend.
        String metrics = metrics(backends().getFirst().getSpec().getNodeName());
        assertTrue(counter(metrics, "istio_tcp_connections_opened_total", "reporter=\"destination\"",
                "destination_workload=\"backend\"", "connection_security_policy=\"mutual_tls\"",
                "source_principal=\"spiffe://cluster.local/ns/web/sa/frontend\"") > 0, metrics);
    }

    @Test
    @Order(2)
    void podsOnTheSameNodeAlsoTalkThroughHbone() throws Exception {
        Pod frontend = pod("web", "frontend");
        Pod local = backends().stream().filter(b -> b.getSpec().getNodeName().equals(frontend.getSpec().getNodeName()))
                .findFirst().orElse(null);
        if (local == null) {
            // The scheduler spreads the two backends over the two nodes, so one is always local.
            throw new AssertionError("no backend on " + frontend.getSpec().getNodeName());
        }
        String marker = "same-node-" + UUID.randomUUID();
        Run r = http("web", "frontend", "http://" + local.getStatus().getPodIP() + ":8080/" + marker);
        assertEquals(0, r.exit(), r.out());
        Await.until(BOUND, "the inbound HBONE access-log line on " + frontend.getSpec().getNodeName(), () -> {
            try {
                return Files.readAllLines(Path.of("/run/mesh/logs/ztunnel-" + frontend.getSpec().getNodeName() + ".log"))
                        .stream().anyMatch(l -> l.contains("direction=inbound") && l.contains("via=hbone")
                                && l.contains("src.addr=" + frontend.getStatus().getPodIP())
                                && l.contains("dst.addr=" + local.getStatus().getPodIP() + ":8080"));
            } catch (Exception e) {
                return false;
            }
        });
    }

    @Test
    @Order(3)
    void aDenyBySourceNamespaceRefusesAndIsCountedAndRemovingItRestoresTraffic() throws Exception {
        apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-web, namespace: shop}
                spec:
                  action: DENY
                  rules: [{from: [{source: {namespaces: [web]}}]}]
                """);
        Await.until(BOUND, "web refused by shop", () -> {
            try {
                return http("web", "frontend", "http://backend.shop/").exit() != 0;
            } catch (Exception e) {
                return false;
            }
        });
        long denied = 0;
        for (String node : List.of("node-1", "node-2")) {
            denied += counter(metrics(node), "istio_tcp_connections_opened_total", "response_flags=\"DENY\"",
                    "source_workload_namespace=\"web\"");
        }
        assertTrue(denied > 0, "the denial was not counted");
        assertEquals(0, mesh("kubectl", "delete", "authorizationpolicy", "deny-web", "-n", "shop").exit());
        Await.until(BOUND, "web allowed again", () -> {
            try {
                return http("web", "frontend", "http://backend.shop/").exit() == 0;
            } catch (Exception e) {
                return false;
            }
        });
        assertEquals(lifetimes, lifetimes(), "nothing restarted");
    }

    @Test
    @Order(4)
    void anAllowByPrincipalAndPortLetsExactlyThatCallerIn() throws Exception {
        apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: only-frontend, namespace: shop}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: ALLOW
                  rules:
                  - from: [{source: {principals: [cluster.local/ns/web/sa/frontend]}}]
                    to: [{operation: {ports: ["8080"]}}]
                """);
        Await.until(BOUND, "web/other refused", () -> {
            try {
                return http("web", "other", "http://backend.shop/").exit() != 0;
            } catch (Exception e) {
                return false;
            }
        });
        Run allowed = http("web", "frontend", "http://backend.shop/");
        assertEquals(0, allowed.exit(), allowed.out());
        // The policy selects the backends only: the echo service is not affected.
        Run echo = inPod("web", "other", "bash", "-c", "exec 3<>/dev/tcp/echo.shop/9000; echo hi >&3; head -n1 <&3");
        assertEquals(0, echo.exit(), echo.out());
        assertEquals(0, mesh("kubectl", "delete", "authorizationpolicy", "only-frontend", "-n", "shop").exit());
        Await.until(BOUND, "web/other allowed again", () -> {
            try {
                return http("web", "other", "http://backend.shop/").exit() == 0;
            } catch (Exception e) {
                return false;
            }
        });
    }

    @Test
    @Order(5)
    void strictRefusesPlaintextFromOutsideTheMeshAndPermissiveAcceptsIt() throws Exception {
        Pod backend = backends().getFirst();
        String url = "http://" + backend.getStatus().getPodIP() + ":8080/";
        Run permissive = http("legacy", "outsider", url);
        assertEquals(0, permissive.exit(), "PERMISSIVE (the default) accepts plaintext: " + permissive.out());
        apply("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: strict, namespace: shop}
                spec: {mtls: {mode: STRICT}}
                """);
        Await.until(BOUND, "plaintext refused", () -> {
            try {
                return http("legacy", "outsider", url).exit() != 0;
            } catch (Exception e) {
                return false;
            }
        });
        Run meshed = http("web", "frontend", url);
        assertEquals(0, meshed.exit(), "mTLS still accepted under STRICT: " + meshed.out());
        assertEquals(0, mesh("kubectl", "delete", "peerauthentication", "strict", "-n", "shop").exit());
        Await.until(BOUND, "plaintext accepted again", () -> {
            try {
                return http("legacy", "outsider", url).exit() == 0;
            } catch (Exception e) {
                return false;
            }
        });
    }

    @Test
    @Order(6)
    void theDataPlaneKeepsWorkingWhileIstiodIsAwayAndChangesFlowWhenItReturns() throws Exception {
        // A connection that spans the outage: one line before the stop, one after.
        Pod frontend = pod("web", "frontend");
        Process longLived = new ProcessBuilder("ip", "netns", "exec", netns(frontend), "bash", "-c",
                "exec 3<>/dev/tcp/echo.shop/9000; echo before >&3; head -n1 <&3; read go; echo after >&3; head -n1 <&3")
                .redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(longLived.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("before", out.readLine());

        assertEquals(0, mesh("component", "stop", "istiod").exit());
        Run fresh = http("web", "frontend", "http://backend.shop/");
        assertEquals(0, fresh.exit(), "a new meshed connection without istiod: " + fresh.out());
        longLived.getOutputStream().write("go\n".getBytes(StandardCharsets.UTF_8));
        longLived.getOutputStream().flush();
        assertEquals("after", out.readLine());
        assertEquals(0, longLived.waitFor());

        assertEquals(0, mesh("component", "start", "istiod").exit());
        apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-web, namespace: shop}
                spec:
                  action: DENY
                  rules: [{from: [{source: {namespaces: [web]}}]}]
                """);
        Await.until(BOUND, "the policy made after the restart enforced", () -> {
            try {
                return http("web", "frontend", "http://backend.shop/").exit() != 0;
            } catch (Exception e) {
                return false;
            }
        });
        assertEquals(0, mesh("kubectl", "delete", "authorizationpolicy", "deny-web", "-n", "shop").exit());
        Await.until(BOUND, "allowed again", () -> {
            try {
                return http("web", "frontend", "http://backend.shop/").exit() == 0;
            } catch (Exception e) {
                return false;
            }
        });
    }

    @Test
    @Order(7)
    void aRestartedZtunnelReadoptsItsPodsWithoutRestartingThem() throws Exception {
        Pod frontend = pod("web", "frontend");
        String node = frontend.getSpec().getNodeName();
        assertEquals(0, mesh("component", "restart", "ztunnel", "--node", node).exit());
        Instant restarted = Instant.now();
        Await.until(BOUND, "new connections through the restarted ztunnel", () -> {
            try {
                return http("web", "frontend", "http://backend.shop/").exit() == 0;
            } catch (Exception e) {
                return false;
            }
        });
        System.out.printf("ztunnel on %s: traffic again %d ms after the restart command returned%n", node,
                Duration.between(restarted, Instant.now()).toMillis());
        assertTrue(configDump(node).contains("\"ip\" : \"" + frontend.getStatus().getPodIP() + "\""));
        assertEquals(lifetimes, lifetimes(), "no pod restarted");
    }

    // ---- helpers ----

    static void apply(String yaml) throws Exception {
        new MeshPods(client).apply(yaml);
    }

    static Pod pod(String ns, String name) {
        return client.pods().inNamespace(ns).withName(name).get();
    }

    static List<Pod> backends() {
        return client.pods().inNamespace("shop").withLabel("app", "backend").list().getItems();
    }

    static List<Pod> meshPods() {
        List<Pod> out = new ArrayList<>(client.pods().inNamespace("shop").list().getItems());
        out.addAll(client.pods().inNamespace("web").list().getItems());
        return out;
    }

    static String netns(Pod p) {
        return p.getMetadata().getAnnotations().get("mesh.local/netns");
    }

    static Run inPod(String ns, String name, String... cmd) throws Exception {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", netns(pod(ns, name))));
        argv.addAll(List.of(cmd));
        return run(argv);
    }

    static Run http(String ns, String name, String url) throws Exception {
        return inPod(ns, name, "curl", "-sS", "--max-time", "5", url);
    }

    static String inNode(String node, String url) {
        return MeshPods.inNode(node, url);
    }

    static boolean ready(String node) {
        return inNode(node, "http://127.0.0.1:15021/healthz/ready").startsWith("ready");
    }

    static String configDump(String node) {
        return inNode(node, "http://127.0.0.1:15000/config_dump");
    }

    static String metrics(String node) {
        return MeshPods.metrics(node);
    }

    static long counter(String metrics, String name, String... fragments) {
        return MeshPods.counter(metrics, name, fragments);
    }

    /** What must not change: every pod's uid, start time and restart count. */
    static Map<String, String> lifetimes() {
        return new MeshPods(client).lifetimes();
    }
}
