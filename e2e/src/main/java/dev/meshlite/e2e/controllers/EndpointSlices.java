package dev.meshlite.e2e.controllers;

import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One EndpointSlice per Service with a selector: every pod of the namespace that matches and has
 * an IP, with its readiness, node and a reference to the pod; ports with the target port
 * resolved (by number, or by the pod's named container port). Slices of deleted Services go.
 */
final class EndpointSlices {

    static final String SERVICE_LABEL = "kubernetes.io/service-name";
    private static final String MANAGED_BY = "endpointslice.kubernetes.io/managed-by";

    private final KubernetesClient client;

    EndpointSlices(KubernetesClient client) {
        this.client = client;
    }

    void reconcile(ControllerManager.Snapshot s) {
        List<String> wanted = new ArrayList<>();
        for (Service svc : s.services()) {
            Map<String, String> selector = svc.getSpec().getSelector();
            if (selector == null || selector.isEmpty()) {
                continue;
            }
            String ns = svc.getMetadata().getNamespace();
            String name = svc.getMetadata().getName() + "-" + Integer.toHexString(svc.getMetadata().getUid().hashCode() & 0xfffff);
            wanted.add(ns + "/" + name);
            List<Pod> selected = s.pods().stream()
                    .filter(p -> ns.equals(p.getMetadata().getNamespace()) && p.getStatus() != null
                            && p.getStatus().getPodIP() != null && p.getMetadata().getLabels() != null
                            && p.getMetadata().getLabels().entrySet().containsAll(selector.entrySet()))
                    .sorted(Comparator.comparing(p -> p.getMetadata().getName())).toList();
            List<EndpointPort> ports = svc.getSpec().getPorts().stream()
                    .map(sp -> new EndpointPortBuilder().withName(Objects.requireNonNullElse(sp.getName(), ""))
                            .withProtocol(Objects.requireNonNullElse(sp.getProtocol(), "TCP"))
                            .withPort(targetPort(sp, selected)).build())
                    .toList();
            List<Endpoint> endpoints = selected.stream().map(p -> new EndpointBuilder()
                    .withAddresses(p.getStatus().getPodIP())
                    .withNewConditions().withReady(ControllerManager.isReady(p))
                    .withServing(ControllerManager.isReady(p)).withTerminating(false).endConditions()
                    .withNodeName(p.getSpec().getNodeName())
                    .withTargetRef(new ObjectReferenceBuilder().withKind("Pod").withNamespace(ns)
                            .withName(p.getMetadata().getName()).withUid(p.getMetadata().getUid()).build())
                    .build()).toList();
            EndpointSlice desired = new EndpointSliceBuilder()
                    .withNewMetadata().withName(name).withNamespace(ns)
                    .addToLabels(SERVICE_LABEL, svc.getMetadata().getName())
                    .addToLabels(MANAGED_BY, "endpointslice-controller.k8s.io")
                    .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("v1").withKind("Service")
                            .withName(svc.getMetadata().getName()).withUid(svc.getMetadata().getUid())
                            .withController(true).build())
                    .endMetadata()
                    .withAddressType("IPv4").withEndpoints(endpoints).withPorts(ports)
                    .build();
            Optional<EndpointSlice> existing = s.slices().stream()
                    .filter(e -> ns.equals(e.getMetadata().getNamespace()) && name.equals(e.getMetadata().getName()))
                    .findFirst();
            if (existing.isEmpty()) {
                try {
                    client.discovery().v1().endpointSlices().inNamespace(ns).resource(desired).create();
                } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                    if (e.getCode() != 409) {
                        throw e;
                    }
                    // made by an earlier pass the cache has not shown yet; the next pass updates it
                }
            } else if (!Objects.equals(existing.get().getEndpoints(), endpoints)
                    || !Objects.equals(existing.get().getPorts(), ports)) {
                client.discovery().v1().endpointSlices().inNamespace(ns).withName(name).edit(e -> {
                    e.setEndpoints(endpoints);
                    e.setPorts(ports);
                    return e;
                });
            }
        }
        for (EndpointSlice e : s.slices()) {
            boolean ours = e.getMetadata().getLabels() != null
                    && "endpointslice-controller.k8s.io".equals(e.getMetadata().getLabels().get(MANAGED_BY));
            if (ours && !wanted.contains(e.getMetadata().getNamespace() + "/" + e.getMetadata().getName())) {
                client.discovery().v1().endpointSlices().inNamespace(e.getMetadata().getNamespace())
                        .withName(e.getMetadata().getName()).delete();
            }
        }
    }

    private static int targetPort(ServicePort sp, List<Pod> pods) {
        IntOrString target = sp.getTargetPort();
        if (target == null) {
            return sp.getPort();
        }
        if (target.getIntVal() != null) {
            return target.getIntVal();
        }
        for (Pod p : pods) {
            for (var c : p.getSpec().getContainers()) {
                if (c.getPorts() != null) {
                    for (ContainerPort cp : c.getPorts()) {
                        if (target.getStrVal().equals(cp.getName())) {
                            return cp.getContainerPort();
                        }
                    }
                }
            }
        }
        return sp.getPort();
    }
}
