package dev.meshlite.e2e.apiserver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The API server on loopback: TLS with its own CA, discovery, patches, ClusterIPs, persistence. */
class ApiServerIT {

    @TempDir
    Path dir;

    private ApiServer start() throws Exception {
        return ApiServer.start(new ApiServer.Config(dir, List.of("127.0.0.1"), 0, "10.96.0.0/16"));
    }

    private KubernetesClient client() throws Exception {
        return new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(Files.readString(dir.resolve("kubeconfig")))).build();
    }

    @Test
    void servesTheStartingNamespacesOverTlsVerifiedByTheKubeconfigCa() throws Exception {
        try (ApiServer server = start(); KubernetesClient client = client()) {
            List<String> names = client.namespaces().list().getItems().stream().map(n -> n.getMetadata().getName()).toList();
            assertTrue(names.containsAll(List.of("default", "kube-system", "istio-system")), names.toString());
        }
    }

    @Test
    void discoveryAnswersWithAndWithoutQueryStrings() throws Exception {
        try (ApiServer server = start(); KubernetesClient client = client()) {
            String api = client.raw("/api?timeout=32s");
            assertTrue(api.contains("\"versions\":[\"v1\"]"), api);
            String groups = client.raw("/apis");
            assertTrue(groups.contains("\"name\":\"apps\"") && groups.contains("security.istio.io"), groups);
            String v1 = client.raw("/api/v1");
            assertTrue(v1.contains("\"name\":\"pods\"") && v1.contains("\"shortNames\":[\"po\"]"), v1);
            String apps = client.raw("/apis/apps/v1?timeout=32s");
            assertTrue(apps.contains("\"kind\":\"Deployment\""), apps);
            assertTrue(client.raw("/version").contains("\"major\":\"1\""));
        }
    }

    @Test
    void mergeAndStrategicPatchesRemoveKeysSetToNull() throws Exception {
        try (ApiServer server = start(); KubernetesClient client = client()) {
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop")
                    .addToLabels("keep", "1").endMetadata().build()).create();
            for (PatchType type : List.of(PatchType.STRATEGIC_MERGE, PatchType.JSON_MERGE)) {
                client.namespaces().withName("shop").patch(new PatchContext.Builder().withPatchType(type).build(),
                        "{\"metadata\":{\"labels\":{\"foo\":\"bar\"}}}");
                assertEquals("bar", client.namespaces().withName("shop").get().getMetadata().getLabels().get("foo"));
                client.namespaces().withName("shop").patch(new PatchContext.Builder().withPatchType(type).build(),
                        "{\"metadata\":{\"labels\":{\"foo\":null}}}");
                var labels = client.namespaces().withName("shop").get().getMetadata().getLabels();
                assertFalse(labels.containsKey("foo"), type + " left " + labels);
                assertEquals("1", labels.get("keep"));
            }
        }
    }

    @Test
    void aPatchThatIsNotJsonIsABadRequestAndChangesNothing() throws Exception {
        try (ApiServer server = start(); KubernetesClient client = client()) {
            String before = client.namespaces().withName("default").get().getMetadata().getResourceVersion();
            var http = client.getHttpClient();
            var response = http.sendAsync(http.newHttpRequestBuilder()
                    .uri(client.getMasterUrl() + "api/v1/namespaces/default")
                    .method("PATCH", "application/merge-patch+json", "{not json").build(), String.class)
                    .get(10, TimeUnit.SECONDS);
            assertEquals(400, response.code(), response.body());
            assertTrue(response.body().contains("patch body is not JSON"), response.body());
            assertEquals(before, client.namespaces().withName("default").get().getMetadata().getResourceVersion());
        }
    }

    @Test
    void servicesGetAClusterIpAndARequestedOneIsHonouredOnce() throws Exception {
        try (ApiServer server = start(); KubernetesClient client = client()) {
            var a = client.services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata().withName("a")
                    .endMetadata().withNewSpec().addNewPort().withPort(80).endPort().endSpec().build()).create();
            assertTrue(a.getSpec().getClusterIP().startsWith("10.96."), a.getSpec().getClusterIP());
            var b = client.services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata().withName("b")
                    .endMetadata().withNewSpec().withClusterIP("10.96.3.3").addNewPort().withPort(80).endPort().endSpec().build()).create();
            assertEquals("10.96.3.3", b.getSpec().getClusterIP());
            KubernetesClientException taken = org.junit.jupiter.api.Assertions.assertThrows(KubernetesClientException.class,
                    () -> client.services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata().withName("c")
                            .endMetadata().withNewSpec().withClusterIP("10.96.3.3").addNewPort().withPort(80).endPort().endSpec().build()).create());
            assertEquals(422, taken.getCode());
            var headless = client.services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata().withName("h")
                    .endMetadata().withNewSpec().withClusterIP("None").addNewPort().withPort(80).endPort().endSpec().build()).create();
            assertEquals("None", headless.getSpec().getClusterIP());
        }
    }

    @Test
    void aRestartKeepsEveryObjectWithItsUid() throws Exception {
        String uid;
        String created;
        try (ApiServer server = start(); KubernetesClient client = client()) {
            var ns = client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("kept").endMetadata().build())
                    .create();
            uid = ns.getMetadata().getUid();
            created = ns.getMetadata().getCreationTimestamp();
            java.time.Instant later = java.time.Instant.parse(created).plusSeconds(1);
            while (java.time.Instant.now().isBefore(later)) {
                Thread.onSpinWait(); // the timestamp has whole seconds: make a restore's "now" differ
            }
        }
        try (ApiServer server = start(); KubernetesClient client = client()) {
            var ns = client.namespaces().withName("kept").get();
            assertNotNull(ns, "namespace lost across a restart");
            assertEquals(uid, ns.getMetadata().getUid());
            assertEquals(created, ns.getMetadata().getCreationTimestamp());
            String fresh = client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("new").endMetadata().build())
                    .create().getMetadata().getUid();
            assertFalse(fresh.equals(uid), "a new object reused a restored uid");
        }
    }

    @Test
    void kubectlGetLabelAndApplyWork() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/kubectl")), "kubectl not installed");
        try (ApiServer server = start()) {
            String kc = dir.resolve("kubeconfig").toString();
            assertTrue(kubectl(kc, "label", "ns", "default", "foo=bar").contains("labeled"));
            assertTrue(kubectl(kc, "get", "ns", "default", "--show-labels").contains("foo=bar"));
            kubectl(kc, "label", "ns", "default", "foo-");
            assertFalse(kubectl(kc, "get", "ns", "default", "--show-labels").contains("foo=bar"));
            Path yaml = dir.resolve("cm.yaml");
            Files.writeString(yaml, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  k: v\n");
            assertTrue(kubectl(kc, "apply", "-f", yaml.toString()).contains("created"));
            assertTrue(kubectl(kc, "apply", "-f", yaml.toString()).contains("unchanged"));
            assertTrue(kubectl(kc, "delete", "-f", yaml.toString()).contains("deleted"));
        }
    }

    private static String kubectl(String kubeconfig, String... args) throws Exception {
        List<String> argv = new java.util.ArrayList<>(List.of("kubectl", "--kubeconfig", kubeconfig));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
        return out;
    }
}
