package dev.meshlite.istiod.model;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.LinkedHashMap;
import java.util.Map;

/** Test objects, small and explicit: what a test does not set is the common case. */
final class Objects {

    private Objects() {}

    static Map<String, String> labels(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    static Namespace namespace(String name, String... labels) {
        return new NamespaceBuilder().withNewMetadata().withName(name).withLabels(labels(labels)).endMetadata().build();
    }

    static Namespace ambientNamespace(String name) {
        return namespace(name, AmbientModel.DATAPLANE_MODE, "ambient");
    }

    /** A running, ready pod on node-a with service account "sa", IP {@code ip}. */
    static PodBuilder pod(String ns, String name, String ip, String... labels) {
        return new PodBuilder()
                .withNewMetadata().withNamespace(ns).withName(name).withUid(name + "-uid").withLabels(labels(labels))
                .addToAnnotations("ambient.istio.io/redirection", "enabled")
                .endMetadata()
                .withNewSpec().withServiceAccountName("sa").withNodeName("node-a")
                .addNewContainer().withName("app").addNewPort().withName("http").withContainerPort(8080).endPort()
                .endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip).addNewCondition().withType("Ready")
                .withStatus("True").endCondition().endStatus();
    }

    static ServiceBuilder service(String ns, String name, String clusterIp, Map<String, String> selector) {
        return new ServiceBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                .withNewSpec().withClusterIP(clusterIp).withSelector(selector)
                .addNewPort().withPort(80).withTargetPort(new IntOrString(8080)).withProtocol("TCP").endPort()
                .endSpec();
    }

    static Service service(String ns, String name, String clusterIp) {
        return service(ns, name, clusterIp, labels("app", name)).build();
    }

    /** A policy from YAML (the body under metadata), e.g. {@code "spec: {action: DENY}"}. */
    static GenericKubernetesResource policy(String kind, String ns, String name, String specYaml) {
        GenericKubernetesResource r = Serialization.unmarshal("""
                apiVersion: security.istio.io/v1
                kind: %s
                metadata: {namespace: %s, name: %s}
                %s
                """.formatted(kind, ns, name, specYaml), GenericKubernetesResource.class);
        return r;
    }

    static GenericKubernetesResource authz(String ns, String name, String specYaml) {
        return policy("AuthorizationPolicy", ns, name, specYaml);
    }

    static GenericKubernetesResource peerAuth(String ns, String name, String specYaml) {
        return policy("PeerAuthentication", ns, name, specYaml);
    }

    static Pod ready(Pod p, boolean ready) {
        return new PodBuilder(p).editStatus().editFirstCondition().withStatus(ready ? "True" : "False").endCondition()
                .endStatus().build();
    }
}
