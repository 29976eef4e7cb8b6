package dev.meshlite.ztunnel.proxy.outbound;

import dev.meshlite.hbone.HboneWire;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Waypoint;
import dev.meshlite.ztunnel.state.Workload;
import java.net.InetAddress;
import java.net.InetSocketAddress;
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
 *       else to one of its healthy endpoints that serve the port (service port → target port);
 *   <li>a known workload's IP: through its waypoint if it has one, else straight to it;
 *   <li>anything else: passed through as plain TCP.
 * </ol>
 * A destination in the mesh is reached over HBONE to its pod IP on 15008, expecting the pod's
 * identity (plus the Service's subject alt names); one outside it (no HBONE) is passed through.
 * A waypoint's own traffic never loops back into a waypoint.
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
            List<Workload> ready = state.endpoints(svc).stream()
                    .filter(w -> w.healthy() && w.targetPort(svc.key(), port) > 0 && !w.addresses().isEmpty())
                    .toList();
            if (ready.isEmpty()) {
                return new Route.Unreachable("service " + svc.hostname() + " has no healthy endpoint for port " + port);
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

    private static InetSocketAddress hbone(InetAddress ip) {
        return new InetSocketAddress(ip, HboneWire.PORT);
    }
}
