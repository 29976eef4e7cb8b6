package dev.meshlite.ztunnel.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import dev.meshlite.istiod.api.workload.v1.Authorization;
import dev.meshlite.istiod.api.workload.v1.Cidr;
import dev.meshlite.istiod.api.workload.v1.Clause;
import dev.meshlite.istiod.api.workload.v1.Match;
import dev.meshlite.istiod.api.workload.v1.PeerAuthentication;
import dev.meshlite.istiod.api.workload.v1.PeerAuthenticationMode;
import dev.meshlite.istiod.api.workload.v1.Port;
import dev.meshlite.istiod.api.workload.v1.PortList;
import dev.meshlite.istiod.api.workload.v1.Rule;
import dev.meshlite.istiod.api.workload.v1.Service;
import dev.meshlite.istiod.api.workload.v1.TunnelProtocol;
import dev.meshlite.istiod.api.workload.v1.Workload;
import dev.meshlite.ztunnel.state.Locality;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service.TrafficDistribution;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class StateUpdaterTest {

    final AtomicReference<ProxyState> state = new AtomicReference<>(ProxyState.EMPTY);
    final List<ProxyState> published = new ArrayList<>();
    final StateUpdater updater = new StateUpdater(state, published::add);

    static Workload.Builder workload(String uid, String ip) {
        return Workload.newBuilder().setUid(uid).setName("pod-" + uid).setNamespace("shop").addAddresses(ip)
                .setNode("node-1").setTrustDomain("cluster.local").setServiceAccount("backend")
                .setWorkloadName("backend").setTunnelProtocol(TunnelProtocol.HBONE)
                .putServices("shop/backend.shop.svc.cluster.local", PortList.newBuilder()
                        .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(8080)).build())
                .setPeerAuthentication(PeerAuthentication.newBuilder().setMode(PeerAuthenticationMode.STRICT)
                        .putPortModes(9090, PeerAuthenticationMode.PERMISSIVE));
    }

    @Test
    void appliesWorkloadsServicesAndPoliciesIntoOneSnapshot() throws Exception {
        updater.apply(Resources.WORKLOAD, Map.of("a", Any.pack(workload("a", "10.244.1.5").build())), Set.of());
        updater.apply(Resources.SERVICE, Map.of("shop/backend.shop.svc.cluster.local", Any.pack(Service.newBuilder()
                .setName("backend").setNamespace("shop").setHostname("backend.shop.svc.cluster.local")
                .addAddresses("10.96.0.7").addPorts(Port.newBuilder().setServicePort(80).setTargetPort(8080)).build())),
                Set.of());
        updater.apply(Resources.AUTHORIZATION, Map.of("shop/deny", Any.pack(Authorization.newBuilder().setName("deny")
                .setNamespace("shop").setScope(dev.meshlite.istiod.api.workload.v1.Scope.NAMESPACE)
                .setAction(dev.meshlite.istiod.api.workload.v1.Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addNamespaces("web").addSourceIps(Cidr.newBuilder().setAddress("10.244.0.0").setLength(16)))))
                .build())), Set.of());
        ProxyState s = state.get();
        var w = s.workloadByIp(InetAddress.ofLiteral("10.244.1.5")).orElseThrow();
        assertEquals("spiffe://cluster.local/ns/shop/sa/backend", w.identity().uri());
        assertEquals(8080, w.targetPort("shop/backend.shop.svc.cluster.local", 80));
        assertTrue(w.peerAuthentication().allowsPlaintext(9090));
        assertTrue(!w.peerAuthentication().allowsPlaintext(8080));
        var svc = s.serviceByVip(InetAddress.ofLiteral("10.96.0.7")).orElseThrow();
        assertEquals(List.of(w), s.endpoints(svc));
        assertEquals(1, s.policiesFor(w).size());
        assertEquals(3, published.size());

        updater.apply(Resources.WORKLOAD, Map.of(), Set.of("a", "never-held"));
        assertTrue(state.get().workloadByIp(InetAddress.ofLiteral("10.244.1.5")).isEmpty());
    }

    @Test
    void aResponseWithOneBadResourceChangesNothing() throws Exception {
        updater.apply(Resources.WORKLOAD, Map.of("a", Any.pack(workload("a", "10.244.1.5").build())), Set.of());
        ProxyState before = state.get();
        var e = assertThrows(IllegalArgumentException.class, () -> updater.apply(Resources.WORKLOAD, Map.of(
                "b", Any.pack(workload("b", "10.244.1.6").build()),
                "c", Any.pack(workload("c", "not-an-ip").build())), Set.of("a")));
        assertTrue(e.getMessage().contains("addresses \"not-an-ip\" (expected: an IP literal)"), e.getMessage());
        assertSame(before, state.get());
        assertEquals(1, published.size());
    }

    @Test
    void badFieldsAreNamed() {
        assertThrows(IllegalArgumentException.class, () -> Resources.workload(workload("x", "10.0.0.1")
                .putServices("s", PortList.newBuilder().addPorts(Port.newBuilder().setServicePort(70000)).build()).build()));
        assertThrows(IllegalArgumentException.class, () -> Resources.workload(workload("", "10.0.0.1").build()));
        assertThrows(IllegalArgumentException.class, () -> Resources.workload(workload("x", "1.2.3").build()));
        assertThrows(IllegalArgumentException.class, () -> Resources.workload(workload("x", "300.1.1.1").build()));
        assertThrows(IllegalArgumentException.class, () -> Resources.workload(workload("x", "example.com").build()));
        var bad = assertThrows(IllegalArgumentException.class, () -> Resources.authorization(Authorization.newBuilder()
                .setName("p").setNamespace("ns").addRules(Rule.newBuilder().addClauses(Clause.newBuilder()
                        .addMatches(Match.newBuilder().addSourceIps(Cidr.newBuilder().setAddress("10.0.0.0").setLength(33)))))
                .build()));
        assertTrue(bad.getMessage().contains("authorization ns/p"), bad.getMessage());
    }

    @Test
    void localityAndTrafficDistributionAreMapped() {
        var placed = Resources.workload(workload("x", "10.0.0.1").setLocality(dev.meshlite.istiod.api.workload.v1.Locality
                .newBuilder().setRegion("eu-west").setZone("eu-west-1a").setSubzone("rack-7")).build());
        assertEquals(new Locality("eu-west", "eu-west-1a", "rack-7"), placed.locality());
        assertEquals(Locality.NONE, Resources.workload(workload("y", "10.0.0.2").build()).locality());

        Service.Builder svc = Service.newBuilder().setName("backend").setNamespace("shop")
                .setHostname("backend.shop.svc.cluster.local").addAddresses("10.96.0.7");
        assertEquals(TrafficDistribution.ANY, Resources.service(svc.build()).trafficDistribution());
        assertEquals(TrafficDistribution.PREFER_CLOSE, Resources.service(svc.setTrafficDistribution(
                dev.meshlite.istiod.api.workload.v1.TrafficDistribution.PREFER_CLOSE).build()).trafficDistribution());
        // A value from a newer control plane is a hint this build cannot follow: any endpoint, not a NACK.
        assertEquals(TrafficDistribution.ANY, Resources.service(svc.setTrafficDistributionValue(7).build())
                .trafficDistribution());
    }

    @Test
    void anUnknownTypeIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> updater.apply("type.googleapis.com/x.Y", Map.of(), Set.of()));
    }
}
