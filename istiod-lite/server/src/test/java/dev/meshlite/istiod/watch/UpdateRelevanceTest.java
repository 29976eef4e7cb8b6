package dev.meshlite.istiod.watch;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which updates rebuild the model: those that change what it reads, not heartbeats or our own status writes. */
class UpdateRelevanceTest {

    static Node node(String zone, String heartbeat) {
        return new NodeBuilder().withNewMetadata().withName("n").addToLabels("topology.kubernetes.io/zone", zone)
                .addToLabels("kubernetes.io/hostname", "n").endMetadata().withNewStatus().addNewCondition()
                .withType("Ready").withStatus("True").withLastHeartbeatTime(heartbeat).endCondition().endStatus()
                .build();
    }

    static GenericKubernetesResource route(String backend, String statusReason) {
        return Serialization.unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {namespace: shop, name: r}
                spec: {rules: [{backendRefs: [{name: %s}]}]}
                status: {parents: [{controllerName: meshlite.dev/mesh-controller, conditions: [{type: Accepted, reason: %s}]}]}
                """.formatted(backend, statusReason), GenericKubernetesResource.class);
    }

    @Test
    void aNodeMattersOnlyWhenItsTopologyChanges() {
        assertFalse(ClusterWatcher.topologyChanged(node("eu-1", "t1"), node("eu-1", "t2")), "a heartbeat");
        assertTrue(ClusterWatcher.topologyChanged(node("eu-1", "t1"), node("eu-2", "t1")));
    }

    @Test
    void aCustomResourceMattersWhenItsSpecLabelsOrAnnotationsChangeNotItsStatus() {
        assertFalse(ClusterWatcher.customChanged(route("a", "NoWaypoint"), route("a", "Accepted")), "a status write");
        assertTrue(ClusterWatcher.customChanged(route("a", "Accepted"), route("b", "Accepted")));
        GenericKubernetesResource annotated = route("a", "Accepted");
        annotated.getMetadata().setAnnotations(Map.of("istio.io/dry-run", "true"));
        assertTrue(ClusterWatcher.customChanged(route("a", "Accepted"), annotated));
        GenericKubernetesResource labelled = route("a", "Accepted");
        labelled.getMetadata().setLabels(Map.of("x", "y"));
        assertTrue(ClusterWatcher.customChanged(route("a", "Accepted"), labelled));
    }
}
