package dev.meshlite.ztunnel.proxy.outbound;

import static dev.meshlite.ztunnel.Fixtures.id;
import static dev.meshlite.ztunnel.Fixtures.ip;
import static dev.meshlite.ztunnel.Fixtures.outsideMesh;
import static dev.meshlite.ztunnel.Fixtures.pod;
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

    @Test
    void serviceSubjectAltNamesAreAlsoExpected() {
        Service svc = new Service("echo", "shop", "echo.shop.svc.cluster.local", List.of(ip("10.96.0.20")), Map.of(80, 8080),
                List.of(id("shop", "legacy")), null);
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
