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

import dev.meshlite.istiod.api.workload.v1.Locality;
import dev.meshlite.istiod.api.workload.v1.Port;
import dev.meshlite.istiod.api.workload.v1.PortList;
import dev.meshlite.istiod.api.workload.v1.TrafficDistribution;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the model reads from Nodes, EndpointSlices, ServiceAccounts, Gateways and HTTPRoutes. */
class ClusterInputsModelTest {

    record Inputs(List<Namespace> namespaces, List<Pod> pods, List<Service> services,
            List<GenericKubernetesResource> policies, List<Node> nodes, List<EndpointSlice> slices,
            List<ServiceAccount> accounts, List<GenericKubernetesResource> gateways,
            List<GenericKubernetesResource> routes) {
        AmbientSnapshot build() {
            return AmbientModel.build(new ModelInputs(namespaces, pods, services, policies, List.of(), nodes, slices,
                    accounts, gateways, routes, "istio-system", "cluster.local"));
        }
    }

    static Inputs inputs() {
        return new Inputs(List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(),
                List.of());
    }

    static GenericKubernetesResource gatewayApi(String kind, String ns, String name, String body) {
        return Serialization.unmarshal("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: %s
                metadata: {namespace: %s, name: %s, generation: 3}
                %s
                """.formatted(kind, ns, name, body), GenericKubernetesResource.class);
    }

    static GenericKubernetesResource waypointGateway(String ns, String name) {
        return gatewayApi("Gateway", ns, name, """
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                """);
    }

    static Node node(String name, String region, String zone) {
        return new NodeBuilder().withNewMetadata().withName(name)
                .withLabels(labels("topology.kubernetes.io/region", region, "topology.kubernetes.io/zone", zone))
                .endMetadata().build();
    }

    @Test
    void workloadsCarryTheirNodesLocalityAndServicesTheirTrafficDistribution() {
        Pod a = pod("shop", "a", "10.0.0.1", "app", "cart").build(); // on node-a
        Service byField = service("shop", "cart", "10.96.0.1", labels("app", "cart"))
                .editSpec().withTrafficDistribution("PreferClose").endSpec().build();
        Service byAnnotation = service("shop", "cart2", "10.96.0.2", labels("app", "cart"))
                .editMetadata().addToAnnotations("networking.istio.io/traffic-distribution", "PreferClose").endMetadata()
                .build();
        Service plain = service("shop", "cart3", "10.96.0.3", labels("app", "cart")).build();
        AmbientSnapshot s = new Inputs(List.of(ambientNamespace("shop")), List.of(a), List.of(byField, byAnnotation, plain),
                List.of(), List.of(node("node-a", "eu", "eu-1"), node("node-b", "us", "us-1")), List.of(), List.of(),
                List.of(), List.of()).build();
        assertEquals(Locality.newBuilder().setRegion("eu").setZone("eu-1").build(),
                s.workloads().get("a-uid").getLocality());
        assertEquals(TrafficDistribution.PREFER_CLOSE, s.services().get("shop/cart.shop.svc.cluster.local")
                .getTrafficDistribution());
        assertEquals(TrafficDistribution.PREFER_CLOSE, s.services().get("shop/cart2.shop.svc.cluster.local")
                .getTrafficDistribution());
        assertEquals(TrafficDistribution.ANY, s.services().get("shop/cart3.shop.svc.cluster.local")
                .getTrafficDistribution());

        AmbientSnapshot unknownNode = new Inputs(List.of(ambientNamespace("shop")), List.of(a), List.of(), List.of(),
                List.of(node("node-b", "us", "us-1")), List.of(), List.of(), List.of(), List.of()).build();
        assertFalse(unknownNode.workloads().get("a-uid").hasLocality(), "no node, no locality");
    }

    @Test
    void aServiceWithoutSelectorTakesItsEndpointsFromItsSlices() {
        Pod a = pod("shop", "a", "10.0.0.1").build();
        Pod b = pod("shop", "b", "10.0.0.2").build();
        Service manual = service("shop", "legacy", "10.96.0.9", null).editSpec().editFirstPort().withName("web")
                .endPort().endSpec().build();
        EndpointSlice slice = new EndpointSliceBuilder().withNewMetadata().withNamespace("shop").withName("legacy-x")
                .addToLabels("kubernetes.io/service-name", "legacy").endMetadata()
                .withAddressType("IPv4")
                .addNewEndpoint().withAddresses("10.0.0.1").withNewTargetRef().withKind("Pod").withName("a")
                .withUid("a-uid").endTargetRef().endEndpoint()
                .addNewPort().withName("web").withPort(9090).withProtocol("TCP").endPort()
                .build();
        AmbientSnapshot s = new Inputs(List.of(ambientNamespace("shop")), List.of(a, b), List.of(manual), List.of(),
                List.of(), List.of(slice), List.of(), List.of(), List.of()).build();
        assertEquals(Map.of("shop/legacy.shop.svc.cluster.local", PortList.newBuilder()
                        .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(9090)).build()),
                s.workloads().get("a-uid").getServicesMap());
        assertTrue(s.workloads().get("b-uid").getServicesMap().isEmpty(), "b is not in the slice");
        assertTrue(s.services().containsKey("shop/legacy.shop.svc.cluster.local"));
    }

    @Test
    void useWaypointResolvesToAWaypointGatewayAndItsStatusIsComputed() {
        Namespace ns = namespace("shop", AmbientModel.DATAPLANE_MODE, "ambient", AmbientModel.USE_WAYPOINT, "wp");
        Pod a = pod("shop", "a", "10.0.0.1").build();
        Service wpService = service("shop", "wp", "10.96.5.5", labels("gateway.networking.k8s.io/gateway-name", "wp"))
                .build();
        AmbientSnapshot s = new Inputs(List.of(ns), List.of(a), List.of(wpService), List.of(), List.of(), List.of(),
                List.of(), List.of(waypointGateway("shop", "wp")), List.of()).build();
        assertEquals("10.96.5.5", s.workloads().get("a-uid").getWaypoint().getAddress());
        assertEquals("spiffe://cluster.local/ns/shop/sa/wp", s.workloads().get("a-uid").getWaypoint().getIdentity());
        assertTrue(s.problems().isEmpty(), s.problems().toString());
        assertEquals(List.of(new GatewayStatus("Gateway", "shop", "wp", 3, List.of("10.96.5.5"),
                List.of(new GatewayStatus.Condition("Accepted", true, "Accepted", "waypoint of the mesh"),
                        new GatewayStatus.Condition("Programmed", true, "Programmed", "waypoint reachable at 10.96.5.5")),
                List.of())), s.statuses());

        // Without its Service: not programmed, and the binding is reported and left unset.
        AmbientSnapshot pending = new Inputs(List.of(ns), List.of(a), List.of(), List.of(), List.of(), List.of(),
                List.of(), List.of(waypointGateway("shop", "wp")), List.of()).build();
        assertFalse(pending.workloads().get("a-uid").hasWaypoint());
        assertEquals(List.of("Programmed=false AddressNotAssigned"), pending.statuses().getFirst().conditions().stream()
                .filter(c -> c.type().equals("Programmed")).map(c -> c.type() + "=" + c.status() + " " + c.reason())
                .toList());
        assertTrue(pending.problems().getFirst().reason().startsWith("waypoint Gateway shop/wp has no address yet"),
                pending.problems().toString());

        // A Gateway of another class is not a waypoint, and gets no status from us.
        GenericKubernetesResource ingress = gatewayApi("Gateway", "shop", "wp", """
                spec: {gatewayClassName: nginx, listeners: [{name: http, port: 80, protocol: HTTP}]}
                """);
        AmbientSnapshot foreign = new Inputs(List.of(ns), List.of(a), List.of(wpService), List.of(), List.of(),
                List.of(), List.of(), List.of(ingress), List.of()).build();
        assertFalse(foreign.workloads().get("a-uid").hasWaypoint());
        assertTrue(foreign.statuses().isEmpty());
        assertTrue(foreign.problems().getFirst().reason().contains("has class 'nginx' (expected: istio-waypoint)"),
                foreign.problems().toString());
    }

    @Test
    void routesAreAcceptedOnlyWhereAWaypointCarriesThemOut() {
        Namespace ns = ambientNamespace("shop");
        Service withWp = service("shop", "cart", "10.96.0.1", labels("app", "cart"))
                .editMetadata().addToLabels(AmbientModel.USE_WAYPOINT, "wp").endMetadata().build();
        Service without = service("shop", "ledger", "10.96.0.2", labels("app", "ledger")).build();
        Service wpService = service("shop", "wp", "10.96.5.5", labels("x", "y")).build();
        GenericKubernetesResource route = gatewayApi("HTTPRoute", "shop", "r", """
                spec:
                  parentRefs:
                  - {group: "", kind: Service, name: cart, port: 80}
                  - {group: "", kind: Service, name: ledger}
                  - {group: "", kind: Service, name: gone}
                  - {name: wp}
                  - {name: public-ingress}
                  rules:
                  - backendRefs: [{name: cart, port: 80}, {name: nowhere, port: 80}]
                """);
        GenericKubernetesResource ingress = gatewayApi("Gateway", "shop", "public-ingress", """
                spec: {gatewayClassName: nginx, listeners: [{name: http, port: 80, protocol: HTTP}]}
                """);
        AmbientSnapshot s = new Inputs(List.of(ns), List.of(pod("shop", "a", "10.0.0.1", "app", "cart").build()),
                List.of(withWp, without, wpService), List.of(), List.of(), List.of(), List.of(),
                List.of(waypointGateway("shop", "wp"), ingress), List.of(route)).build();
        GatewayStatus status = s.statuses().stream().filter(x -> x.kind().equals("HTTPRoute")).findFirst().orElseThrow();
        assertEquals(List.of("Service/cart Accepted=true Accepted", "Service/ledger Accepted=false NoWaypoint",
                        "Service/gone Accepted=false NoMatchingParent", "Gateway/wp Accepted=true Accepted"),
                status.parents().stream().map(p -> p.parentRef().get("kind") + "/" + p.parentRef().get("name") + " "
                        + p.conditions().getFirst().type() + "=" + p.conditions().getFirst().status() + " "
                        + p.conditions().getFirst().reason()).toList(),
                "the nginx Gateway's parent entry is another controller's");
        assertEquals(80, status.parents().getFirst().parentRef().get("port"));
        assertTrue(status.parents().stream().allMatch(p -> p.conditions().get(1).reason().equals("BackendNotFound")));
        assertEquals(List.of("spec.parentRefs[1]", "spec.parentRefs[2]", "spec.rules[0].backendRefs[1]"),
                s.problems().stream().filter(p -> p.kind().equals("HTTPRoute")).map(Problem::field).sorted().toList());

        GenericKubernetesResource broken = gatewayApi("HTTPRoute", "shop", "bad", "spec: {parentRefs: nope}");
        AmbientSnapshot b = new Inputs(List.of(ns), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(),
                List.of(), List.of(broken)).build();
        assertTrue(b.statuses().isEmpty());
        assertEquals(List.of("HTTPRoute shop/bad spec.parentRefs: a string (expected: a list)"),
                b.problems().stream().map(Problem::toString).toList());
    }

    @Test
    void aPolicyNamingAServiceAccountThatDoesNotExistIsReported() {
        GenericKubernetesResource policy = authz("shop", "allow-front", """
                spec:
                  action: ALLOW
                  rules:
                  - from: [{source: {principals: ["cluster.local/ns/shop/sa/frontend", "cluster.local/ns/shop/sa/fronted",
                      "cluster.local/ns/elsewhere/sa/x", "cluster.local/ns/shop/sa/*"]}}]
                """);
        List<ServiceAccount> accounts = List.of(new ServiceAccountBuilder().withNewMetadata().withNamespace("shop")
                .withName("frontend").endMetadata().build());
        AmbientSnapshot s = new Inputs(List.of(ambientNamespace("shop")), List.of(), List.of(), List.of(policy),
                List.of(), List.of(), accounts, List.of(), List.of()).build();
        assertEquals(List.of("AuthorizationPolicy shop/allow-front spec.rules: service account shop/fronted does not"
                        + " exist (expected: an existing account); the rule naming it matches no workload until it does"),
                s.problems().stream().map(Problem::toString).toList(),
                "a namespace outside the cluster and wildcards are not judged");
        assertTrue(s.authorizations().containsKey("shop/allow-front"), "the policy still applies as written");

        AmbientSnapshot notRead = new Inputs(List.of(ambientNamespace("shop")), List.of(), List.of(), List.of(policy),
                List.of(), List.of(), List.of(), List.of(), List.of()).build();
        assertTrue(notRead.problems().isEmpty(), "no accounts listed: not judged");
    }
}
