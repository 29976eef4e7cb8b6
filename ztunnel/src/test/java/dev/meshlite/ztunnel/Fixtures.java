package dev.meshlite.ztunnel;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.PeerAuthentication;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Waypoint;
import dev.meshlite.ztunnel.state.Workload;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/** Small builders for state records in tests. */
public final class Fixtures {

    private Fixtures() {}

    public static InetAddress ip(String s) {
        return InetAddress.ofLiteral(s);
    }

    public static SpiffeId id(String ns, String sa) {
        return new SpiffeId("cluster.local", ns, sa);
    }

    public static Workload pod(String name, String ns, String ip, String sa) {
        return new Workload("uid-" + name, name, ns, List.of(ip(ip)), "node-1", id(ns, sa), name, name, "v1", true,
                true, Map.of(), List.of(), PeerAuthentication.DEFAULT, null, null);
    }

    public static Workload withServices(Workload w, Map<String, Map<Integer, Integer>> services) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), services, w.policies(),
                w.peerAuthentication(), w.waypoint(), w.waypointFor());
    }

    public static Workload unhealthy(Workload w) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), false, w.services(), w.policies(),
                w.peerAuthentication(), w.waypoint(), w.waypointFor());
    }

    public static Workload outsideMesh(Workload w) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), false, w.healthy(), w.services(), w.policies(),
                w.peerAuthentication(), w.waypoint(), w.waypointFor());
    }

    public static Workload withWaypoint(Workload w, Waypoint wp) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), w.services(), w.policies(),
                w.peerAuthentication(), wp, w.waypointFor());
    }

    public static Workload waypointFor(Workload w, String gateway) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), w.services(), w.policies(),
                w.peerAuthentication(), w.waypoint(), gateway);
    }

    public static Workload withPolicies(Workload w, List<String> policies) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), w.services(), policies,
                w.peerAuthentication(), w.waypoint(), w.waypointFor());
    }

    public static Service service(String name, String ns, String vip, Map<Integer, Integer> ports) {
        return new Service(name, ns, name + "." + ns + ".svc.cluster.local", List.of(ip(vip)), ports, List.of(), null);
    }

    public static Service withWaypoint(Service s, Waypoint wp) {
        return new Service(s.name(), s.namespace(), s.hostname(), s.addresses(), s.ports(), s.subjectAltNames(), wp);
    }

    public static Authorization policy(String name, String ns, Authorization.Scope scope, Authorization.Action action,
                                       Authorization.Match... matches) {
        return new Authorization(name, ns, scope, action,
                List.of(new Authorization.Rule(List.of(new Authorization.Clause(List.of(matches))))));
    }
}
