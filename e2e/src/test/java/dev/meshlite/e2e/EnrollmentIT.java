package dev.meshlite.e2e;

import static dev.meshlite.e2e.testing.MeshCommands.mesh;
import static dev.meshlite.e2e.testing.MeshCommands.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.e2e.cluster.Readiness;
import dev.meshlite.e2e.testing.Await;
import dev.meshlite.e2e.testing.MeshCommands.Run;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Enrolling a namespace without restarting its pods, on the local cluster with the CNI agent:
 * the label captures running pods (rules in their namespaces, the annotation, plaintext from
 * outside now passes ztunnel, kubelet probes still go straight to the app), a new pod is captured
 * in its CNI ADD, and removing the label gives everything back. No pod restarts throughout, and a
 * pod calling a Service without pause sees no failed or unanswered call across the label's
 * arrival, its removal, and three more of each in a row. The HBONE data path itself is
 * {@link AmbientMeshIT}'s. Needs root.
 */
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EnrollmentIT {

    private static final Duration BOUND = Duration.ofSeconds(60);
    /** The apps, shared with benchmarks/enroll-churn.sh: shop (backends, Service, talker) and legacy (client). */
    private static final String APP_RESOURCE = "/enrollment-apps.yaml";

    private static KubernetesClient client;
    private static Map<String, String> identities;

    @BeforeAll
    static void up() throws Exception {
        mesh("down");
        Run up = mesh("up", "--nodes", "2", "--mesh");
        assertEquals(0, up.exit(), up.out());
        client = MeshCli.client(Path.of("/run/mesh/apiserver/kubeconfig"));
        Path yaml = Files.createTempFile("enroll", ".yaml");
        try (var in = EnrollmentIT.class.getResourceAsStream(APP_RESOURCE)) {
            assertNotNull(in, APP_RESOURCE + " not on the test classpath");
            Files.write(yaml, in.readAllBytes());
        }
        Run apply = mesh("kubectl", "apply", "-f", yaml.toString());
        assertEquals(0, apply.exit(), apply.out());
        Await.until(BOUND, "2 backends, the talker and the client ready", () -> backends().stream().filter(Readiness::ready).count() == 2
                && Readiness.ready(client.pods().inNamespace("legacy").withName("client").get())
                && Readiness.ready(client.pods().inNamespace("shop").withName("talker").get()));
        identities = identities();
    }

    @AfterAll
    static void down() throws Exception {
        if (client != null) {
            client.close();
        }
        mesh("down");
    }

    /** ztunnel's failed connections and the agents' warnings: what explains a failed call, kept in the report. */
    static String failureLog() {
        StringBuilder out = new StringBuilder();
        for (String node : List.of("node-1", "node-2")) {
            for (String log : List.of("ztunnel-" + node + ".log", "cni-agent-" + node + ".log")) {
                try {
                    Files.readAllLines(Path.of("/run/mesh/logs", log)).stream()
                            .filter(l -> l.contains("error=") || l.contains(" WARN ") || l.contains(" ERROR "))
                            .forEach(l -> out.append(log).append(": ").append(l).append('\n'));
                } catch (java.io.IOException e) {
                    out.append(log).append(": unreadable (").append(e.getMessage()).append(")\n");
                }
            }
        }
        return out.toString();
    }

    static List<Pod> backends() {
        return client.pods().inNamespace("shop").withLabel("app", "backend").list().getItems();
    }

    /** What must not change while enrolling: uid, start time, restart count of every pod. */
    static Map<String, String> identities() {
        return backends().stream().collect(Collectors.toMap(p -> p.getMetadata().getName(),
                p -> p.getMetadata().getUid() + " " + p.getStatus().getStartTime() + " "
                        + p.getStatus().getContainerStatuses().get(0).getRestartCount()));
    }

    /** One HTTP/1.1 keep-alive connection from a pod, driven a request at a time. */
    record KeepAlive(Process process, java.io.BufferedReader out, java.io.Writer in) implements AutoCloseable {
        static KeepAlive open(String netns, String ip) throws Exception {
            String script = "exec 3<>/dev/tcp/" + ip + "/8080 || exit 1\n"
                    + "while read -r path; do\n"
                    + "  printf 'GET /%s HTTP/1.1\\r\\nHost: b\\r\\n\\r\\n' \"$path\" >&3\n"
                    + "  if ! read -r -t 5 status <&3; then echo \"no reply\"; continue; fi\n"
                    + "  len=0\n"
                    + "  while read -r -t 5 h <&3; do h=${h%$'\\r'}; [ -z \"$h\" ] && break;"
                    + " case \"$h\" in [Cc]ontent-[Ll]ength:*) len=${h#*: };; esac; done\n"
                    + "  read -r -t 5 -N \"$len\" body <&3\n"
                    + "  echo \"${status%$'\\r'}\"\n"
                    + "done\n";
            Process p = new ProcessBuilder("ip", "netns", "exec", netns, "bash", "-c", script).redirectErrorStream(true).start();
            return new KeepAlive(p, new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(),
                    java.nio.charset.StandardCharsets.UTF_8)), new java.io.OutputStreamWriter(p.getOutputStream(),
                    java.nio.charset.StandardCharsets.UTF_8));
        }

        /** Sends GET /path on the connection; the status line of the reply, or what went wrong. */
        String get(String path) throws Exception {
            in.write(path + "\n");
            in.flush();
            String line = out.readLine();
            return line == null ? "connection gone (exit " + process.waitFor() + ")" : line.strip();
        }

        @Override
        public void close() throws Exception {
            in.close();
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }

    static String netns(Pod p) {
        return p.getMetadata().getAnnotations().get("mesh.local/netns");
    }

    static boolean redirected(Pod p) throws Exception {
        return run(List.of("ip", "netns", "exec", netns(p), "iptables", "-t", "nat", "-S", "ISTIO_OUTPUT")).out()
                .contains("--to-ports 15001");
    }

    /** One call from the talker to the backend Service. */
    static Run talk(Pod talker) throws Exception {
        return run(List.of("ip", "netns", "exec", netns(talker), "curl", "-sS", "--max-time", "3", "http://backend.shop/"));
    }

    /** Plain HTTP from the client in legacy straight to a backend's pod IP. */
    static Run fromLegacy(Pod backend) throws Exception {
        Pod c = client.pods().inNamespace("legacy").withName("client").get();
        return run(List.of("ip", "netns", "exec", netns(c), "curl", "-sS", "--max-time", "3",
                "http://" + backend.getStatus().getPodIP() + ":8080/"));
    }

    @Test
    @Order(1)
    void beforeTheLabelTrafficIsPlainAndNothingIsCaptured() throws Exception {
        for (Pod p : backends()) {
            assertFalse(redirected(p), p.getMetadata().getName());
            Run r = fromLegacy(p);
            assertEquals(0, r.exit(), r.out());
            assertTrue(r.out().contains("pod: " + p.getMetadata().getName()), r.out());
        }
    }

    @Test
    @Order(2)
    void labellingTheNamespaceCapturesRunningPodsWithoutRestarts() throws Exception {
        // shop/talker calls the backend Service without pause while the namespace is enrolled.
        Pod talker = client.pods().inNamespace("shop").withName("talker").get();
        Await.until(BOUND, "the backend Service routable from the talker", () -> {
            try {
                return talk(talker).exit() == 0;
            } catch (Exception e) {
                return false;
            }
        });
        Talker talking = Talker.start(talker);

        // A keep-alive connection opened before enrollment: it must carry on afterwards (the rules
        // redirect only connections' first packets), not be reset.
        KeepAlive older = KeepAlive.open(netns(talker), backends().getFirst().getStatus().getPodIP());
        assertEquals("HTTP/1.1 200 OK", older.get("before"));

        assertEquals(0, mesh("kubectl", "label", "ns", "shop", "istio.io/dataplane-mode=ambient").exit());
        awaitShop(true);
        assertEquals("HTTP/1.1 200 OK", older.get("after-enrollment"), "the connection opened before enrollment broke");
        older.close();
        // The talker's calls now go through HBONE: its node's ztunnel logs them so.
        Path talkerLog = Path.of("/run/mesh/logs/ztunnel-" + talker.getSpec().getNodeName() + ".log");
        Await.until(BOUND, "the talker's calls carried in HBONE", () -> {
            try {
                return Files.readAllLines(talkerLog).stream().anyMatch(l -> l.contains("direction=outbound")
                        && l.contains("src.addr=" + talker.getStatus().getPodIP()) && l.contains("via=\"hbone"));
            } catch (Exception e) {
                return false;
            }
        });
        String marker = "enrolled-" + java.util.UUID.randomUUID();
        dev.meshlite.e2e.cluster.WireCapture.Seen seen;
        try (var capture = dev.meshlite.e2e.cluster.WireCapture.start()) {
            for (Pod b : backends()) {
                Run r = run(List.of("ip", "netns", "exec", netns(talker), "curl", "-sS", "--max-time", "3",
                        "http://" + b.getStatus().getPodIP() + ":8080/" + marker));
                assertEquals(0, r.exit(), r.out());
            }
            seen = capture.stop();
        }
        // No call is refused, reset, answered wrongly or left without a reply while the
        // namespace is enrolled.
        talking.stopAndAssertNoFailure("enrollment");
        assertFalse(seen.contains(marker), "the talker's request crossed mesh0 in clear");
        assertEquals(List.of(), seen.openedNotHbone(), "connections opened on mesh0 after enrollment that are not HBONE");
        if (!seen.notHbone().isEmpty()) {
            // a call that began before the pods were captured, finishing in plaintext
            System.out.printf("plaintext packets of connections older than the capture: %s%n", seen.notHbone());
        }

        String clientIp = client.pods().inNamespace("legacy").withName("client").get().getStatus().getPodIP();
        for (Pod p : backends()) {
            // plaintext from outside the mesh now passes ztunnel's inbound port (PERMISSIVE by default)
            Await.until(BOUND, "plaintext from legacy through ztunnel to " + p.getMetadata().getName(), () -> {
                try {
                    return fromLegacy(p).exit() == 0;
                } catch (Exception e) {
                    return false;
                }
            });
            Path ztunnelLog = Path.of("/run/mesh/logs/ztunnel-" + p.getSpec().getNodeName() + ".log");
            Await.until(BOUND, "ztunnel's access-log line for the plaintext connection", () -> {
                try {
                    return Files.readAllLines(ztunnelLog).stream().anyMatch(l -> l.contains("via=plaintext")
                            && l.contains("src.addr=" + clientIp) && l.contains("dst.addr=" + p.getStatus().getPodIP() + ":8080"));
                } catch (Exception e) {
                    return false;
                }
            });
            // the kubelet's probe path is SNATed to the probe address and passes uncaptured
            Run probe = run(List.of("ip", "netns", "exec", "mesh-" + p.getSpec().getNodeName(), "curl", "-sS",
                    "--max-time", "3", "http://" + p.getStatus().getPodIP() + ":8080/healthz"));
            assertEquals(0, probe.exit(), probe.out());
            assertEquals("ok", probe.out().strip());
        }
        assertEquals(identities, identities(), "no pod restarted");
        assertTrue(backends().stream().allMatch(Readiness::ready), "probes keep passing");
    }

    @Test
    @Order(3)
    void aNewPodInTheNamespaceIsCapturedInItsCniAdd() throws Exception {
        client.pods().inNamespace("shop").resource(new io.fabric8.kubernetes.api.model.PodBuilder()
                .withNewMetadata().withName("late").withNamespace("shop").endMetadata()
                .withNewSpec().addNewContainer().withName("sleep").withImage("sample/sleep").endContainer().endSpec()
                .build()).create();
        Await.until(BOUND, "the new pod running", () -> {
            Pod p = client.pods().inNamespace("shop").withName("late").get();
            return p != null && Readiness.ready(p);
        });
        Pod late = client.pods().inNamespace("shop").withName("late").get();
        assertTrue(redirected(late));
        String log = Files.readString(Path.of("/run/mesh/nodes/" + late.getSpec().getNodeName() + "/logs/cni-plugin.log"));
        assertTrue(log.contains("ADD shop/late: captured"), log);

        // Deleted, it leaves no probe bypass behind on its node.
        String ip = late.getStatus().getPodIP();
        String nodeNs = "mesh-" + late.getSpec().getNodeName();
        assertTrue(probeRules(nodeNs).contains(ip + "/32"), probeRules(nodeNs));
        client.pods().inNamespace("shop").withName("late").delete();
        Await.until(BOUND, "the deleted pod's probe SNAT removed", () -> {
            try {
                return !probeRules(nodeNs).contains(ip + "/32");
            } catch (Exception e) {
                return false;
            }
        });
    }

    static String probeRules(String nodeNetns) throws Exception {
        return run(List.of("ip", "netns", "exec", nodeNetns, "iptables", "-t", "nat", "-S", "MESH-PROBE-SNAT")).out();
    }

    @Test
    @Order(4)
    void removingTheLabelGivesEverythingBackWithoutRestarts() throws Exception {
        Talker talking = Talker.start(client.pods().inNamespace("shop").withName("talker").get());
        assertEquals(0, mesh("kubectl", "label", "ns", "shop", "istio.io/dataplane-mode-").exit());
        awaitShop(false);
        talking.stopAndAssertNoFailure("removal");
        for (Pod p : backends()) {
            Run r = fromLegacy(p);
            assertEquals(0, r.exit(), r.out());
        }
        assertEquals(identities, identities(), "no pod restarted");
    }

    @Test
    @Order(5)
    void enrollingAndRemovingAgainAndAgainUnderTrafficFailsNoCall() throws Exception {
        // Each change of the label races the talker's connections against rules landing or
        // going in both pods' namespaces at once: every call must still be answered.
        Talker talking = Talker.start(client.pods().inNamespace("shop").withName("talker").get());
        for (int cycle = 0; cycle < 3; cycle++) {
            assertEquals(0, mesh("kubectl", "label", "ns", "shop", "istio.io/dataplane-mode=ambient").exit());
            awaitShop(true);
            assertEquals(0, mesh("kubectl", "label", "ns", "shop", "istio.io/dataplane-mode-").exit());
            awaitShop(false);
        }
        talking.stopAndAssertNoFailure("3 enrollments and removals");
        assertEquals(identities, identities(), "no pod restarted");
    }

    /** Until the backends and the talker are all captured ({@code enrolled}) or all released. */
    static void awaitShop(boolean enrolled) {
        Await.until(BOUND, enrolled ? "both backends and the talker annotated and redirected" : "annotations and rules gone", () -> {
            List<Pod> all = new java.util.ArrayList<>(backends());
            all.add(client.pods().inNamespace("shop").withName("talker").get());
            return all.stream().allMatch(p -> {
                try {
                    boolean annotated = "enabled".equals(p.getMetadata().getAnnotations().get("ambient.istio.io/redirection"));
                    return annotated == enrolled && redirected(p) == enrolled;
                } catch (Exception e) {
                    return false;
                }
            });
        });
    }

    /**
     * shop/talker calling the backend Service without pause, one curl after another, from a
     * thread of the test: every call must be answered (curl exit 0); a timeout (exit 28: no
     * reply in 3 s) counts as a failure like any other.
     */
    static final class Talker {
        private static final Duration TALK_LIMIT = Duration.ofMinutes(3);
        private final java.util.concurrent.atomic.AtomicBoolean talking = new java.util.concurrent.atomic.AtomicBoolean(true);
        private final List<String> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        private final java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        private final java.util.concurrent.atomic.AtomicLong slowest = new java.util.concurrent.atomic.AtomicLong();
        private Thread loop;

        static Talker start(Pod talker) {
            Talker t = new Talker();
            long end = System.nanoTime() + TALK_LIMIT.toNanos(); // bounded even if a test fails before it stops it
            t.loop = Thread.ofPlatform().daemon().start(() -> {
                while (t.talking.get() && System.nanoTime() < end) {
                    try {
                        long start = System.nanoTime();
                        Run r = talk(talker);
                        t.slowest.accumulateAndGet((System.nanoTime() - start) / 1_000_000, Math::max);
                        t.calls.incrementAndGet();
                        if (r.exit() != 0) {
                            t.failures.add("curl exit " + r.exit() + ": " + r.out().strip());
                        }
                    } catch (Exception e) {
                        t.failures.add(e.toString());
                    }
                }
            });
            return t;
        }

        void stopAndAssertNoFailure(String during) throws InterruptedException {
            talking.set(false);
            loop.join();
            System.out.printf("talker: %d calls during %s, %d failed, slowest %d ms%n", calls.get(), during, failures.size(),
                    slowest.get());
            assertEquals(List.of(), failures, "the talker saw failed calls during " + during + " (of " + calls.get()
                    + "); what the ztunnels and agents logged as failing:\n" + failureLog());
            assertTrue(calls.get() > 0, "the talker made no call during " + during);
        }
    }

    @Test
    @Order(6)
    void stoppingTheAgentTakesThePluginOutOfTheChain() throws Exception {
        Path conflist = Path.of("/run/mesh/nodes/node-1/net.d/10-mesh.conflist");
        assertTrue(Files.readString(conflist).contains("mesh-cni"));
        assertEquals(0, mesh("component", "stop", "cni-agent", "--node", "node-1").exit());
        assertFalse(Files.readString(conflist).contains("mesh-cni"), Files.readString(conflist));
        assertFalse(Files.exists(Path.of("/run/mesh/nodes/node-1/cni-bin/mesh-cni")));
    }
}
