package dev.meshlite.e2e;

import dev.meshlite.e2e.apiserver.ApiServer;
import dev.meshlite.e2e.controllers.ControllerManager;
import dev.meshlite.e2e.kubeproxy.KubeProxy;
import dev.meshlite.e2e.kubeproxy.NatRules;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/**
 * The build's AOT training run: what the components do at start-up (an API server with its
 * controllers, a node registering, informers, a Deployment rolled out to Pods and EndpointSlices,
 * a status update), all in one JVM on loopback and without root. The build runs it with
 * {@code -XX:AOTCacheOutput}; the cache it leaves lets every component start on half the CPU.
 */
@Command(name = "aot-train", hidden = true, description = "Exercise the components' start-up path (used by the build).")
final class AotTraining implements Callable<Integer> {

    @Override
    public Integer call() throws Exception {
        Path dir = Files.createTempDirectory("mesh-aot-train");
        try (ApiServer server = ApiServer.start(new ApiServer.Config(dir, List.of("127.0.0.1"), 0, "10.96.0.0/16"));
             KubernetesClient client = MeshCli.client(dir.resolve("kubeconfig"))) {
            ControllerManager controllers = new ControllerManager(client, dir.resolve("dns"));
            controllers.start();
            client.nodes().resource(new NodeBuilder().withNewMetadata().withName("train-node").endMetadata()
                    .withNewSpec().withPodCIDR("10.244.1.0/24").endSpec().build()).create();
            client.nodes().withName("train-node").editStatus(n -> {
                n.setStatus(new io.fabric8.kubernetes.api.model.NodeStatusBuilder().addNewCondition()
                        .withType("Ready").withStatus("True").endCondition().build());
                return n;
            });
            try (InputStream yaml = AotTraining.class.getResourceAsStream("/demo/shop.yaml")) {
                client.load(yaml).create();
            }
            Instant deadline = Instant.now().plusSeconds(30);
            List<Pod> pods = List.of();
            while (Instant.now().isBefore(deadline)) {
                pods = client.pods().inNamespace("shop").list().getItems().stream()
                        .filter(p -> p.getSpec().getNodeName() != null).toList();
                if (pods.size() >= 2) {
                    break;
                }
                Thread.sleep(100);
            }
            for (Pod p : pods) {
                client.pods().inNamespace("shop").withName(p.getMetadata().getName()).editStatus(x -> {
                    x.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Running")
                            .withPodIP("10.244.1.9").addNewCondition().withType("Ready").withStatus("True").endCondition()
                            .build());
                    return x;
                });
            }
            while (Instant.now().isBefore(deadline)
                    && client.discovery().v1().endpointSlices().inNamespace("shop").list().getItems().isEmpty()) {
                Thread.sleep(100);
            }
            NatRules.build(KubeProxy.servicePorts(client.services().inAnyNamespace().list().getItems(),
                    client.discovery().v1().endpointSlices().inAnyNamespace().list().getItems()), Set.of(), null);
            controllers.close();
        }
        return 0;
    }
}
