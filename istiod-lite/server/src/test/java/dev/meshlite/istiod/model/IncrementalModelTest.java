package dev.meshlite.istiod.model;

import static dev.meshlite.istiod.model.Objects.authz;
import static dev.meshlite.istiod.model.Objects.labels;
import static dev.meshlite.istiod.model.Objects.namespace;
import static dev.meshlite.istiod.model.Objects.peerAuth;
import static dev.meshlite.istiod.model.Objects.pod;
import static dev.meshlite.istiod.model.Objects.service;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * An {@link IncrementalModel} kept across changes gives, after every change, exactly what a fresh
 * build of the same objects gives; and a change to one pod rebuilds only that pod's namespace.
 *
 * <p>The cluster is held as an informer holds it: a change replaces an object with a new one.
 */
class IncrementalModelTest {

    private static final List<String> NAMESPACES = List.of("a", "b", "c", "istio-system");

    /** The objects by kind and "namespace/name", as informers' stores hold them. */
    private final Map<String, Map<String, HasMetadata>> store = new TreeMap<>();
    private Random random;

    @Test
    void everyBuildEqualsAFreshBuildAndAPodChangeRebuildsOnlyItsNamespace() {
        int podOnlyChanges = 0;
        for (long seed = 1; seed <= 12; seed++) {
            random = new Random(seed);
            store.clear();
            IncrementalModel incremental = new IncrementalModel();
            for (int step = 0; step < 250; step++) {
                boolean podOnly = change();
                ModelInputs in = inputs();
                AmbientSnapshot kept = incremental.build(in);
                AmbientSnapshot fresh = AmbientModel.build(in);
                assertEquals(fresh, kept, "seed " + seed + ", step " + step);
                if (podOnly && step > 0) {
                    // 0 when the change changed nothing (a pod removed twice) or emptied the namespace
                    assertTrue(incremental.lastRebuilt() <= 1, "seed " + seed + ", step " + step
                            + ": a pod change rebuilt other namespaces too: " + incremental.lastRebuilt());
                    podOnlyChanges += incremental.lastRebuilt();
                }
            }
        }
        assertTrue(podOnlyChanges > 500, "pod changes that rebuilt their namespace: " + podOnlyChanges);
    }

    @Test
    void aChangeThatReachesEveryNamespaceRebuildsThemAll() {
        random = new Random(7);
        IncrementalModel incremental = new IncrementalModel();
        for (String ns : List.of("a", "b", "c")) {
            put(namespace(ns, AmbientModel.DATAPLANE_MODE, "ambient"));
            put(pod(ns, "p-" + ns, "10.0.0." + ns.charAt(0), "app", "x").build());
        }
        incremental.build(inputs());
        put(node("node-a", "r1", "z2")); // every pod runs there
        AmbientSnapshot kept = incremental.build(inputs());
        assertEquals(3, incremental.lastRebuilt());
        assertEquals(AmbientModel.build(inputs()), kept);
        put(authz("istio-system", "root-deny", "spec: {action: DENY, selector: {matchLabels: {app: x}}, rules: [{}]}"));
        kept = incremental.build(inputs());
        assertEquals(3, incremental.lastRebuilt());
        assertEquals(AmbientModel.build(inputs()), kept);
        incremental.build(inputs());
        assertEquals(0, incremental.lastRebuilt(), "nothing changed: nothing rebuilt");
    }

    /** One random change; returns whether it touched only a pod. */
    private boolean change() {
        String ns = pick(NAMESPACES.subList(0, 3));
        String other = pick(NAMESPACES.subList(0, 3));
        int what = random.nextInt(100);
        if (what < 45) {
            changePod(ns);
            return true;
        } else if (what < 55) {
            put(random.nextBoolean() ? namespace(ns, AmbientModel.DATAPLANE_MODE, "ambient")
                    : random.nextBoolean() ? namespace(ns)
                    : namespace(ns, AmbientModel.DATAPLANE_MODE, "ambient", AmbientModel.USE_WAYPOINT, "wp",
                            AmbientModel.USE_WAYPOINT_NAMESPACE, other));
        } else if (what < 67) {
            String name = pick(List.of("web", "api", "wp", "legacy"));
            if (random.nextInt(4) == 0) {
                remove("Service", ns, name);
            } else if (name.equals("legacy")) {
                put(service(ns, name, "10.96.1." + random.nextInt(200), Map.of()).editSpec().editFirstPort()
                        .withName("http").endPort().endSpec().build());
            } else {
                var s = service(ns, name, random.nextInt(5) == 0 ? "None" : "10.96.0." + random.nextInt(200),
                        labels("app", pick(List.of("web", "api"))));
                if (random.nextBoolean()) {
                    s.editMetadata().addToLabels(AmbientModel.USE_WAYPOINT, pick(List.of("wp", "none", "gone")))
                            .endMetadata();
                }
                put(s.build());
            }
        } else if (what < 72) {
            if (random.nextBoolean()) {
                remove("EndpointSlice", ns, "legacy-1");
            } else {
                String target = "p" + random.nextInt(4);
                put(new EndpointSliceBuilder().withNewMetadata().withNamespace(ns).withName("legacy-1")
                        .addToLabels("kubernetes.io/service-name", "legacy").endMetadata().withAddressType("IPv4")
                        .addNewEndpoint().withAddresses("10.1.0.1").withNewTargetRef().withKind("Pod")
                        .withNamespace(ns).withName(target).withUid(ns + "-" + target + "-uid").endTargetRef()
                        .endEndpoint()
                        .addNewPort().withName("http").withPort(8000 + random.nextInt(3)).withProtocol("TCP").endPort()
                        .build());
            }
        } else if (what < 77) {
            put(node(pick(List.of("node-a", "node-b")), pick(List.of("r1", "r2")), pick(List.of("z1", "z2"))));
        } else if (what < 85) {
            String policyNs = random.nextInt(3) == 0 ? "istio-system" : ns;
            String name = pick(List.of("deny-web", "allow-sa"));
            if (random.nextInt(3) == 0) {
                remove("AuthorizationPolicy", policyNs, name);
            } else if (name.equals("deny-web")) {
                put(authz(policyNs, name, "spec: {action: DENY, selector: {matchLabels: {app: "
                        + pick(List.of("web", "api")) + "}}, rules: [{from: [{source: {namespaces: [" + other + "]}}]}]}"));
            } else {
                put(authz(policyNs, name, "spec: {action: ALLOW, rules: [{from: [{source: {principals: "
                        + "[cluster.local/ns/" + other + "/sa/" + pick(List.of("sa", "ghost")) + "]}}]}]}"));
            }
        } else if (what < 91) {
            String policyNs = random.nextInt(3) == 0 ? "istio-system" : ns;
            if (random.nextInt(3) == 0) {
                remove("PeerAuthentication", policyNs, "mtls");
            } else if (random.nextBoolean()) {
                put(peerAuth(policyNs, "mtls", "spec: {mtls: {mode: " + pick(List.of("STRICT", "PERMISSIVE")) + "}}"));
            } else {
                put(peerAuth(policyNs, "mtls", "spec: {selector: {matchLabels: {app: web}}, mtls: {mode: STRICT}, "
                        + "portLevelMtls: {'8080': {mode: PERMISSIVE}}}"));
            }
        } else if (what < 96) {
            if (random.nextInt(3) == 0) {
                remove("Gateway", ns, "wp");
            } else {
                put(ClusterInputsModelTest.gatewayApi("Gateway", ns, "wp", "spec: {gatewayClassName: "
                        + pick(List.of("istio-waypoint", "other")) + ", listeners: [{name: mesh, port: 15008, "
                        + "protocol: HBONE}]" + (random.nextBoolean() ? ", addresses: [{value: 10.9.0.1}]" : "") + "}"));
            }
        } else if (what < 98) {
            if (random.nextBoolean()) {
                remove("HTTPRoute", ns, "route");
            } else {
                put(ClusterInputsModelTest.gatewayApi("HTTPRoute", ns, "route", "spec: {parentRefs: [{group: '', "
                        + "kind: Service, name: " + pick(List.of("web", "api")) + "}], rules: [{backendRefs: [{name: "
                        + pick(List.of("web", "nowhere")) + ", port: 80}]}]}"));
            }
        } else {
            String sa = pick(List.of("sa", "ghost"));
            if (random.nextBoolean()) {
                remove("ServiceAccount", other, sa);
            } else {
                put(new ServiceAccountBuilder().withNewMetadata().withNamespace(other).withName(sa).endMetadata().build());
            }
        }
        return false;
    }

    private void changePod(String ns) {
        String name = "p" + random.nextInt(4);
        if (random.nextInt(5) == 0) {
            remove("Pod", ns, name);
            return;
        }
        PodBuilder p = pod(ns, name, "10." + (ns.charAt(0) - 'a') + ".0." + name.charAt(1),
                "app", pick(List.of("web", "api")));
        p.editMetadata().withUid(ns + "-" + name + "-uid").endMetadata();
        p.editSpec().withNodeName(pick(List.of("node-a", "node-b"))).endSpec();
        switch (random.nextInt(6)) {
            case 0 -> p.editMetadata().addToLabels(AmbientModel.DATAPLANE_MODE, "none").endMetadata();
            case 1 -> p.editMetadata().addToLabels(AmbientModel.USE_WAYPOINT, "wp").endMetadata();
            case 2 -> p.editMetadata().withAnnotations(Map.of()).endMetadata();
            case 3 -> p.editMetadata().addToLabels(AmbientModel.DATAPLANE_MODE, "ambient").endMetadata();
            default -> { }
        }
        Pod built = p.build();
        put(random.nextBoolean() ? built : Objects.ready(built, false));
    }

    private static Node node(String name, String region, String zone) {
        return new NodeBuilder().withNewMetadata().withName(name).addToLabels("topology.kubernetes.io/region", region)
                .addToLabels("topology.kubernetes.io/zone", zone).endMetadata().build();
    }

    private void put(HasMetadata o) {
        store.computeIfAbsent(o.getKind(), k -> new TreeMap<>())
                .put(o.getMetadata().getNamespace() + "/" + o.getMetadata().getName(), o);
    }

    private void remove(String kind, String ns, String name) {
        store.getOrDefault(kind, new TreeMap<>()).remove(ns + "/" + name);
    }

    private <T> T pick(List<T> from) {
        return from.get(random.nextInt(from.size()));
    }

    @SuppressWarnings("unchecked")
    private <T extends HasMetadata> List<T> all(String kind) {
        // In a different order each time, as an informer's store may list them.
        List<T> out = new ArrayList<>((java.util.Collection<T>) store.getOrDefault(kind, Map.of()).values());
        java.util.Collections.shuffle(out, random);
        return out;
    }

    private ModelInputs inputs() {
        List<Namespace> namespaces = all("Namespace");
        List<Pod> pods = all("Pod");
        List<Service> services = all("Service");
        List<GenericKubernetesResource> authorizations = all("AuthorizationPolicy");
        List<GenericKubernetesResource> peerAuthentications = all("PeerAuthentication");
        List<Node> nodes = all("Node");
        List<EndpointSlice> slices = all("EndpointSlice");
        List<ServiceAccount> accounts = all("ServiceAccount");
        List<GenericKubernetesResource> gateways = all("Gateway");
        List<GenericKubernetesResource> routes = all("HTTPRoute");
        return new ModelInputs(namespaces, pods, services, authorizations, peerAuthentications, nodes, slices,
                accounts, gateways, routes, "istio-system", "cluster.local");
    }
}
