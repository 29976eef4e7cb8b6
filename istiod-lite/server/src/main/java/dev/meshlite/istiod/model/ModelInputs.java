package dev.meshlite.istiod.model;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import java.util.List;

/**
 * Everything the model is computed from: the informers' current objects plus the mesh's settings.
 * Policies are {@code security.istio.io/v1} objects in their untyped form.
 */
public record ModelInputs(List<Namespace> namespaces, List<Pod> pods, List<Service> services,
        List<GenericKubernetesResource> authorizationPolicies, List<GenericKubernetesResource> peerAuthentications,
        String rootNamespace, String trustDomain) {

    public static final String DEFAULT_ROOT_NAMESPACE = "istio-system";

    public ModelInputs {
        namespaces = List.copyOf(namespaces);
        pods = List.copyOf(pods);
        services = List.copyOf(services);
        authorizationPolicies = List.copyOf(authorizationPolicies);
        peerAuthentications = List.copyOf(peerAuthentications);
        if (rootNamespace == null || rootNamespace.isEmpty() || trustDomain == null || trustDomain.isEmpty()) {
            throw new IllegalArgumentException("rootNamespace '" + rootNamespace + "', trustDomain '" + trustDomain
                    + "' (expected: both set)");
        }
    }
}
