package dev.meshlite.ztunnel.proxy.outbound;

import static dev.meshlite.ztunnel.Fixtures.id;
import static dev.meshlite.ztunnel.Fixtures.ip;
import static dev.meshlite.ztunnel.Fixtures.outsideMesh;
import static dev.meshlite.ztunnel.Fixtures.placed;
import static dev.meshlite.ztunnel.Fixtures.pod;
import static dev.meshlite.ztunnel.Fixtures.preferClose;
import static dev.meshlite.ztunnel.Fixtures.service;
import static dev.meshlite.ztunnel.Fixtures.unhealthy;
import static dev.meshlite.ztunnel.Fixtures.waypointFor;
import static dev.meshlite.ztunnel.Fixtures.withServices;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.meshlite.ztunnel.Fixtures;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Waypoint;
import dev.meshlite.ztunnel.state.Workload;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Destination kind × waypoint × health → route, as a table. */
class OutboundRouterTest {

    static final String ECHO = "shop/echo.shop.svc.cluster.local";
    static final Workload CLIENT = pod("client", "web", "10.244.1.4", "client");
    static final Workload ECHO_A = withServices(pod("echo-a", "shop", "10.244.2.5", "echo"), Map.of(ECHO, Map.of(80, 8080)));
    static final Workload ECHO_B = withServices(pod("echo-b", "shop", "10.244.1.6", "echo"), Map.of(ECHO, Map.of(80, 8080)));
    static final Service ECHO_SVC = service("echo", "shop", "10.96.0.20", Map.of(80, 8080));
    static final Workload WAYPOINT_POD = withServices(waypointFor(pod("waypoint-x", "shop", "10.244.2.9", "waypoint"),
            "shop/waypoint"), Map.of("shop/waypoint.shop.svc.cluster.local", Map.of(15008, 15008)));
    static final Service WAYPOINT_SVC = service("waypoint", "shop", "10.96.0.99", Map.of(15008, 15008));
    static final Waypoint WP = new Waypoint(ip("10.96.0.99"), 15008, id("shop", "waypoint"));

    static InetSocketAddress at(String ip, int port) {
        return new InetSocketAddress(ip(ip), port);
    }

    static ProxyState state(List<Workload> workloads, List<Service> services) {
        return ProxyState.of(workloads, services, List.of());
    }

    static Stream<Arguments> table() {
        ProxyState base = state(List.of(CLIENT, ECHO_A, ECHO_B), List.of(ECHO_SVC));
        return Stream.of(
                Arguments.of("VIP → first healthy endpoint, target port", base, CLIENT, at("10.96.0.20", 80), 0,
                        new Route.Hbone(at("10.244.2.5", 8080), at("10.244.2.5", 15008), Set.of(id("shop", "echo")),
                                ECHO_A, ECHO_SVC, false)),
                Arguments.of("VIP → pick chooses among healthy, in uid order", base, CLIENT, at("10.96.0.20", 80), 1,
                        new Route.Hbone(at("10.244.1.6", 8080), at("10.244.1.6", 15008), Set.of(id("shop", "echo")),
                                ECHO_B, ECHO_SVC, false)),
                Arguments.of("VIP: unhealthy endpoints are skipped",
                        state(List.of(CLIENT, unhealthy(ECHO_A), ECHO_B), List.of(ECHO_SVC)), CLIENT, at("10.96.0.20", 80), 1,
                        new Route.Hbone(at("10.244.1.6", 8080), at("10.244.1.6", 15008), Set.of(id("shop", "echo")),
                                ECHO_B, ECHO_SVC, false)),
                Arguments.of("VIP without healthy endpoints is unreachable",
                        state(List.of(CLIENT, unhealthy(ECHO_A)), List.of(ECHO_SVC)), CLIENT, at("10.96.0.20", 80), 0,
                        new Route.Unreachable("service echo.shop.svc.cluster.local has no healthy endpoint for port 80")),
                Arguments.of("VIP whose endpoints the mesh does not know → the VIP itself, passed through",
                        state(List.of(CLIENT), List.of(ECHO_SVC)), CLIENT, at("10.96.0.20", 80), 0,
                        new Route.Passthrough(at("10.96.0.20", 80), null, ECHO_SVC)),
                Arguments.of("VIP whose known endpoints serve other ports → the VIP itself, passed through",
                        state(List.of(CLIENT, withServices(pod("echo-a", "shop", "10.244.2.5", "echo"), Map.of(ECHO, Map.of(81, 8081)))),
                                List.of(service("echo", "shop", "10.96.0.20", Map.of(80, 8080, 81, 8081)))),
                        CLIENT, at("10.96.0.20", 80), 0,
                        new Route.Passthrough(at("10.96.0.20", 80), null, service("echo", "shop", "10.96.0.20", Map.of(80, 8080, 81, 8081)))),
                Arguments.of("VIP on a port the service lacks is unreachable", base, CLIENT, at("10.96.0.20", 81), 0,
                        new Route.Unreachable("service echo.shop.svc.cluster.local has no port 81")),
                Arguments.of("VIP → endpoint outside the mesh is passed through",
                        state(List.of(CLIENT, outsideMesh(ECHO_A)), List.of(ECHO_SVC)), CLIENT, at("10.96.0.20", 80), 0,
                        new Route.Passthrough(at("10.244.2.5", 8080), outsideMesh(ECHO_A), ECHO_SVC)),
                Arguments.of("pod IP → that pod over HBONE, port kept", base, CLIENT, at("10.244.2.5", 9000), 0,
                        new Route.Hbone(at("10.244.2.5", 9000), at("10.244.2.5", 15008), Set.of(id("shop", "echo")),
                                ECHO_A, null, false)),
                Arguments.of("unknown IP is passed through", base, CLIENT, at("192.0.2.7", 443), 0,
                        new Route.Passthrough(at("192.0.2.7", 443), null, null)),
                Arguments.of("service with waypoint → waypoint pod, authority stays the VIP",
                        state(List.of(CLIENT, ECHO_A, WAYPOINT_POD), List.of(Fixtures.withWaypoint(ECHO_SVC, WP), WAYPOINT_SVC)),
                        CLIENT, at("10.96.0.20", 80), 0,
                        new Route.Hbone(at("10.96.0.20", 80), at("10.244.2.9", 15008), Set.of(id("shop", "waypoint")),
                                WAYPOINT_POD, Fixtures.withWaypoint(ECHO_SVC, WP), true)),
                Arguments.of("pod with waypoint → waypoint",
                        state(List.of(CLIENT, Fixtures.withWaypoint(ECHO_A, WP), WAYPOINT_POD), List.of(WAYPOINT_SVC)),
                        CLIENT, at("10.244.2.5", 8080), 0,
                        new Route.Hbone(at("10.244.2.5", 8080), at("10.244.2.9", 15008), Set.of(id("shop", "waypoint")),
                                WAYPOINT_POD, null, true)),
                Arguments.of("the waypoint itself goes direct",
                        state(List.of(ECHO_A, ECHO_B, WAYPOINT_POD), List.of(Fixtures.withWaypoint(ECHO_SVC, WP), WAYPOINT_SVC)),
                        WAYPOINT_POD, at("10.96.0.20", 80), 0,
                        new Route.Hbone(at("10.244.2.5", 8080), at("10.244.2.5", 15008), Set.of(id("shop", "echo")),
                                ECHO_A, Fixtures.withWaypoint(ECHO_SVC, WP), false)),
                Arguments.of("waypoint without pods is unreachable",
                        state(List.of(CLIENT, ECHO_A), List.of(Fixtures.withWaypoint(ECHO_SVC, WP), WAYPOINT_SVC)),
                        CLIENT, at("10.96.0.20", 80), 0,
                        new Route.Unreachable("waypoint waypoint.shop.svc.cluster.local has no healthy pod")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void routes(String name, ProxyState state, Workload source, InetSocketAddress dialled, int pick, Route expected) {
        assertEquals(expected, OutboundRouter.route(state, source, dialled, n -> pick), name);
    }

    // PreferClose: the client runs on node-1 in r1/z1/s1; each endpoint is named by how close it is.
    static final Workload CLOSE_CLIENT = placed(CLIENT, "node-1", "r1", "z1", "s1");
    static final Workload SAME_NODE = echo("same-node", "10.244.1.20", "node-1", "r1", "z1", "s1");
    static final Workload SAME_SUBZONE = echo("same-subzone", "10.244.2.20", "node-2", "r1", "z1", "s1");
    static final Workload SAME_ZONE = echo("same-zone", "10.244.3.20", "node-3", "r1", "z1", "s2");
    static final Workload SAME_ZONE_2 = echo("same-zone-2", "10.244.3.21", "node-3", "r1", "z1", "");
    static final Workload SAME_REGION = echo("same-region", "10.244.4.20", "node-4", "r1", "z2", "");
    static final Workload FAR = echo("far", "10.244.5.20", "node-5", "r2", "z9", "");
    static final Workload FAR_2 = echo("far-2", "10.244.6.20", "node-6", "", "", "");

    static Workload echo(String name, String ip, String node, String region, String zone, String subzone) {
        return placed(withServices(pod(name, "shop", ip, "echo"), Map.of(ECHO, Map.of(80, 8080))), node, region, zone,
                subzone);
    }

    static Stream<Arguments> closeness() {
        Service close = preferClose(ECHO_SVC);
        return Stream.of(
                Arguments.of("same node before anything else", close, CLOSE_CLIENT,
                        List.of(SAME_NODE, SAME_SUBZONE, SAME_ZONE, SAME_REGION, FAR), Set.of("same-node")),
                Arguments.of("same subzone when the node has none", close, CLOSE_CLIENT,
                        List.of(SAME_SUBZONE, SAME_ZONE, SAME_REGION, FAR), Set.of("same-subzone")),
                Arguments.of("same zone preferred, every endpoint of it", close, CLOSE_CLIENT,
                        List.of(SAME_ZONE, SAME_ZONE_2, SAME_REGION, FAR, FAR_2), Set.of("same-zone", "same-zone-2")),
                Arguments.of("falls back to the region when nothing in the zone is healthy", close, CLOSE_CLIENT,
                        List.of(unhealthy(SAME_ZONE), SAME_REGION, FAR), Set.of("same-region")),
                Arguments.of("falls back to any when nothing in the region is healthy", close, CLOSE_CLIENT,
                        List.of(unhealthy(SAME_ZONE), unhealthy(SAME_REGION), FAR, FAR_2), Set.of("far", "far-2")),
                Arguments.of("an unhealthy close endpoint is never chosen", close, CLOSE_CLIENT,
                        List.of(unhealthy(SAME_NODE), SAME_SUBZONE, FAR), Set.of("same-subzone")),
                Arguments.of("a close endpoint not serving the port is never chosen", close, CLOSE_CLIENT,
                        List.of(withServices(SAME_NODE, Map.of(ECHO, Map.of(81, 8081))), SAME_REGION),
                        Set.of("same-region")),
                Arguments.of("absent labels compare equal: no subzone still shares a tier", close,
                        placed(CLIENT, "node-1", "r1", "z1", ""), List.of(SAME_ZONE, SAME_ZONE_2, SAME_REGION),
                        Set.of("same-zone-2")),
                Arguments.of("ANY is unaffected by locality", ECHO_SVC, CLOSE_CLIENT,
                        List.of(SAME_NODE, SAME_ZONE, FAR), Set.of("same-node", "same-zone", "far")),
                Arguments.of("unknown source → any healthy endpoint", close, null,
                        List.of(SAME_NODE, unhealthy(SAME_ZONE), FAR), Set.of("same-node", "far")),
                Arguments.of("source without locality → any healthy endpoint", close, CLIENT,
                        List.of(SAME_NODE, SAME_ZONE, FAR), Set.of("same-node", "same-zone", "far")));
    }

    /** Every endpoint some {@code pick} can reach: the eligible set, not just one draw from it. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("closeness")
    void prefersClose(String name, Service svc, Workload source, List<Workload> endpoints, Set<String> eligible) {
        List<Workload> workloads = new ArrayList<>(endpoints);
        if (source != null) {
            workloads.add(source);
        }
        ProxyState s = state(workloads, List.of(svc));
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < endpoints.size(); i++) {
            int n = i;
            Route r = OutboundRouter.route(s, source, at("10.96.0.20", 80), size -> n);
            seen.add(((Route.Hbone) r).destination().name());
        }
        assertEquals(eligible, seen, name);
    }

    @Test
    void serviceSubjectAltNamesAreAlsoExpected() {
        Service svc = new Service("echo", "shop", "echo.shop.svc.cluster.local", List.of(ip("10.96.0.20")), Map.of(80, 8080),
                List.of(id("shop", "legacy")), null, Service.TrafficDistribution.ANY);
        Route r = OutboundRouter.route(state(List.of(CLIENT, ECHO_A), List.of(svc)), CLIENT, at("10.96.0.20", 80), n -> 0);
        assertEquals(Set.of(id("shop", "echo"), id("shop", "legacy")), ((Route.Hbone) r).expectedIdentities());
    }

    @Test
    void balancesOverEveryHealthyEndpoint() {
        ProxyState s = state(List.of(CLIENT, ECHO_A, ECHO_B), List.of(ECHO_SVC));
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            int n = i;
            seen.add(((Route.Hbone) OutboundRouter.route(s, CLIENT, at("10.96.0.20", 80), size -> n)).destination().name());
        }
        assertEquals(List.of("echo-a", "echo-b", "echo-a", "echo-b"), seen);
    }
}
