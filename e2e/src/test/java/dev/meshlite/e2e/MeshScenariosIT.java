package dev.meshlite.e2e;

import static dev.meshlite.e2e.testing.MeshCommands.mesh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.e2e.cluster.Readiness;
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
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The ambient scenarios an operator lives through, on the local cluster with the mesh (root):
 * twenty pods per node enrolled at once, L4 policy by IP block, certificates rotating under
 * traffic, istiod-lite away across a renewal, a pod deleted mid-traffic.
 *
 * <p>Time is compressed: ztunnel asks for one-minute workload certificates ({@code ./mesh up
 * --certificate-ttl PT60S}), so renewal, which happens at about half the life left, comes every
 * 30 s or so instead of every 12 h. The control-plane outage test keeps istiod-lite away from just
 * before a renewal is due until past it, and shorter than the life any certificate has left at its
 * own renewal point: what a five-minute outage is beside day-long certificates (it spans a renewal
 * and ends long before expiry).
 */
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MeshScenariosIT {

    private static final Duration BOUND = Duration.ofSeconds(90);
    private static final Duration TTL = Duration.ofSeconds(60);
    private static final int CROWD = 40;
    private static final String FRONTEND = "spiffe://cluster.local/ns/web/sa/frontend";
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
            metadata: {name: crowd}
            ---
            """ + MeshPods.SHOP_APPS + """
            ---
            """ + SampleApps.httpEchoDeployment("crowd", "many", CROWD);

    private static KubernetesClient client;
    private static MeshPods pods;

    @BeforeAll
    static void up() throws Exception {
        mesh("down");
        Run up = mesh("up", "--nodes", "2", "--mesh", "--certificate-ttl", TTL.toString());
        assertEquals(0, up.exit(), up.out());
        client = MeshCli.client(Path.of("/run/mesh/apiserver/kubeconfig"));
        pods = new MeshPods(client);
        pods.apply(APP);
        Await.until(BOUND, "every pod ready", () -> {
            List<Pod> all = client.pods().inAnyNamespace().list().getItems();
            return all.size() == 5 + CROWD && all.stream().allMatch(Readiness::ready);
        });
        Await.until(BOUND, "the backend Service reachable from web/frontend over the mesh",
                () -> pods.httpOk("web", "frontend", "http://backend.shop/"));
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
    void twentyPodsPerNodeEnrollAtOnceWithoutARestartAndEachIsReachedOverMutualTls() throws Exception {
        List<Pod> crowd = pods.withLabel("crowd", "app", "many");
        Map<String, Long> perNode = crowd.stream().collect(Collectors.groupingBy(p -> p.getSpec().getNodeName(),
                TreeMap::new, Collectors.counting()));
        assertEquals(Map.of("node-1", 20L, "node-2", 20L), perNode, "the scheduler spreads the 40 replicas evenly");
        Map<String, String> lifetimes = pods.lifetimes();

        Instant labelled = Instant.now();
        assertEquals(0, mesh("kubectl", "label", "ns", "crowd", "istio.io/dataplane-mode=ambient").exit());
        Await.until(BOUND, "all 40 crowd pods enrolled", () -> pods.withLabel("crowd", "app", "many").stream()
                .allMatch(p -> "enabled".equals(p.getMetadata().getAnnotations().get("ambient.istio.io/redirection"))));
        Duration enrolled = Duration.between(labelled, Instant.now());
        Await.until(BOUND, "every crowd pod served by its node's ztunnel", () -> {
            try {
                long served = 0;
                for (String node : List.of("node-1", "node-2")) {
                    for (var p : MeshPods.configDump(node).path("pods")) {
                        served += p.path("namespace").asText().equals("crowd") ? 1 : 0;
                    }
                }
                return served == CROWD;
            } catch (Exception e) {
                return false;
            }
        });
        System.out.printf("40 pods (20 per node) enrolled %d ms after the label%n", enrolled.toMillis());

        // Every one of them answers the meshed frontend, over HBONE.
        long before = mutualTlsInto("crowd");
        String ips = crowd.stream().map(p -> p.getStatus().getPodIP()).collect(Collectors.joining(" "));
        Run calls = pods.inPod("web", "frontend", "bash", "-c",
                "for ip in " + ips + "; do curl -s -o /dev/null -w '%{http_code}\\n' --max-time 5 http://$ip:8080/; done");
        assertEquals(0, calls.exit(), calls.out());
        assertEquals(CROWD, calls.out().lines().filter("200"::equals).count(), calls.out());
        Await.until(BOUND, "the crowd's ztunnels counted 40 more mutual-TLS connections",
                () -> mutualTlsInto("crowd") >= before + CROWD);
        assertEquals(lifetimes, pods.lifetimes(), "no pod restarted");
    }

    @Test
    @Order(2)
    void anIpBlockDenyRefusesExactlyThatSourceAddress() throws Exception {
        String frontendIp = pods.pod("web", "frontend").getStatus().getPodIP();
        pods.apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-frontend-ip, namespace: shop}
                spec:
                  selector: {matchLabels: {app: backend}}
                  action: DENY
                  rules: [{from: [{source: {ipBlocks: ["%s/32"]}}]}]
                """.formatted(frontendIp));
        Await.until(BOUND, "web/frontend refused by its address", () -> !pods.httpOk("web", "frontend", "http://backend.shop/"));
        assertTrue(pods.httpOk("web", "other", "http://backend.shop/"), "another address of the same namespace still allowed");
        assertEquals(0, mesh("kubectl", "delete", "authorizationpolicy", "deny-frontend-ip", "-n", "shop").exit());
        Await.until(BOUND, "web/frontend allowed again", () -> pods.httpOk("web", "frontend", "http://backend.shop/"));
    }

    @Test
    @Order(3)
    void certificatesRotateUnderTrafficWithNoFailedRequestAndNoBrokenConnection() throws Exception {
        String node = pods.pod("web", "frontend").getSpec().getNodeName();
        String first = MeshPods.heldCertificate(node, FRONTEND);
        assertFalse(first.isEmpty(), "ztunnel on " + node + " holds no certificate for the frontend");
        LongLived echo = LongLived.open(pods, "echo.shop");
        Talker talker = Talker.start(pods, "http://backend.shop/");
        awaitRenewed(node, first, "the frontend's certificate renewed under traffic");
        assertTrue(talker.running(), "the traffic ended before the rotation: it did not happen under traffic");
        List<String> codes = talker.stopAfter(20);
        echo.assertStillCarries("after the rotation");
        System.out.printf("rotation under traffic: %d requests, %s%n", codes.size(), summary(codes));
        assertTrue(codes.size() > 20, summary(codes));
        assertEquals(List.of(), codes.stream().filter(c -> !c.equals("200")).toList(), "failed requests: " + summary(codes));
    }

    @Test
    @Order(4)
    void theDataPlaneRidesOutAnIstiodOutageThatSpansARenewal() throws Exception {
        String node = pods.pod("web", "frontend").getSpec().getNodeName();
        // Start from a renewal just made, so we know when the next one is due.
        String before = MeshPods.heldCertificate(node, FRONTEND);
        awaitRenewed(node, before, "a fresh frontend certificate");
        String held = MeshPods.heldCertificate(node, FRONTEND);
        Instant received = Instant.now();
        Instant expiry = Instant.parse(held.split(" ")[1]);
        Duration life = Duration.between(received, expiry);
        // The next renewal is due between 40% and 50% of the life left on receipt. istiod-lite
        // goes away just before that window and comes back after it: the outage spans the
        // renewal, and it is shorter than any identity's life left at its own renewal point (at
        // least half), as a five-minute outage is beside day-long certificates.
        Instant goAway = received.plus(life.multipliedBy(38).dividedBy(100));
        Instant pastRenewal = received.plus(life.multipliedBy(56).dividedBy(100));
        Talker talker = Talker.start(pods, "http://backend.shop/");
        sleepUntil(goAway, talker);
        Instant stopped = Instant.now(); // from here istiod-lite serves nothing: it is shutting down
        assertEquals(0, mesh("component", "stop", "istiod").exit());
        Instant renewed;
        try {
            sleepUntil(pastRenewal, talker);
            assertEquals(held, MeshPods.heldCertificate(node, FRONTEND),
                    "renewed while istiod-lite was away? The outage must span the renewal point");
            assertTrue(pods.httpOk("web", "frontend", "http://backend.shop/"), "a new connection during the outage");
        } finally {
            assertEquals(0, mesh("component", "start", "istiod").exit());
        }
        Instant back = Instant.now();
        awaitRenewed(node, held, "the frontend's certificate renewed once istiod-lite is back");
        renewed = Instant.now();
        List<String> codes = talker.stopAfter(10);
        System.out.printf("istiod-lite away %d s across the frontend's renewal point; certificate expiring %s renewed "
                        + "%d ms after istiod-lite was back, %d s before expiry: %d requests, %s%n",
                Duration.between(stopped, back).toSeconds(), expiry, Duration.between(back, renewed).toMillis(),
                Duration.between(renewed, expiry).toSeconds(), codes.size(), summary(codes));
        assertTrue(renewed.isBefore(expiry), "renewed only after the old certificate expired");
        assertEquals(List.of(), codes.stream().filter(c -> !c.equals("200")).toList(), "failed requests: " + summary(codes));
    }

    /** Waits until ztunnel on {@code node} holds a frontend certificate other than {@code held}. */
    private static void awaitRenewed(String node, String held, String what) {
        Await.until(BOUND, what, () -> {
            try {
                return !MeshPods.heldCertificate(node, FRONTEND).equals(held);
            } catch (Exception e) {
                return false;
            }
        });
    }

    private static void sleepUntil(Instant when, Talker talker) throws InterruptedException {
        while (Instant.now().isBefore(when)) {
            assertTrue(talker.running(), "the traffic stopped early");
            Thread.sleep(100);
        }
    }

    @Test
    @Order(5)
    void aPodDeletedMidTrafficEndsItsConnectionsIsForgottenAndTheServiceMovesOn() throws Exception {
        Pod echo = pods.withLabel("shop", "app", "echo").getFirst();
        String node = echo.getSpec().getNodeName();
        LongLived conn = LongLived.open(pods, echo.getStatus().getPodIP());
        assertEquals(0, mesh("kubectl", "delete", "pod", "-n", "shop", echo.getMetadata().getName(), "--wait=false").exit());
        assertTrue(conn.endsWithin(Duration.ofSeconds(30)), "the connection to the deleted pod hangs on");
        Await.until(BOUND, "ztunnel on " + node + " forgets the deleted pod", () -> {
            try {
                for (var p : MeshPods.configDump(node).path("pods")) {
                    if (p.path("uid").asText().equals(echo.getMetadata().getUid())) {
                        return false;
                    }
                }
                return true;
            } catch (Exception e) {
                return false;
            }
        });
        Await.until(BOUND, "the echo Service answers from the replacement pod", () -> {
            try {
                Run r = pods.inPod("web", "frontend", "bash", "-c",
                        "exec 3<>/dev/tcp/echo.shop/9000; echo again >&3; timeout 5 head -n1 <&3");
                return r.exit() == 0 && r.out().strip().equals("again");
            } catch (Exception e) {
                return false;
            }
        });
        Pod replacement = pods.withLabel("shop", "app", "echo").getFirst();
        assertNotEquals(echo.getMetadata().getUid(), replacement.getMetadata().getUid());
    }

    // ---- helpers ----

    /** Mutual-TLS connections into namespace {@code ns} counted by both nodes' ztunnels. */
    private static long mutualTlsInto(String ns) {
        long sum = 0;
        for (String node : List.of("node-1", "node-2")) {
            sum += MeshPods.counter(MeshPods.metrics(node), "istio_tcp_connections_opened_total", "reporter=\"destination\"",
                    "connection_security_policy=\"mutual_tls\"", "destination_workload_namespace=\"" + ns + "\"");
        }
        return sum;
    }

    private static String summary(List<String> codes) {
        return codes.stream().collect(Collectors.groupingBy(c -> c, TreeMap::new, Collectors.counting())).toString();
    }

    /** A client in web/frontend making one new-connection request after another until told to stop (bounded). */
    private record Talker(Process process, Path stop) {
        static Talker start(MeshPods pods, String url) throws Exception {
            Path stop = Files.createTempFile("talker", ".stop");
            Files.delete(stop);
            Process p = pods.startInPod("web", "frontend", "n=0; while [ $n -lt 1500 ] && [ ! -e " + stop + " ]; do "
                    + "curl -s -o /dev/null -w '%{http_code}\\n' --max-time 5 " + url + "; n=$((n+1)); sleep 0.05; done");
            return new Talker(p, stop);
        }

        boolean running() {
            return process.isAlive();
        }

        /** Lets {@code more} requests' worth of time pass, stops, and returns every status code. */
        List<String> stopAfter(int more) throws Exception {
            Thread.sleep(more * 60L);
            Files.writeString(stop, "");
            assertTrue(process.waitFor(30, TimeUnit.SECONDS), "the talker did not stop");
            Files.deleteIfExists(stop);
            return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        }
    }

    /** One TCP connection from web/frontend to the echo server that lives across an event. */
    private record LongLived(Process process, BufferedReader out, java.io.OutputStream in) {
        static LongLived open(MeshPods pods, String host) throws Exception {
            Process p = pods.startInPod("web", "frontend", "exec 3<>/dev/tcp/" + host + "/9000; "
                    + "while read -r line; do echo \"$line\" >&3; head -n1 <&3 || exit 1; done; cat <&3 >/dev/null; echo closed");
            LongLived l = new LongLived(p, new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)),
                    p.getOutputStream());
            l.assertStillCarries("opened");
            return l;
        }

        void assertStillCarries(String line) throws Exception {
            in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
            assertEquals(line, out.readLine(), "the long-lived connection broke");
        }

        /** Whether the connection ends (the server side went away) within {@code bound}. */
        boolean endsWithin(Duration bound) throws Exception {
            in.close(); // no more lines: the script now waits for the server's end of the stream
            boolean ended = process.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS);
            if (!ended) {
                process.destroyForcibly();
            }
            return ended;
        }
    }
}
