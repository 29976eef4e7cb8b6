package dev.meshlite.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static dev.meshlite.e2e.testing.MeshCommands.HOME;
import static dev.meshlite.e2e.testing.MeshCommands.lines;
import static dev.meshlite.e2e.testing.MeshCommands.mesh;
import static dev.meshlite.e2e.testing.MeshCommands.run;

import dev.meshlite.e2e.testing.Await;
import dev.meshlite.e2e.testing.MeshCommands.Run;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The local cluster as an operator drives it, through ./mesh: up, a Deployment across nodes,
 * Service traffic by name and ClusterIP from both nodes, labels, a kubelet restart and a crashed
 * container, and a down that leaves the host as it found it. Needs root.
 */
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LocalClusterIT {

    private static final Duration BOUND = Duration.ofSeconds(60);
    private static final String APP = SampleApps.httpEcho("default", "echo", 2) + """
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: sleep-1, namespace: default}
            spec:
              nodeSelector: {kubernetes.io/hostname: node-1}
              containers: [{name: sleep, image: sample/sleep}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: sleep-2, namespace: default}
            spec:
              nodeSelector: {kubernetes.io/hostname: node-2}
              containers: [{name: sleep, image: sample/sleep}]
            """;

    private static Set<String> netnsBefore;
    private static Set<String> linksBefore;
    private static Set<String> processesBefore;
    private static KubernetesClient client;

    static Set<String> netns() throws Exception {
        return lines("ip", "netns", "list").stream().map(l -> l.split("\\s+")[0]).collect(Collectors.toSet());
    }

    static Set<String> links() throws Exception {
        return lines("ip", "-o", "link", "show").stream().map(l -> l.split(":\\s+")[1].split("@")[0]).collect(Collectors.toSet());
    }

    /** Live (not zombie) processes that belong to a cluster: components and pod commands. */
    static Set<String> clusterProcesses() throws Exception {
        return lines("ps", "-eo", "pid=,stat=,args=").stream()
                .filter(l -> !l.split("\\s+")[1].startsWith("Z"))
                .filter(l -> l.contains("-Dmesh.component=") || l.contains("mesh-sample") || l.contains("sleep infinity"))
                .collect(Collectors.toSet());
    }

    @BeforeAll
    static void up() throws Exception {
        mesh("down");
        netnsBefore = netns();
        linksBefore = links();
        processesBefore = clusterProcesses();
        long start = System.nanoTime();
        Run up = mesh("up", "--nodes", "2");
        System.out.printf("./mesh up --nodes 2: %.1f s (exit %d)%n%s", (System.nanoTime() - start) / 1e9, up.exit(), up.out());
        assertEquals(0, up.exit(), up.out());
        client = MeshCli.client(Path.of("/run/mesh/apiserver/kubeconfig"));
        Path yaml = Files.createTempFile("app", ".yaml");
        Files.writeString(yaml, APP);
        Run apply = mesh("kubectl", "apply", "-f", yaml.toString());
        assertEquals(0, apply.exit(), apply.out());
        Await.until(BOUND, "2 echo pods and 2 sleep pods ready", () -> ready("app=echo") == 2
                && readyPod("sleep-1") && readyPod("sleep-2"));
        // Ready pods reach kube-proxy-lite through the EndpointSlice a moment later, as in any
        // cluster: wait until each node forwards the Service before judging where requests go.
        Await.until(BOUND, "the echo Service forwarded on both nodes", () -> List.of("sleep-1", "sleep-2").stream()
                .allMatch(pod -> {
                    try {
                        return run(List.of("ip", "netns", "exec", netnsOf(pod), "curl", "-sS", "--max-time", "2",
                                "http://echo.default.svc.cluster.local/")).exit() == 0;
                    } catch (Exception e) {
                        return false;
                    }
                }));
    }

    @AfterAll
    static void down() throws Exception {
        if (client != null) {
            client.close();
        }
        mesh("down");
    }

    static long ready(String selector) {
        String[] kv = selector.split("=");
        return client.pods().inNamespace("default").withLabel(kv[0], kv[1]).list().getItems().stream()
                .filter(LocalClusterIT::isReady).count();
    }

    static boolean readyPod(String name) {
        Pod p = client.pods().inNamespace("default").withName(name).get();
        return p != null && isReady(p);
    }

    static boolean isReady(Pod p) {
        return dev.meshlite.e2e.cluster.Readiness.ready(p);
    }

    static String netnsOf(String pod) {
        return client.pods().inNamespace("default").withName(pod).get().getMetadata().getAnnotations().get("mesh.local/netns");
    }

    /** The pods that answered {@code url} from inside {@code pod}, over up to 40 requests. */
    static Set<String> repliers(String pod, String url) throws Exception {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 40 && seen.size() < 2; i++) {
            Run r = run(List.of("ip", "netns", "exec", netnsOf(pod), "curl", "-sS", "--max-time", "5", url));
            assertEquals(0, r.exit(), "curl " + url + " from " + pod + ": " + r.out());
            r.out().lines().filter(l -> l.startsWith("pod: ")).forEach(l -> seen.add(l.substring(5)));
        }
        return seen;
    }

    @Test
    @Order(1)
    void theDeploymentLandsOnBothNodes() {
        List<Pod> echo = client.pods().inNamespace("default").withLabel("app", "echo").list().getItems();
        assertEquals(Set.of("node-1", "node-2"), echo.stream().map(p -> p.getSpec().getNodeName()).collect(Collectors.toSet()));
        for (Pod p : echo) {
            assertTrue(p.getMetadata().getName().matches("echo-[a-z0-9]{10}-[a-z0-9]{5}"), p.getMetadata().getName());
            assertTrue(p.getStatus().getPodIP().startsWith(p.getSpec().getNodeName().equals("node-1") ? "10.244.1." : "10.244.2."));
        }
    }

    @Test
    @Order(2)
    void bothNodesReachBothReplicasByNameAndByClusterIp() throws Exception {
        Set<String> replicas = client.pods().inNamespace("default").withLabel("app", "echo").list().getItems().stream()
                .map(p -> p.getMetadata().getName()).collect(Collectors.toSet());
        String vip = client.services().inNamespace("default").withName("echo").get().getSpec().getClusterIP();
        for (String from : List.of("sleep-1", "sleep-2")) {
            assertEquals(replicas, repliers(from, "http://echo.default.svc.cluster.local/"), "by name from " + from);
            assertEquals(replicas, repliers(from, "http://echo/"), "by short name from " + from);
            assertEquals(replicas, repliers(from, "http://" + vip + "/"), "by ClusterIP from " + from);
        }
    }

    @Test
    @Order(3)
    void meshExecRunsInAPodsOrANodesNamespace() throws Exception {
        Run pod = mesh("exec", "sleep-1", "-n", "default", "--", "ip", "-o", "-4", "addr", "show", "eth0");
        assertEquals(0, pod.exit(), pod.out());
        assertTrue(pod.out().contains(client.pods().inNamespace("default").withName("sleep-1").get().getStatus().getPodIP() + "/24"), pod.out());
        Run node = mesh("exec", "--node", "node-2", "--", "ip", "-o", "-4", "addr", "show", "eth0");
        assertEquals(0, node.exit(), node.out());
        assertTrue(node.out().contains("172.30.0.12/24"), node.out());
    }

    @Test
    @Order(4)
    void labelsAreAddedAndRemovedWithKubectl() throws Exception {
        assertEquals(0, mesh("kubectl", "label", "ns", "default", "foo=bar").exit());
        assertTrue(mesh("kubectl", "get", "ns", "--show-labels").out().contains("foo=bar"));
        assertEquals(0, mesh("kubectl", "label", "ns", "default", "foo-").exit());
        Run after = mesh("kubectl", "get", "ns", "default", "--show-labels");
        assertFalse(after.out().contains("foo"), after.out());
    }

    @Test
    @Order(5)
    void aKubeletRestartKeepsEveryPodRunning() throws Exception {
        Map<String, String> before = podIdentities();
        Path log = Path.of("/run/mesh/logs/kubelet-node-1.log");
        long startsBefore = Files.readString(log).lines().filter(l -> l.contains("kubelet-lite on node-1")).count();
        Run restart = mesh("component", "restart", "kubelet", "--node", "node-1");
        assertEquals(0, restart.exit(), restart.out());
        Await.until(BOUND, "the new kubelet on node-1 has adopted its pods and runs", () -> {
            try {
                return Files.readString(log).lines().filter(l -> l.contains("kubelet-lite on node-1")).count() > startsBefore;
            } catch (java.io.IOException e) {
                return false;
            }
        });
        assertEquals(before, podIdentities());
        assertEquals(2, repliers("sleep-1", "http://echo/").size());
    }

    @Test
    @Order(6)
    void aCrashedContainerIsRestartedAndCounted() throws Exception {
        Pod victim = client.pods().inNamespace("default").withLabel("app", "echo").list().getItems().get(0);
        String name = victim.getMetadata().getName();
        Set<String> pids = lines("ip", "netns", "pids", netnsOf(name));
        assertFalse(pids.isEmpty());
        run(List.of("kill", "-KILL", pids.iterator().next()));
        Await.until(BOUND, name + " restarted once and ready again", () -> {
            Pod p = client.pods().inNamespace("default").withName(name).get();
            return p.getStatus().getContainerStatuses().get(0).getRestartCount() == 1 && isReady(p);
        });
        assertEquals(victim.getMetadata().getUid(), client.pods().inNamespace("default").withName(name).get().getMetadata().getUid());
    }

    @Test
    @Order(7)
    void istiodLiteRunsAndPublishesTheMeshRootInEveryNamespace() throws Exception {
        Await.until(BOUND, "istio-ca-root-cert in default and istio-system", () -> List.of("default", "istio-system").stream()
                .allMatch(ns -> {
                    var cm = client.configMaps().inNamespace(ns).withName("istio-ca-root-cert").get();
                    return cm != null && cm.getData().getOrDefault("root-cert.pem", "").contains("BEGIN CERTIFICATE");
                }));
        Run status = mesh("status");
        assertTrue(status.out().lines().anyMatch(l -> l.startsWith("istiod ") && l.contains("running")), status.out());
    }

    @Test
    @Order(8)
    void aSecondUpWhileOneRunsIsAClearError() throws Exception {
        Run again = mesh("up");
        assertNotEquals(0, again.exit());
        assertTrue(again.out().contains("already up") && again.out().contains("./mesh down"), again.out());
    }

    @Test
    @Order(9)
    void notRootIsOneLineAndNonZero() throws Exception {
        // A copy of ./mesh where any user can run it, wherever the checkout lives.
        Path dir = Files.createTempDirectory("mesh-nonroot");
        Path script = Files.copy(HOME.resolve("mesh"), dir.resolve("mesh"));
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(script, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Run r = run(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", script.toString(), "up"));
        assertNotEquals(0, r.exit());
        assertEquals(1, r.out().strip().lines().count(), r.out());
        assertTrue(r.out().contains("not root"), r.out());
    }

    @Test
    @Order(10)
    void downLeavesTheHostAsItWas() throws Exception {
        Run down = mesh("down");
        assertEquals(0, down.exit(), down.out());
        assertEquals(netnsBefore, netns());
        assertEquals(linksBefore, links());
        Await.until(Duration.ofSeconds(10), "no cluster process left", () -> {
            try {
                return clusterProcesses().equals(processesBefore);
            } catch (Exception e) {
                return false;
            }
        });
        assertFalse(Files.exists(Path.of("/run/mesh")));
    }

    private static Map<String, String> podIdentities() {
        return client.pods().inNamespace("default").list().getItems().stream().collect(Collectors.toMap(
                p -> p.getMetadata().getName(),
                p -> p.getMetadata().getUid() + " " + p.getStatus().getStartTime() + " "
                        + p.getStatus().getContainerStatuses().get(0).getRestartCount() + " "
                        + p.getStatus().getContainerStatuses().get(0).getState().getRunning().getStartedAt()));
    }
}
