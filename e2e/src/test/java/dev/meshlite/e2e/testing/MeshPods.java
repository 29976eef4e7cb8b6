package dev.meshlite.e2e.testing;

import static dev.meshlite.e2e.testing.MeshCommands.mesh;
import static dev.meshlite.e2e.testing.MeshCommands.run;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.meshlite.e2e.SampleApps;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** What the mesh's netns tests do to pods and nodes of the local cluster, as an operator would. */
public final class MeshPods {

    /**
     * The shop's apps as the mesh tests deploy them: {@code backend} (2 HTTP echo pods behind a
     * readiness probe, Service port 80 → named port http) and {@code echo} (a TCP echo, 9000) in
     * {@code shop}, and the clients {@code frontend} (service account frontend) and {@code other}
     * in {@code web}. The namespaces are the test's own.
     */
    public static final String SHOP_APPS = SampleApps.httpEcho("shop", "backend", 2) + """
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: echo, namespace: shop}
            spec:
              replicas: 1
              selector: {matchLabels: {app: echo}}
              template:
                metadata: {labels: {app: echo}}
                spec:
                  containers:
                  - name: tcp-echo
                    image: sample/tcp-echo
                    ports: [{name: tcp, containerPort: 9000}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: echo, namespace: shop}
            spec:
              selector: {app: echo}
              ports: [{name: tcp, port: 9000, targetPort: 9000}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: frontend, namespace: web}
            spec:
              serviceAccountName: frontend
              containers: [{name: sleep, image: sample/sleep}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: other, namespace: web}
            spec:
              containers: [{name: sleep, image: sample/sleep}]
            """;

    private final KubernetesClient client;

    public MeshPods(KubernetesClient client) {
        this.client = client;
    }

    public void apply(String yaml) throws Exception {
        Path f = Files.createTempFile("mesh-it", ".yaml");
        Files.writeString(f, yaml);
        MeshCommands.Run r = mesh("kubectl", "apply", "-f", f.toString());
        Files.deleteIfExists(f);
        assertEquals(0, r.exit(), r.out());
    }

    public Pod pod(String ns, String name) {
        return client.pods().inNamespace(ns).withName(name).get();
    }

    public List<Pod> withLabel(String ns, String key, String value) {
        return client.pods().inNamespace(ns).withLabel(key, value).list().getItems();
    }

    public static String netns(Pod p) {
        return p.getMetadata().getAnnotations().get("mesh.local/netns");
    }

    public MeshCommands.Run inPod(String ns, String name, String... cmd) throws Exception {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", netns(pod(ns, name))));
        argv.addAll(List.of(cmd));
        return run(argv);
    }

    /** A long-running command in a pod's namespace, its output merged. */
    public Process startInPod(String ns, String name, String script) throws Exception {
        return new ProcessBuilder("ip", "netns", "exec", netns(pod(ns, name)), "bash", "-c", script)
                .redirectErrorStream(true).start();
    }

    public boolean httpOk(String ns, String name, String url) {
        try {
            return inPod(ns, name, "curl", "-sf", "-o", "/dev/null", "--max-time", "5", url).exit() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    public static String inNode(String node, String url) {
        try {
            return run(List.of("ip", "netns", "exec", "mesh-" + node, "curl", "-sS", "--max-time", "3", url)).out();
        } catch (Exception e) {
            return "";
        }
    }

    public static JsonNode configDump(String node) throws Exception {
        return new ObjectMapper().readTree(inNode(node, "http://127.0.0.1:15000/config_dump"));
    }

    /** The certificate ztunnel on {@code node} holds for {@code identity}: its notBefore, or "" if none. */
    public static String heldCertificate(String node, String identity) throws Exception {
        for (JsonNode c : configDump(node).path("certificates")) {
            if (identity.equals(c.path("identity").asText())) {
                return c.path("notBefore").asText() + " " + c.path("expiry").asText();
            }
        }
        return "";
    }

    public static String metrics(String node) {
        return inNode(node, "http://127.0.0.1:15020/metrics");
    }

    /** The sum of a counter's samples whose labels contain every fragment. */
    public static long counter(String metrics, String name, String... fragments) {
        double sum = 0;
        for (String line : metrics.lines().toList()) {
            if (!line.startsWith(name + "{")) {
                continue;
            }
            boolean all = true;
            for (String f : fragments) {
                all &= line.contains(f);
            }
            if (all) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return (long) sum;
    }

    /** What must not change: every pod's uid, start time and restart count. */
    public Map<String, String> lifetimes() {
        return client.pods().inAnyNamespace().list().getItems().stream().collect(Collectors.toMap(
                p -> p.getMetadata().getNamespace() + "/" + p.getMetadata().getName(),
                p -> p.getMetadata().getUid() + " " + p.getStatus().getStartTime() + " "
                        + p.getStatus().getContainerStatuses().get(0).getRestartCount()));
    }
}
