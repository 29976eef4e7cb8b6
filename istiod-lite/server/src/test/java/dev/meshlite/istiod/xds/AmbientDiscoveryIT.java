package dev.meshlite.istiod.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.istiod.api.workload.v1.Action;
import dev.meshlite.istiod.api.workload.v1.Authorization;
import dev.meshlite.istiod.api.workload.v1.HealthStatus;
import dev.meshlite.istiod.api.workload.v1.Workload;
import dev.meshlite.istiod.api.xds.v1.Node;
import dev.meshlite.istiod.ca.CaOptions;
import dev.meshlite.istiod.ca.CertificateAuthority;
import dev.meshlite.istiod.ca.MockCluster;
import dev.meshlite.istiod.ca.auth.NodeCredentials;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.GrpcCertificateSource;
import dev.meshlite.istiod.model.AmbientModel;
import dev.meshlite.istiod.model.Problem;
import dev.meshlite.istiod.watch.ClusterWatcher;
import dev.meshlite.istiod.xds.client.ResourceHandler;
import dev.meshlite.istiod.xds.client.XdsClient;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import dev.meshlite.istiod.grpc.GrpcChannel;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The control plane end to end on loopback: fabric8's API server mock (CRUD), the watcher, the
 * delta xDS server behind the CA's TLS and node credentials, and the real {@link XdsClient}.
 */
class AmbientDiscoveryIT {

    static final String WORKLOAD = XdsSnapshot.WORKLOAD;
    static final String AUTHZ = XdsSnapshot.AUTHORIZATION;

    MockCluster cluster;
    ControlPlane plane;
    String token;
    GrpcChannel channel;
    XdsClient client;
    final Proxy proxy = new Proxy();

    /** The control plane's moving parts, so a test can stop it and start another on the same port. */
    record ControlPlane(ClusterWatcher watcher, DiscoveryGrpcService xds, CertificateAuthority ca,
            PrometheusRegistry registry) implements AutoCloseable {
        static ControlPlane start(MockCluster cluster, int port) throws Exception {
            PrometheusRegistry registry = new PrometheusRegistry();
            CaOptions options = CaOptions.defaults("cluster.local").withAuth(List.of(CaOptions.Auth.NODE_CREDENTIAL))
                    .withBind(new InetSocketAddress("127.0.0.1", port));
            DiscoveryGrpcService xds = new DiscoveryGrpcService(
                    CertificateAuthority.callerAuthenticator(options, cluster.client()), options.nodeAgents(), registry);
            ClusterWatcher watcher = new ClusterWatcher(cluster.client(),
                    ClusterWatcher.Options.defaults("istio-system", "cluster.local"), xds::publish, registry,
                    Clock.systemUTC());
            watcher.start();
            CertificateAuthority ca = CertificateAuthority.start(options, cluster.client(), registry, List.of(xds));
            return new ControlPlane(watcher, xds, ca, registry);
        }

        /**
         * The watcher first: fabric8's API server mock can block its event loop for many seconds
         * when an event reaches a watch whose close it is handling, and the outage test changes
         * pods as soon as the proxy has seen the control plane go.
         */
        @Override
        public void close() {
            watcher.close();
            ca.close();
            xds.closeAll();
        }

        double counter(String name, String type) {
            return registry.scrape().stream().filter(s -> named(s, name))
                    .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                    .filter(d -> d.getLabels().get("type").equals(type))
                    .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
        }

        double gauge(String name, String kind) {
            return registry.scrape().stream().filter(s -> named(s, name))
                    .flatMap(s -> ((GaugeSnapshot) s).getDataPoints().stream())
                    .filter(d -> kind == null || kind.equals(d.getLabels().get("kind")))
                    .mapToDouble(GaugeSnapshot.GaugeDataPointSnapshot::getValue).sum();
        }
    }

    /** Prometheus names counters without "_total" in their snapshots. */
    static boolean named(io.prometheus.metrics.model.snapshots.MetricSnapshot s, String name) {
        return s.getMetadata().getPrometheusName().equals(name.replaceFirst("_total$", ""));
    }

    /** A proxy's state: validated, then swapped whole; refuses any workload named "poison*". */
    static final class Proxy implements ResourceHandler {
        volatile Map<String, Map<String, Any>> state = Map.of();
        final List<String> applied = new CopyOnWriteArrayList<>();

        @Override
        public void apply(String typeUrl, Map<String, Any> upserts, Set<String> removed) throws Exception {
            for (Any a : upserts.values()) {
                if (typeUrl.equals(WORKLOAD) && a.unpack(Workload.class).getName().startsWith("poison")) {
                    throw new IllegalArgumentException("workload " + a.unpack(Workload.class).getName()
                            + ": poisoned (expected: anything else)");
                }
            }
            Map<String, Map<String, Any>> next = new HashMap<>(state);
            Map<String, Any> ofType = new HashMap<>(next.getOrDefault(typeUrl, Map.of()));
            removed.forEach(ofType::remove);
            ofType.putAll(upserts);
            next.put(typeUrl, Map.copyOf(ofType));
            state = Map.copyOf(next);
            applied.add(XdsSnapshot.PREFIX.length() < typeUrl.length() ? typeUrl.substring(typeUrl.lastIndexOf('.') + 1)
                    + " +" + new java.util.TreeSet<>(upserts.keySet()) + " -" + new java.util.TreeSet<>(removed) : "");
        }

        Map<String, Workload> workloads() {
            Map<String, Workload> out = new HashMap<>();
            // By pod name: the API server mock assigns uids itself.
            state.getOrDefault(WORKLOAD, Map.of()).forEach((k, v) -> {
                Workload w = unpack(v, Workload.class);
                out.put(w.getName(), w);
            });
            return out;
        }

        Map<String, Authorization> authorizations() {
            Map<String, Authorization> out = new HashMap<>();
            state.getOrDefault(AUTHZ, Map.of()).forEach((k, v) -> out.put(k, unpack(v, Authorization.class)));
            return out;
        }

        static <T extends com.google.protobuf.Message> T unpack(Any a, Class<T> type) {
            try {
                return a.unpack(type);
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @BeforeEach
    void start() throws Exception {
        cluster = new MockCluster().namespace("istio-system").namespace("shop");
        token = new NodeCredentials(cluster.client(), "istio-system", CaOptions.DEFAULT_NODE_AGENT).issue("node-a");
        pod("shop", "cart-1", "10.0.0.1", true);
        plane = ControlPlane.start(cluster, 0);
        channel = GrpcCertificateSource.channel("127.0.0.1", plane.ca().port(),
                new TrustBundle(plane.ca().signer().keys().roots()), "istiod.istio-system.svc");
        client = new XdsClient(channel, () -> token, Node.newBuilder().setId("ztunnel~node-a").setRole("ztunnel")
                .setNodeName("node-a").build(), XdsSnapshot.TYPES, proxy,
                new Backoff(Duration.ofMillis(50), Duration.ofMillis(500)), Clock.systemUTC());
        client.start();
        Await.until(client::synced, () -> "client synced");
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        channel.close();
        plane.close();
        cluster.close();
    }

    void pod(String ns, String name, String ip, boolean ready) {
        cluster.client().pods().inNamespace(ns).resource(new PodBuilder()
                .withNewMetadata().withNamespace(ns).withName(name).addToLabels("app", "cart")
                .endMetadata()
                .withNewSpec().withServiceAccountName("cart").withNodeName("node-a").addNewContainer().withName("app")
                .withImage("app").endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP(ip).addNewCondition().withType("Ready")
                .withStatus(ready ? "True" : "False").endCondition().endStatus().build()).create();
    }

    String uid(String pod) {
        return cluster.client().pods().inNamespace("shop").withName(pod).get().getMetadata().getUid();
    }

    void ambient(String ns, boolean on) {
        cluster.client().namespaces().withName(ns).edit(n -> {
            if (on) {
                n.getMetadata().getLabels().put(AmbientModel.DATAPLANE_MODE, "ambient");
            } else {
                n.getMetadata().getLabels().remove(AmbientModel.DATAPLANE_MODE);
            }
            return n;
        });
    }

    void apply(String yaml) {
        GenericKubernetesResource r = Serialization.unmarshal(yaml, GenericKubernetesResource.class);
        cluster.client().genericKubernetesResources(ClusterWatcher.AUTHORIZATION_POLICY)
                .inNamespace(r.getMetadata().getNamespace()).resource(r).create();
    }

    @Test
    void labelReadinessAndPoliciesReachTheClientAndAnInvalidPolicyChangesNothing() {
        assertTrue(proxy.workloads().isEmpty(), "shop is not ambient yet: " + proxy.workloads());

        ambient("shop", true);
        Await.until(() -> proxy.workloads().containsKey("cart-1"), () -> "pod in client state: " + proxy.workloads());
        Workload w = proxy.workloads().get("cart-1");
        assertEquals(List.of("10.0.0.1"), w.getAddressesList());
        assertEquals("cart", w.getServiceAccount());
        assertEquals(HealthStatus.HEALTHY, w.getStatus());

        cluster.client().pods().inNamespace("shop").withName("cart-1").edit(p -> new PodBuilder(p).editStatus()
                .editFirstCondition().withStatus("False").endCondition().endStatus().build());
        Await.until(() -> proxy.workloads().get("cart-1").getStatus() == HealthStatus.UNHEALTHY,
                () -> "readiness flip: " + proxy.workloads());

        apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {namespace: shop, name: deny-web}
                spec:
                  action: DENY
                  rules: [{from: [{source: {namespaces: [web]}}]}]
                """);
        Await.until(() -> proxy.authorizations().containsKey("shop/deny-web"), () -> "policy in client state");
        Authorization a = proxy.authorizations().get("shop/deny-web");
        assertEquals(Action.DENY, a.getAction());
        assertEquals(List.of("web"), a.getRules(0).getClauses(0).getMatches(0).getNamespacesList());

        Map<String, Map<String, String>> before = client.versions();
        apply("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {namespace: shop, name: bad-cidr}
                spec:
                  action: DENY
                  rules: [{from: [{source: {ipBlocks: ["10.0.0.0/99"]}}]}]
                """);
        Await.until(() -> plane.watcher().latest().problems().stream().anyMatch(p -> p.name().equals("bad-cidr")),
                () -> "problem reported: " + plane.watcher().latest().problems());
        Problem p = plane.watcher().latest().problems().getFirst();
        assertEquals(new Problem("AuthorizationPolicy", "shop", "bad-cidr", "spec.rules[0].from[0].source.ipBlocks[0]",
                "'10.0.0.0/99' (expected: a prefix length 0-32); the policy is ignored"), p);
        assertEquals(1.0, plane.gauge("istiod_config_problems", "AuthorizationPolicy"));
        assertFalse(plane.xds().current().of(AUTHZ).containsKey("shop/bad-cidr"), "never half-applied");
        assertEquals(before, client.versions(), "nothing changed for the proxy");
        Await.until(() -> cluster.client().v1().events().inNamespace("shop").list().getItems().stream()
                .anyMatch(e -> e.getInvolvedObject().getName().equals("bad-cidr") && e.getType().equals("Warning")),
                () -> "a Warning event on the policy");

        ambient("shop", false);
        Await.until(() -> proxy.workloads().isEmpty(), () -> "pods left with the label: " + proxy.workloads());
        assertTrue(plane.counter("istiod_xds_pushes_total", "meshlite.workload.v1.Workload") >= 4);
        assertEquals(1.0, plane.gauge("istiod_xds_connected_proxies", null));
    }

    @Test
    void nodeTopologyAndWaypointGatewaysReachTheClientAndTheLeaderWritesGatewayApiStatus() {
        ambient("shop", true);
        Await.until(() -> proxy.workloads().containsKey("cart-1"), () -> "pod in client state");
        cluster.client().nodes().resource(new io.fabric8.kubernetes.api.model.NodeBuilder().withNewMetadata()
                .withName("node-a").addToLabels("topology.kubernetes.io/region", "eu")
                .addToLabels("topology.kubernetes.io/zone", "eu-1").endMetadata().build()).create();
        Await.until(() -> proxy.workloads().get("cart-1").getLocality().getZone().equals("eu-1"),
                () -> "locality from the node: " + proxy.workloads().get("cart-1"));

        // A waypoint Gateway and its Service; the namespace sends its traffic through it.
        cluster.client().services().inNamespace("shop").resource(new io.fabric8.kubernetes.api.model.ServiceBuilder()
                .withNewMetadata().withNamespace("shop").withName("wp").endMetadata().withNewSpec()
                .withClusterIP("10.96.7.7").addNewPort().withPort(15008).endPort().endSpec().build()).create();
        cluster.client().services().inNamespace("shop").resource(new io.fabric8.kubernetes.api.model.ServiceBuilder()
                .withNewMetadata().withNamespace("shop").withName("ledger").addToLabels(AmbientModel.USE_WAYPOINT, "none")
                .endMetadata().withNewSpec().withClusterIP("10.96.7.8").addToSelector("app", "ledger").addNewPort()
                .withPort(80).endPort().endSpec().build()).create();
        create(ClusterWatcher.GATEWAY, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {namespace: shop, name: wp}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                """);
        cluster.client().namespaces().withName("shop").edit(n -> {
            n.getMetadata().getLabels().put(AmbientModel.USE_WAYPOINT, "wp");
            return n;
        });
        Await.until(() -> proxy.workloads().get("cart-1").getWaypoint().getAddress().equals("10.96.7.7"),
                () -> "waypoint from the Gateway: " + proxy.workloads().get("cart-1"));
        Await.until(() -> "True".equals(condition(status(ClusterWatcher.GATEWAY, "wp"), "Programmed").get("status")),
                () -> "Gateway programmed: " + status(ClusterWatcher.GATEWAY, "wp"));
        assertEquals(List.of(Map.of("type", "IPAddress", "value", "10.96.7.7")),
                status(ClusterWatcher.GATEWAY, "wp").get("addresses"));

        // A route on a Service that opted out of the waypoint: refused in its status, and reported.
        create(ClusterWatcher.HTTP_ROUTE, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {namespace: shop, name: to-ledger}
                spec:
                  parentRefs: [{group: "", kind: Service, name: ledger}]
                  rules: [{backendRefs: [{name: ledger, port: 80}]}]
                """);
        Await.until(() -> status(ClusterWatcher.HTTP_ROUTE, "to-ledger").get("parents") instanceof List<?> l
                && !l.isEmpty(), () -> "route status: " + status(ClusterWatcher.HTTP_ROUTE, "to-ledger"));
        Map<?, ?> parent = (Map<?, ?>) ((List<?>) status(ClusterWatcher.HTTP_ROUTE, "to-ledger").get("parents")).getFirst();
        assertEquals("meshlite.dev/mesh-controller", parent.get("controllerName"));
        Map<?, ?> accepted = ((List<?>) parent.get("conditions")).stream().map(c -> (Map<?, ?>) c)
                .filter(c -> c.get("type").equals("Accepted")).findFirst().orElseThrow();
        assertEquals(List.of("False", "NoWaypoint"), List.of(accepted.get("status"), accepted.get("reason")));
        Await.until(() -> cluster.client().v1().events().inNamespace("shop").list().getItems().stream()
                .anyMatch(e -> e.getInvolvedObject().getName().equals("to-ledger")), () -> "a Warning event on the route");

        // Statuses are written once: another rebuild leaves them as they are.
        String version = resourceVersion(ClusterWatcher.GATEWAY, "wp");
        pod("shop", "cart-2", "10.0.0.2", true);
        Await.until(() -> proxy.workloads().containsKey("cart-2"), () -> "another change pushed");
        assertEquals(version, resourceVersion(ClusterWatcher.GATEWAY, "wp"), "an unchanged status is not rewritten");
    }

    void create(io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext kind, String yaml) {
        GenericKubernetesResource r = Serialization.unmarshal(yaml, GenericKubernetesResource.class);
        cluster.client().genericKubernetesResources(kind).inNamespace(r.getMetadata().getNamespace()).resource(r)
                .create();
    }

    Map<?, ?> status(io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext kind, String name) {
        GenericKubernetesResource r = cluster.client().genericKubernetesResources(kind).inNamespace("shop")
                .withName(name).get();
        return r == null || !(r.getAdditionalProperties().get("status") instanceof Map<?, ?> m) ? Map.of() : m;
    }

    String resourceVersion(io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext kind, String name) {
        return cluster.client().genericKubernetesResources(kind).inNamespace("shop").withName(name).get().getMetadata()
                .getResourceVersion();
    }

    static Map<?, ?> condition(Map<?, ?> status, String type) {
        return status.get("conditions") instanceof List<?> l ? l.stream().map(c -> (Map<?, ?>) c)
                .filter(c -> type.equals(c.get("type"))).findFirst().orElse(Map.of()) : Map.of();
    }

    @Test
    void aRejectedPushKeepsThePreviousStateAndIsCounted() {
        ambient("shop", true);
        Await.until(() -> proxy.workloads().containsKey("cart-1"), () -> "pod in client state");
        Map<String, String> held = client.versions().get(WORKLOAD);

        pod("shop", "poison-1", "10.0.0.66", true);
        Await.until(() -> plane.counter("istiod_xds_nacks_total", "meshlite.workload.v1.Workload") == 1.0,
                () -> "the server counted the NACK");
        assertEquals(Set.of("cart-1"), proxy.workloads().keySet(), "the proxy kept its last good state");
        assertEquals(held, client.versions().get(WORKLOAD));

        // A later change is sent with what was rejected (the server never recorded it as held).
        cluster.client().pods().inNamespace("shop").withName("poison-1").delete();
        pod("shop", "cart-2", "10.0.0.2", true);
        Await.until(() -> proxy.workloads().containsKey("cart-2"), () -> "the next change applies");
        assertEquals(Set.of("cart-1", "cart-2"), proxy.workloads().keySet());
    }

    @Test
    void theClientKeepsItsStateThroughAnOutageAndResyncsOnlyTheDifference() throws Exception {
        ambient("shop", true);
        pod("shop", "cart-2", "10.0.0.2", true);
        Await.until(() -> proxy.workloads().keySet().equals(Set.of("cart-1", "cart-2")), () -> "two pods");

        String uid1 = uid("cart-1");
        String uid2 = uid("cart-2");
        int port = plane.ca().port();
        plane.close();
        Await.until(() -> !client.connected(), () -> "client saw the outage");

        cluster.client().pods().inNamespace("shop").withName("cart-2").delete();
        pod("shop", "cart-3", "10.0.0.3", true);
        String uid3 = uid("cart-3");
        assertEquals(Set.of("cart-1", "cart-2"), proxy.workloads().keySet(), "last good state kept");
        assertTrue(client.synced());
        proxy.applied.clear();

        plane = ControlPlane.start(cluster, port);
        Await.until(() -> proxy.workloads().keySet().equals(Set.of("cart-1", "cart-3")),
                () -> "resynced: " + proxy.workloads().keySet());
        Await.until(client::connected, () -> "connected again");
        List<String> applied = new ArrayList<>(proxy.applied);
        assertTrue(applied.contains("Workload +[" + uid3 + "] -[" + uid2 + "]"),
                "only the difference is sent on reconnect: " + applied + " (cart-2 " + uid2 + ", cart-3 " + uid3 + ")");
        assertFalse(applied.stream().anyMatch(s -> s.contains(uid1)), "unchanged cart-1 is not resent: " + applied);
    }

    @Test
    void aZtunnelMayOnlySubscribeAsItsOwnNode() throws Exception {
        List<String> log = new CopyOnWriteArrayList<>();
        try (XdsClient other = new XdsClient(channel, () -> token, Node.newBuilder().setId("ztunnel~node-b")
                .setRole("ztunnel").setNodeName("node-b").build(), XdsSnapshot.TYPES, (t, u, r) -> log.add(t),
                new Backoff(Duration.ofMillis(50), Duration.ofMillis(500)), Clock.systemUTC())) {
            other.start();
            Await.until(() -> plane.registry().scrape().stream()
                    .filter(s -> named(s, "istiod_xds_streams_refused_total"))
                    .flatMap(s -> ((CounterSnapshot) s).getDataPoints().stream())
                    .anyMatch(d -> d.getLabels().get("code").equals("PERMISSION_DENIED")), () -> "refused");
            assertFalse(other.synced());
            assertTrue(log.isEmpty());
        }
    }
}
