package dev.meshlite.istiod.model;

import static dev.meshlite.istiod.model.Objects.ambientNamespace;
import static dev.meshlite.istiod.model.Objects.authz;
import static dev.meshlite.istiod.model.Objects.labels;
import static dev.meshlite.istiod.model.Objects.namespace;
import static dev.meshlite.istiod.model.Objects.pod;
import static dev.meshlite.istiod.model.Objects.service;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.istiod.api.workload.v1.GatewayAddress;
import dev.meshlite.istiod.api.workload.v1.HealthStatus;
import dev.meshlite.istiod.api.workload.v1.Port;
import dev.meshlite.istiod.api.workload.v1.PortList;
import dev.meshlite.istiod.api.workload.v1.TunnelProtocol;
import dev.meshlite.istiod.api.workload.v1.Workload;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AmbientModelTest {

    static AmbientSnapshot build(List<Namespace> ns, List<Pod> pods, List<Service> services,
            List<GenericKubernetesResource> authz) {
        return AmbientModel.build(new ModelInputs(ns, pods, services, authz, List.of(), "istio-system", "cluster.local"));
    }

    static Stream<Arguments> membership() {
        return Stream.of(
                // namespace label, pod label, host network, pod IP, phase -> in mesh
                Arguments.of("ambient", null, false, "10.0.0.1", "Running", true),
                Arguments.of(null, null, false, "10.0.0.1", "Running", false),
                Arguments.of(null, "ambient", false, "10.0.0.1", "Running", true),
                Arguments.of("ambient", "none", false, "10.0.0.1", "Running", false),
                Arguments.of("ambient", null, true, "10.0.0.1", "Running", false),
                Arguments.of("ambient", null, false, null, "Pending", false),
                Arguments.of("ambient", null, false, "10.0.0.1", "Succeeded", false),
                Arguments.of("ambient", null, false, "10.0.0.1", "Failed", false),
                Arguments.of("none", "ambient", false, "10.0.0.1", "Running", true));
    }

    @ParameterizedTest(name = "ns={0} pod={1} hostNetwork={2} ip={3} phase={4} -> {5}")
    @MethodSource
    void membership(String nsLabel, String podLabel, boolean hostNetwork, String ip, String phase, boolean inMesh) {
        Namespace ns = nsLabel == null ? namespace("shop") : namespace("shop", AmbientModel.DATAPLANE_MODE, nsLabel);
        PodBuilder pb = podLabel == null ? pod("shop", "cart-1", ip) : pod("shop", "cart-1", ip, AmbientModel.DATAPLANE_MODE, podLabel);
        Pod p = pb.editSpec().withHostNetwork(hostNetwork).endSpec().editStatus().withPhase(phase).endStatus().build();
        AmbientSnapshot s = build(List.of(ns), List.of(p), List.of(), List.of());
        assertEquals(inMesh, s.workloads().containsKey("cart-1-uid"), s.workloads().toString());
    }

    @Test
    void workloadCarriesIdentityOwnerCanonicalLabelsAndResolvedServicePorts() {
        Pod p = pod("shop", "cart-7d9f-abcde", "10.0.0.5", "app", "cart", "version", "v2", "pod-template-hash", "7d9f")
                .editMetadata().addNewOwnerReference().withKind("ReplicaSet").withName("cart-7d9f").withController(true)
                .endOwnerReference().endMetadata().build();
        Service byName = service("shop", "cart", "10.96.0.10", labels("app", "cart"))
                .editSpec().editFirstPort().withTargetPort(new IntOrString("http")).endPort()
                .addNewPort().withPort(9090).withName("metrics").withTargetPort(new IntOrString("nope")).endPort()
                .endSpec().build();
        AmbientSnapshot s = build(List.of(ambientNamespace("shop")), List.of(p), List.of(byName), List.of());

        Workload w = s.workloads().get("cart-7d9f-abcde-uid");
        assertEquals(Workload.newBuilder().setUid("cart-7d9f-abcde-uid").setName("cart-7d9f-abcde").setNamespace("shop")
                .addAddresses("10.0.0.5").setNode("node-a").setTrustDomain("cluster.local").setServiceAccount("sa")
                .setWorkloadName("cart").setCanonicalName("cart").setCanonicalRevision("v2")
                .setTunnelProtocol(TunnelProtocol.HBONE).setStatus(HealthStatus.HEALTHY)
                .setPeerAuthentication(dev.meshlite.istiod.api.workload.v1.PeerAuthentication.getDefaultInstance())
                .putServices("shop/cart.shop.svc.cluster.local", PortList.newBuilder()
                        .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(8080)).build())
                .build(), w, "a named targetPort resolves per pod; an unresolvable one gives no port");

        var svc = s.services().get("shop/cart.shop.svc.cluster.local");
        assertEquals(List.of("10.96.0.10"), svc.getAddressesList());
        assertEquals(List.of(Port.newBuilder().setServicePort(80).setTargetPort(0).build(),
                Port.newBuilder().setServicePort(9090).setTargetPort(0).build()), svc.getPortsList());
        assertTrue(s.problems().isEmpty(), s.problems().toString());
    }

    @Test
    void aPodIsHboneOnlyOnceItsNodeAgentHasCapturedIt() {
        Pod captured = pod("shop", "a", "10.0.0.1").build();
        Pod notYet = pod("shop", "b", "10.0.0.2").editMetadata().withAnnotations(Map.of()).endMetadata().build();
        AmbientSnapshot s = build(List.of(ambientNamespace("shop")), List.of(captured, notYet), List.of(), List.of());
        assertEquals(TunnelProtocol.HBONE, s.workloads().get("a-uid").getTunnelProtocol());
        assertEquals(TunnelProtocol.NONE, s.workloads().get("b-uid").getTunnelProtocol(),
                "in the mesh's view, reached in plaintext until captured");
    }

    @Test
    void notReadyPodsAreUnhealthyAndDefaultServiceAccountAndOwnerFallbacksApply() {
        Pod notReady = Objects.ready(pod("shop", "a", "10.0.0.1").editSpec().withServiceAccountName(null).endSpec().build(), false);
        Pod statefulSet = pod("shop", "db-0", "10.0.0.2").editMetadata().addNewOwnerReference().withKind("StatefulSet")
                .withName("db").withController(true).endOwnerReference().endMetadata().build();
        AmbientSnapshot s = build(List.of(ambientNamespace("shop")), List.of(notReady, statefulSet), List.of(), List.of());
        assertEquals(HealthStatus.UNHEALTHY, s.workloads().get("a-uid").getStatus());
        assertEquals("default", s.workloads().get("a-uid").getServiceAccount());
        assertEquals("a", s.workloads().get("a-uid").getWorkloadName());
        assertEquals("latest", s.workloads().get("a-uid").getCanonicalRevision());
        assertEquals("db", s.workloads().get("db-0-uid").getWorkloadName());
    }

    @Test
    void servicesAreSentWhenInAnAmbientNamespaceOrSelectingAnAmbientPod() {
        Pod enrolled = pod("legacy", "web-1", "10.0.1.1", "app", "web", AmbientModel.DATAPLANE_MODE, "ambient").build();
        Pod plain = pod("legacy", "old-1", "10.0.1.2", "app", "old").build();
        List<Service> services = List.of(
                service("shop", "cart", "10.96.0.1"),                 // ambient namespace, selects nothing
                service("shop", "headless", "None"),                   // no ClusterIP
                service("legacy", "web", "10.96.0.2"),                 // selects an ambient pod
                service("legacy", "old", "10.96.0.3"));                // selects only a plain pod
        AmbientSnapshot s = build(List.of(ambientNamespace("shop"), namespace("legacy")), List.of(enrolled, plain),
                services, List.of());
        assertEquals(List.of("legacy/web.legacy.svc.cluster.local", "shop/cart.shop.svc.cluster.local"),
                List.copyOf(s.services().keySet()));
        assertEquals(List.of("web-1-uid"), List.copyOf(s.workloads().keySet()));
    }

    static Stream<Arguments> waypoints() {
        GatewayAddress nsWp = GatewayAddress.newBuilder().setAddress("10.96.9.1").setHbonePort(15008)
                .setIdentity("spiffe://cluster.local/ns/shop/sa/ns-wp").build();
        GatewayAddress own = GatewayAddress.newBuilder().setAddress("10.96.9.2").setHbonePort(15008)
                .setIdentity("spiffe://cluster.local/ns/shop/sa/own-wp").build();
        GatewayAddress unset = GatewayAddress.getDefaultInstance();
        return Stream.of(
                // namespace label, service label, pod label -> service waypoint, workload waypoint
                Arguments.of(null, null, null, unset, unset),
                Arguments.of("ns-wp", null, null, nsWp, nsWp),
                Arguments.of("ns-wp", "own-wp", null, own, nsWp),
                Arguments.of("ns-wp", null, "own-wp", nsWp, own),
                Arguments.of("ns-wp", "none", "none", unset, unset),
                Arguments.of(null, "own-wp", "own-wp", own, own));
    }

    @ParameterizedTest(name = "ns={0} svc={1} pod={2}")
    @MethodSource
    void waypoints(String nsLabel, String svcLabel, String podLabel, GatewayAddress serviceWp, GatewayAddress workloadWp) {
        Namespace ns = nsLabel == null ? ambientNamespace("shop")
                : namespace("shop", AmbientModel.DATAPLANE_MODE, "ambient", AmbientModel.USE_WAYPOINT, nsLabel);
        PodBuilder pb = pod("shop", "cart-1", "10.0.0.1", "app", "cart");
        if (podLabel != null) {
            pb.editMetadata().addToLabels(AmbientModel.USE_WAYPOINT, podLabel).endMetadata();
        }
        var svc = service("shop", "cart", "10.96.0.1", labels("app", "cart"));
        if (svcLabel != null) {
            svc.editMetadata().addToLabels(AmbientModel.USE_WAYPOINT, svcLabel).endMetadata();
        }
        AmbientSnapshot s = build(List.of(ns), List.of(pb.build()), List.of(svc.build(),
                service("shop", "ns-wp", "10.96.9.1", labels("x", "y")).build(),
                service("shop", "own-wp", "10.96.9.2", labels("x", "y")).build()), List.of());
        assertEquals(serviceWp, s.services().get("shop/cart.shop.svc.cluster.local").getWaypoint());
        assertEquals(workloadWp, s.workloads().get("cart-1-uid").getWaypoint());
        assertTrue(s.problems().isEmpty(), s.problems().toString());
    }

    @Test
    void aMissingWaypointIsReportedOnceAndLeftUnset() {
        Namespace ns = namespace("shop", AmbientModel.DATAPLANE_MODE, "ambient", AmbientModel.USE_WAYPOINT, "gone");
        AmbientSnapshot s = build(List.of(ns), List.of(pod("shop", "a", "10.0.0.1").build(), pod("shop", "b", "10.0.0.2").build()),
                List.of(), List.of());
        assertFalse(s.workloads().get("a-uid").hasWaypoint());
        assertEquals(List.of(new Problem("Namespace", "", "shop", "metadata.labels[istio.io/use-waypoint]",
                "waypoint shop/gone not found (expected: a Gateway of class istio-waypoint or a waypoint Service"
                        + " with a ClusterIP); traffic goes without a waypoint")), s.problems());
    }

    @Test
    void selectorPoliciesAreListedByTheWorkloadsTheySelectAndRootOnesReachEveryNamespace() {
        List<GenericKubernetesResource> policies = List.of(
                authz("shop", "cart-only", "spec: {selector: {matchLabels: {app: cart}}, rules: [{}]}"),
                authz("istio-system", "all-carts", "spec: {selector: {matchLabels: {app: cart}}, action: DENY, rules: [{}]}"),
                authz("other", "elsewhere", "spec: {selector: {matchLabels: {app: cart}}, rules: [{}]}"),
                authz("shop", "ns-wide", "spec: {rules: [{}]}"));
        AmbientSnapshot s = build(List.of(ambientNamespace("shop")), List.of(pod("shop", "cart-1", "10.0.0.1", "app", "cart").build(),
                pod("shop", "web-1", "10.0.0.2", "app", "web").build()), List.of(), policies);
        assertEquals(List.of("istio-system/all-carts", "shop/cart-only"),
                s.workloads().get("cart-1-uid").getAuthorizationPoliciesList());
        assertEquals(List.of(), s.workloads().get("web-1-uid").getAuthorizationPoliciesList());
        assertEquals(List.of("istio-system/all-carts", "other/elsewhere", "shop/cart-only", "shop/ns-wide"),
                List.copyOf(s.authorizations().keySet()));
    }

    @Test
    void theSameInputsGiveTheSameSnapshot() {
        List<Pod> pods = List.of(pod("shop", "b", "10.0.0.2", "app", "cart").build(), pod("shop", "a", "10.0.0.1", "app", "cart").build());
        AmbientSnapshot one = build(List.of(ambientNamespace("shop")), pods, List.of(service("shop", "cart", "10.96.0.1")), List.of());
        AmbientSnapshot two = build(List.of(ambientNamespace("shop")), pods.reversed(), List.of(service("shop", "cart", "10.96.0.1")), List.of());
        assertEquals(one, two);
    }
}
