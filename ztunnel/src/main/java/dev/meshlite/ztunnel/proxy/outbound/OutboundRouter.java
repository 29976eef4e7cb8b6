package dev.meshlite.ztunnel.proxy.outbound;

import dev.meshlite.hbone.HboneWire;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.state.Locality;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Waypoint;
import dev.meshlite.ztunnel.state.Workload;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.IntUnaryOperator;

/**
 * Decides where a captured outbound connection goes (DESIGN §3), a pure function of the state
 * snapshot, the source pod and the address the app dialled:
 * <ol>
 *   <li>a Service VIP: through the Service's waypoint if it has one (authority stays VIP:port),
 *       else to one of its healthy endpoints that serve the port (service port → target port),
 *       the closest ones when the Service prefers close (below); unreachable when it has such
 *       endpoints but none is healthy, and passed through to the VIP itself (the cluster's
 *       Service routing, as without the mesh) when the mesh knows none at all;
 *   <li>a known workload's IP: through its waypoint if it has one, else straight to it;
 *   <li>anything else: passed through as plain TCP.
 * </ol>
 * A destination in the mesh is reached over HBONE to its pod IP on 15008, expecting the pod's
 * identity (plus the Service's subject alt names); one outside it (no HBONE) is passed through.
 * A waypoint's own traffic never loops back into a waypoint.
 *
 * <p>Which endpoint of a Service. Invariant: the endpoint is one of the <em>candidates</em>, the
 * Service's endpoints that are healthy, have an address and serve the dialled port; no locality
 * makes any other endpoint eligible. Among the candidates, {@code pick} chooses from the eligible
 * ones:
 * <ul>
 *   <li>{@link Service.TrafficDistribution#ANY}: every candidate;
 *   <li>{@link Service.TrafficDistribution#PREFER_CLOSE} (Istio's PreferClose, with the node as
 *       the innermost tier): only the candidates of the closest non-empty tier relative to the
 *       source workload, tiers from closest to farthest: same region, zone, subzone and node; same
 *       region, zone and subzone; same region and zone; same region; any. Labels compare as text,
 *       an absent label equal to an absent one (nodes without subzones still share the subzone
 *       tier); the node tier needs a named node. When the source is unknown, or its node has no
 *       topology label at all, every candidate is eligible.
 * </ul>
 * Only the Service's own endpoints are chosen this way; a waypoint's pod is picked among all of its
 * healthy pods.
 *
 * @see Route
 */
public final class OutboundRouter {

    private OutboundRouter() {}

    /**
     * @param pick chooses an index in [0, n) among n healthy endpoints (random in production, fixed
     *             in tests)
     */
    public static Route route(ProxyState state, Workload source, InetSocketAddress dialled, IntUnaryOperator pick) {
        InetAddress ip = dialled.getAddress();
        int port = dialled.getPort();
        boolean fromWaypoint = source != null && source.waypointFor() != null && !source.waypointFor().isEmpty();
        Optional<Service> service = state.serviceByVip(ip);
        if (service.isPresent()) {
            Service svc = service.get();
            if (svc.waypoint() != null && !fromWaypoint) {
                return viaWaypoint(state, svc.waypoint(), dialled, svc, pick);
            }
            if (!svc.ports().containsKey(port)) {
                return new Route.Unreachable("service " + svc.hostname() + " has no port " + port);
            }
            List<Workload> serving = state.endpoints(svc).stream()
                    .filter(w -> w.targetPort(svc.key(), port) > 0 && !w.addresses().isEmpty())
                    .toList();
            if (serving.isEmpty()) {
                // No endpoint the mesh knows of: the Service's pods are outside the mesh (only
                // ambient workloads are sent), or their workloads and the Service itself arrive
                // in separate updates (a namespace joining or leaving). The cluster's own Service
                // routing decides, as without the mesh.
                return new Route.Passthrough(dialled, null, svc);
            }
            List<Workload> ready = serving.stream().filter(Workload::healthy).toList();
            if (ready.isEmpty()) {
                return new Route.Unreachable("service " + svc.hostname() + " has no healthy endpoint for port " + port);
            }
            if (svc.trafficDistribution() == Service.TrafficDistribution.PREFER_CLOSE) {
                ready = closest(source, ready);
            }
            Workload w = ready.get(Math.floorMod(pick.applyAsInt(ready.size()), ready.size()));
            InetSocketAddress target = new InetSocketAddress(w.addresses().getFirst(), w.targetPort(svc.key(), port));
            if (!w.hbone()) {
                return new Route.Passthrough(target, w, svc);
            }
            Set<SpiffeId> expected = new HashSet<>(svc.subjectAltNames());
            expected.add(w.identity());
            return new Route.Hbone(target, hbone(target.getAddress()), expected, w, svc, false);
        }
        Optional<Workload> workload = state.workloadByIp(ip);
        if (workload.isPresent()) {
            Workload w = workload.get();
            if (w.waypoint() != null && !fromWaypoint) {
                return viaWaypoint(state, w.waypoint(), dialled, null, pick);
            }
            if (!w.hbone()) {
                return new Route.Passthrough(dialled, w, null);
            }
            return new Route.Hbone(dialled, hbone(ip), Set.of(w.identity()), w, null, false);
        }
        return new Route.Passthrough(dialled, null, null);
    }

    /**
     * To a waypoint: its address is normally its Service's VIP, so one of that Service's healthy
     * pods is chosen; a pod IP is used as is. The authority is what the app dialled.
     */
    private static Route viaWaypoint(ProxyState state, Waypoint wp, InetSocketAddress dialled, Service svc,
                                     IntUnaryOperator pick) {
        Optional<Service> wpService = state.serviceByVip(wp.address());
        Workload pod;
        if (wpService.isPresent()) {
            List<Workload> ready = state.endpoints(wpService.get()).stream()
                    .filter(w -> w.healthy() && w.hbone() && !w.addresses().isEmpty()).toList();
            if (ready.isEmpty()) {
                return new Route.Unreachable("waypoint " + wpService.get().hostname() + " has no healthy pod");
            }
            pod = ready.get(Math.floorMod(pick.applyAsInt(ready.size()), ready.size()));
        } else {
            Optional<Workload> direct = state.workloadByIp(wp.address());
            if (direct.isEmpty()) {
                return new Route.Unreachable("waypoint " + wp.address().getHostAddress() + " is unknown");
            }
            pod = direct.get();
        }
        Set<SpiffeId> expected = new HashSet<>();
        expected.add(pod.identity());
        if (wp.identity() != null) {
            expected.add(wp.identity());
        }
        return new Route.Hbone(dialled, new InetSocketAddress(pod.addresses().getFirst(), wp.hbonePort()), expected,
                pod, svc, true);
    }

    /** How close an endpoint is to the source, farthest first: compared by ordinal. */
    private enum Closeness { ANY, REGION, ZONE, SUBZONE, NODE }

    /** The candidates of the closest tier present (never empty when {@code candidates} is not). */
    private static List<Workload> closest(Workload source, List<Workload> candidates) {
        if (source == null || source.locality().isEmpty()) {
            return candidates;
        }
        Closeness best = Closeness.ANY;
        List<Workload> out = new ArrayList<>();
        for (Workload w : candidates) {
            Closeness c = closeness(source, w);
            if (c.compareTo(best) > 0) {
                best = c;
                out.clear();
            }
            if (c == best) {
                out.add(w);
            }
        }
        return out;
    }

    private static Closeness closeness(Workload source, Workload endpoint) {
        Locality a = source.locality();
        Locality b = endpoint.locality();
        if (!a.region().equals(b.region())) {
            return Closeness.ANY;
        }
        if (!a.zone().equals(b.zone())) {
            return Closeness.REGION;
        }
        if (!a.subzone().equals(b.subzone())) {
            return Closeness.ZONE;
        }
        if (source.node() == null || source.node().isEmpty() || !source.node().equals(endpoint.node())) {
            return Closeness.SUBZONE;
        }
        return Closeness.NODE;
    }

    private static InetSocketAddress hbone(InetAddress ip) {
        return new InetSocketAddress(ip, HboneWire.PORT);
    }
}
