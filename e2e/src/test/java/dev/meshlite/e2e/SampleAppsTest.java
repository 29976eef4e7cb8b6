package dev.meshlite.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The sample app's YAML parses into the objects the tests and benchmarks rely on. */
class SampleAppsTest {

    static final KubernetesSerialization YAML = new KubernetesSerialization();

    static List<HasMetadata> parse(String yaml) {
        return Arrays.stream(yaml.split("(?m)^---\\n")).map(doc -> (HasMetadata) YAML.unmarshal(doc)).toList();
    }

    static void assertEchoContainer(List<Container> containers) {
        assertEquals(1, containers.size());
        Container c = containers.getFirst();
        assertEquals("sample/http-echo", c.getImage());
        assertEquals("http", c.getPorts().getFirst().getName());
        assertEquals(8080, c.getPorts().getFirst().getContainerPort());
        assertEquals("/healthz", c.getReadinessProbe().getHttpGet().getPath());
        assertEquals("http", c.getReadinessProbe().getHttpGet().getPort().getStrVal());
    }

    @Test
    void aDeploymentAndItsService() {
        List<HasMetadata> objects = parse(SampleApps.httpEcho("shop", "backend", 2) + "---\n"
                + SampleApps.httpEchoDeployment("crowd", "many", 40));
        assertEquals(3, objects.size());
        Deployment backend = (Deployment) objects.get(0);
        assertEquals("shop", backend.getMetadata().getNamespace());
        assertEquals(2, backend.getSpec().getReplicas());
        assertEquals(Map.of("app", "backend"), backend.getSpec().getSelector().getMatchLabels());
        assertEquals(Map.of("app", "backend"), backend.getSpec().getTemplate().getMetadata().getLabels());
        assertEchoContainer(backend.getSpec().getTemplate().getSpec().getContainers());
        Service service = (Service) objects.get(1);
        assertEquals("backend", service.getMetadata().getName());
        assertEquals(Map.of("app", "backend"), service.getSpec().getSelector());
        assertEquals(80, service.getSpec().getPorts().getFirst().getPort());
        assertEquals("http", service.getSpec().getPorts().getFirst().getTargetPort().getStrVal());
        Deployment many = (Deployment) objects.get(2);
        assertEquals("crowd", many.getMetadata().getNamespace());
        assertEquals(40, many.getSpec().getReplicas());
    }

    @Test
    void aPodPinnedToANode() {
        List<HasMetadata> objects = parse(SampleApps.httpEchoPod("bench", "server", "node-2"));
        Pod pod = (Pod) objects.getFirst();
        assertEquals("server", pod.getMetadata().getName());
        assertEquals(Map.of("app", "server"), pod.getMetadata().getLabels());
        assertEquals(Map.of("kubernetes.io/hostname", "node-2"), pod.getSpec().getNodeSelector());
        assertEchoContainer(pod.getSpec().getContainers());
    }
}
