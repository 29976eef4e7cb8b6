package dev.meshlite.istiod.model;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.List;

/**
 * Everything the model is computed from: the informers' current objects plus the mesh's settings.
 * Policies ({@code security.istio.io/v1}) and the Gateway API's Gateways and HTTPRoutes
 * ({@code gateway.networking.k8s.io/v1}) are in their untyped form.
 */
public record ModelInputs(List<Namespace> namespaces, List<Pod> pods, List<Service> services,
        List<GenericKubernetesResource> authorizationPolicies, List<GenericKubernetesResource> peerAuthentications,
        List<Node> nodes, List<EndpointSlice> endpointSlices, List<ServiceAccount> serviceAccounts,
        List<GenericKubernetesResource> gateways, List<GenericKubernetesResource> httpRoutes,
        String rootNamespace, String trustDomain) {

    public static final String DEFAULT_ROOT_NAMESPACE = "istio-system";

    public ModelInputs {
        namespaces = List.copyOf(namespaces);
        pods = List.copyOf(pods);
        services = List.copyOf(services);
        authorizationPolicies = List.copyOf(authorizationPolicies);
        peerAuthentications = List.copyOf(peerAuthentications);
        nodes = List.copyOf(nodes);
        endpointSlices = List.copyOf(endpointSlices);
        serviceAccounts = List.copyOf(serviceAccounts);
        gateways = List.copyOf(gateways);
        httpRoutes = List.copyOf(httpRoutes);
        if (rootNamespace == null || rootNamespace.isEmpty() || trustDomain == null || trustDomain.isEmpty()) {
            throw new IllegalArgumentException("rootNamespace '" + rootNamespace + "', trustDomain '" + trustDomain
                    + "' (expected: both set)");
        }
    }

    /** Without nodes, endpoint slices, service accounts or Gateway API objects. */
    public ModelInputs(List<Namespace> namespaces, List<Pod> pods, List<Service> services,
            List<GenericKubernetesResource> authorizationPolicies, List<GenericKubernetesResource> peerAuthentications,
            String rootNamespace, String trustDomain) {
        this(namespaces, pods, services, authorizationPolicies, peerAuthentications, List.of(), List.of(), List.of(),
                List.of(), List.of(), rootNamespace, trustDomain);
    }
}
