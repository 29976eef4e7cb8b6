package dev.meshlite.e2e.bench;

import dev.meshlite.e2e.SampleApps;
import dev.meshlite.e2e.cluster.Readiness;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;

/**
 * The benchmark's workload in namespace {@code bench}: a client pod on node-1 (the load comes from
 * its namespace), the HTTP server pod behind Service {@code server} on node-2, and idle pods on
 * node-2 up to the pods-per-node count being measured. The server's node is where per-node proxy
 * memory is read, so "pods per node" counts that node's pods; node-1 holds only the client.
 */
final class BenchPods {

    static final String NAMESPACE = "bench";
    static final String CLIENT_NODE = "node-1";
    static final String SERVER_NODE = "node-2";
    static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    static final String REDIRECTION = "ambient.istio.io/redirection";
    private static final Duration BOUND = Duration.ofSeconds(180);

    /** What the benchmark needs of a pod. */
    record BenchPod(String name, String uid, String ip, String node, String netns) {
        String netnsPath() {
            return "/run/netns/" + netns;
        }
    }

    private final KubernetesClient client;

    BenchPods(KubernetesClient client) {
        this.client = client;
    }

    /** The namespace, the client, the server and its Service; returns once both pods are ready. */
    void deploy() throws Exception {
        String yaml = """
                apiVersion: v1
                kind: Namespace
                metadata: {name: bench}
                ---
                """ + SampleApps.httpEchoPod(NAMESPACE, "server", SERVER_NODE) + "---\n"
                + SampleApps.httpService(NAMESPACE, "server") + """
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: client, namespace: bench}
                spec:
                  nodeSelector: {kubernetes.io/hostname: node-1}
                  containers: [{name: sleep, image: sample/sleep}]
                """;
        for (var item : client.load(new java.io.ByteArrayInputStream(yaml.getBytes(java.nio.charset.StandardCharsets.UTF_8))).items()) {
            if (client.resource(item).get() == null) {
                client.resource(item).create();
            }
        }
        await("the client and server pods ready", () -> ready("client") && ready("server"));
    }

    /** Idle pods on the server's node until it holds {@code podsPerNode} pods. */
    void scaleServerNode(int podsPerNode) throws Exception {
        int have = serverNodePods().size();
        for (int i = have; i < podsPerNode; i++) {
            client.pods().inNamespace(NAMESPACE).resource(new PodBuilder()
                    .withNewMetadata().withName("idle-" + i).withNamespace(NAMESPACE).addToLabels("app", "idle").endMetadata()
                    .withNewSpec().addToNodeSelector("kubernetes.io/hostname", SERVER_NODE)
                    .addNewContainer().withName("sleep").withImage("sample/sleep").endContainer().endSpec()
                    .build()).create();
        }
        await(podsPerNode + " pods ready on " + SERVER_NODE,
                () -> serverNodePods().size() >= podsPerNode && serverNodePods().stream().allMatch(p -> p.ip() != null));
    }

    BenchPod clientPod() {
        return info(client.pods().inNamespace(NAMESPACE).withName("client").get());
    }

    BenchPod serverPod() {
        return info(client.pods().inNamespace(NAMESPACE).withName("server").get());
    }

    /** Every ready pod on the server's node: the server first, then the idle ones. */
    List<BenchPod> serverNodePods() {
        List<BenchPod> pods = new ArrayList<>();
        for (Pod p : client.pods().inNamespace(NAMESPACE).list().getItems()) {
            if (SERVER_NODE.equals(p.getSpec().getNodeName()) && Readiness.ready(p)) {
                pods.add(info(p));
            }
        }
        pods.sort((a, b) -> a.name().equals("server") ? -1 : b.name().equals("server") ? 1 : a.name().compareTo(b.name()));
        return pods;
    }

    /** The client and every pod on the server's node. */
    List<BenchPod> all() {
        List<BenchPod> pods = new ArrayList<>(List.of(clientPod()));
        pods.addAll(serverNodePods());
        return pods;
    }

    String serviceVip() {
        return client.services().inNamespace(NAMESPACE).withName("server").get().getSpec().getClusterIP();
    }

    /** Labels (or unlabels) the namespace ambient. */
    void labelAmbient(boolean on) {
        client.namespaces().withName(NAMESPACE).edit(n -> {
            Map<String, String> labels = n.getMetadata().getLabels() == null ? new TreeMap<>()
                    : new TreeMap<>(n.getMetadata().getLabels());
            if (on) {
                labels.put(DATAPLANE_MODE, "ambient");
            } else {
                labels.remove(DATAPLANE_MODE);
            }
            n.getMetadata().setLabels(labels);
            return n;
        });
    }

    /** Sets or removes the redirection annotation by hand, as the node agent would (dedicated mode has none). */
    void annotateRedirection(String pod, boolean on) {
        client.pods().inNamespace(NAMESPACE).withName(pod).edit(p -> {
            Map<String, String> a = p.getMetadata().getAnnotations() == null ? new TreeMap<>()
                    : new TreeMap<>(p.getMetadata().getAnnotations());
            if (on) {
                a.put(REDIRECTION, "enabled");
            } else {
                a.remove(REDIRECTION);
            }
            p.getMetadata().setAnnotations(a);
            return p;
        });
    }

    /** Waits until every bench pod carries the redirection annotation, or none does. */
    void awaitRedirection(boolean on) throws Exception {
        await(on ? "every bench pod enrolled" : "every bench pod out of the mesh", () -> client.pods().inNamespace(NAMESPACE)
                .list().getItems().stream().allMatch(p -> on == "enabled".equals(
                        p.getMetadata().getAnnotations() == null ? null : p.getMetadata().getAnnotations().get(REDIRECTION))));
    }

    private boolean ready(String name) {
        Pod p = client.pods().inNamespace(NAMESPACE).withName(name).get();
        return p != null && Readiness.ready(p);
    }

    private static BenchPod info(Pod p) {
        Map<String, String> a = p.getMetadata().getAnnotations() == null ? Map.of() : p.getMetadata().getAnnotations();
        return new BenchPod(p.getMetadata().getName(), p.getMetadata().getUid(), p.getStatus().getPodIP(),
                p.getSpec().getNodeName(), a.get("mesh.local/netns"));
    }

    static void await(String what, BooleanSupplier condition) throws Exception {
        Instant deadline = Instant.now().plus(BOUND);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(deadline)) {
                throw new BenchFailure("timed out after " + BOUND.toSeconds() + " s waiting for " + what);
            }
            Thread.sleep(250);
        }
    }
}
