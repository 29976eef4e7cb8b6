package dev.meshlite.e2e.controllers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.e2e.apiserver.ApiServer;
import dev.meshlite.e2e.testing.Await;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The controllers against a real (local) API server, with the kubelets' part played by the test. */
class ControllersIT {

    private static final Duration BOUND = Duration.ofSeconds(20);

    @TempDir
    Path dir;
    private ApiServer server;
    private KubernetesClient client;
    private ControllerManager controllers;

    @BeforeEach
    void start() throws Exception {
        server = ApiServer.start(new ApiServer.Config(dir, List.of("127.0.0.1"), 0, "10.96.0.0/16"));
        client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(Files.readString(dir.resolve("kubeconfig")))).build();
        controllers = new ControllerManager(client, dir.resolve("dns"));
        controllers.start();
        for (String node : List.of("node-1", "node-2")) {
            client.nodes().resource(new NodeBuilder().withNewMetadata().withName(node).endMetadata().build()).create();
            client.nodes().withName(node).editStatus(n -> {
                n.setStatus(new io.fabric8.kubernetes.api.model.NodeStatusBuilder().addNewCondition()
                        .withType("Ready").withStatus("True").endCondition().build());
                return n;
            });
        }
    }

    @AfterEach
    void stop() {
        controllers.close();
        client.close();
        server.close();
    }

    private void deploy(String image) {
        client.apps().deployments().inNamespace("default").resource(new DeploymentBuilder()
                .withNewMetadata().withName("echo").endMetadata()
                .withNewSpec().withReplicas(2).withNewSelector().addToMatchLabels("app", "echo").endSelector()
                .withNewTemplate().withNewMetadata().addToLabels("app", "echo").endMetadata()
                .withNewSpec().addNewContainer().withName("c").withImage(image).endContainer().endSpec()
                .endTemplate().endSpec().build()).create();
    }

    private List<Pod> pods() {
        return client.pods().inNamespace("default").withLabel("app", "echo").list().getItems();
    }

    /** What a kubelet would report for a running, ready pod. */
    private void markReady(Pod p, String ip) {
        Await.until(BOUND, "status of " + p.getMetadata().getName() + " written", () -> {
            // a controller may write the pod at the same moment: a 409 is retried, as a kubelet would
            client.pods().inNamespace("default").withName(p.getMetadata().getName()).editStatus(x -> {
                x.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP(ip)
                        .addNewCondition().withType("Ready").withStatus("True").endCondition().build());
                return x;
            });
            return true;
        });
    }

    @Test
    void aDeploymentBecomesPodsSpreadOverTheNodesAndAnEndpointSliceOfTheReadyOnes() {
        deploy("sample/http-echo");
        client.services().inNamespace("default").resource(new io.fabric8.kubernetes.api.model.ServiceBuilder()
                .withNewMetadata().withName("echo").endMetadata().withNewSpec().addToSelector("app", "echo")
                .addNewPort().withName("http").withPort(80).withNewTargetPort(8080).endPort().endSpec().build()).create();

        Await.until(BOUND, "2 pods bound to 2 different nodes", () -> {
            List<Pod> pods = pods();
            return pods.size() == 2 && pods.stream().map(p -> p.getSpec().getNodeName()).filter(n -> n != null)
                    .collect(Collectors.toSet()).equals(Set.of("node-1", "node-2"));
        });
        for (Pod p : pods()) {
            assertTrue(p.getMetadata().getName().matches("echo-[a-z0-9]{10}-[a-z0-9]{5}"), p.getMetadata().getName());
        }
        List<Pod> pods = pods();
        markReady(pods.get(0), "10.244.1.2");
        markReady(pods.get(1), "10.244.2.2");
        Await.until(BOUND, "an EndpointSlice with both pods ready on port 8080", () -> {
            var slices = client.discovery().v1().endpointSlices().inNamespace("default")
                    .withLabel("kubernetes.io/service-name", "echo").list().getItems();
            return slices.size() == 1 && slices.get(0).getEndpoints().size() == 2
                    && slices.get(0).getEndpoints().stream().allMatch(e -> e.getConditions().getReady())
                    && slices.get(0).getPorts().get(0).getPort() == 8080;
        });
        Await.until(BOUND, "the deployment reports 2 ready replicas", () -> {
            var st = client.apps().deployments().inNamespace("default").withName("echo").get().getStatus();
            return st != null && Integer.valueOf(2).equals(st.getReadyReplicas());
        });
        Await.until(BOUND, "the Service is in the namespace's hosts file", () -> {
            try {
                String ip = client.services().inNamespace("default").withName("echo").get().getSpec().getClusterIP();
                return Files.readString(dir.resolve("dns/default.hosts")).contains(ip + " echo.default.svc.cluster.local");
            } catch (java.io.IOException e) {
                return false;
            }
        });
    }

    @Test
    void aChangedTemplateRollsToANewReplicaSetAndDeletingTheDeploymentCollectsEverything() {
        deploy("sample/sleep");
        Await.until(BOUND, "2 pods", () -> pods().size() == 2);
        String firstHash = pods().get(0).getMetadata().getLabels().get("pod-template-hash");
        pods().forEach(p -> markReady(p, "10.244.1.9"));

        // The controller writes the Deployment's status meanwhile: a 409 means read again and retry,
        // as kubectl does.
        Await.until(BOUND, "the template changed", () -> {
            try {
                client.apps().deployments().inNamespace("default").withName("echo").edit(d -> {
                    d.getSpec().getTemplate().getSpec().getContainers().get(0).setImage("sample/http-echo");
                    return d;
                });
                return true;
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                if (e.getCode() == 409) {
                    return false;
                }
                throw e;
            }
        });
        Await.until(BOUND, "2 ready pods of a new template", () -> {
            List<Pod> fresh = pods().stream()
                    .filter(p -> !firstHash.equals(p.getMetadata().getLabels().get("pod-template-hash"))).toList();
            fresh.stream().filter(p -> p.getStatus() == null || p.getStatus().getPodIP() == null)
                    .forEach(p -> markReady(p, "10.244.2.9"));
            return fresh.size() == 2 && fresh.stream().allMatch(ControllerManager::isReady);
        });
        Await.until(BOUND, "the old pods gone", () -> pods().stream()
                .noneMatch(p -> firstHash.equals(p.getMetadata().getLabels().get("pod-template-hash"))));

        client.apps().deployments().inNamespace("default").withName("echo").delete();
        Await.until(BOUND, "replica sets and pods collected", () ->
                client.apps().replicaSets().inNamespace("default").list().getItems().isEmpty() && pods().isEmpty());
    }

    @Test
    void everyNamespaceGetsADefaultServiceAccountAndItsContentsGoWithIt() {
        client.namespaces().resource(new io.fabric8.kubernetes.api.model.NamespaceBuilder()
                .withNewMetadata().withName("team").endMetadata().build()).create();
        Await.until(BOUND, "team/default service account",
                () -> client.serviceAccounts().inNamespace("team").withName("default").get() != null);
        client.pods().inNamespace("team").resource(new io.fabric8.kubernetes.api.model.PodBuilder()
                .withNewMetadata().withName("p").endMetadata().withNewSpec().addNewContainer().withName("c")
                .withImage("sample/sleep").endContainer().endSpec().build()).create();
        client.namespaces().withName("team").delete();
        Await.until(BOUND, "the namespace's pod deleted", () -> client.pods().inNamespace("team").withName("p").get() == null);
        assertEquals(0, client.pods().inNamespace("team").list().getItems().size());
    }
}
