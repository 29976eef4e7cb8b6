package dev.meshlite.cni.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.meshlite.cni.handoff.PodInfo;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the agent tells ztunnel about a pod. */
class NodeAgentHandoffTest {

    private static Pod pod(String serviceAccount) {
        return new PodBuilder().withNewMetadata().withUid("u-1").withName("web-0").withNamespace("shop").endMetadata()
                .withNewSpec().withServiceAccountName(serviceAccount).endSpec().build();
    }

    @Test
    void podInfoCarriesIdentityAndIps() {
        assertEquals(new PodInfo("u-1", "web-0", "shop", "web", List.of("10.0.0.7")),
                NodeAgent.podInfo(pod("web"), List.of("10.0.0.7")));
    }

    @Test
    void aPodWithoutServiceAccountRunsAsDefault() {
        assertEquals("default", NodeAgent.podInfo(pod(null), List.of()).serviceAccount());
        assertEquals("default", NodeAgent.podInfo(pod(""), List.of()).serviceAccount());
    }
}
