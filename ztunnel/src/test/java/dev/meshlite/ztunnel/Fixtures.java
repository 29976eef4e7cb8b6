package dev.meshlite.ztunnel;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.Locality;
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
                true, Map.of(), List.of(), PeerAuthentication.DEFAULT, null, null, Locality.NONE);
    }

    public static Workload withServices(Workload w, Map<String, Map<Integer, Integer>> services) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), services, w.policies(),
                w.peerAuthentication(), w.waypoint(), w.waypointFor(), w.locality());
    }

    public static Workload unhealthy(Workload w) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), false, w.services(), w.policies(),
                w.peerAuthentication(), w.waypoint(), w.waypointFor(), w.locality());
    }

    public static Workload outsideMesh(Workload w) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), false, w.healthy(), w.services(), w.policies(),
                w.peerAuthentication(), w.waypoint(), w.waypointFor(), w.locality());
    }

    public static Workload withWaypoint(Workload w, Waypoint wp) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), w.services(), w.policies(),
                w.peerAuthentication(), wp, w.waypointFor(), w.locality());
    }

    public static Workload waypointFor(Workload w, String gateway) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), w.services(), w.policies(),
                w.peerAuthentication(), w.waypoint(), gateway, w.locality());
    }

    public static Workload withPolicies(Workload w, List<String> policies) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), w.node(), w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), w.services(), policies,
                w.peerAuthentication(), w.waypoint(), w.waypointFor(), w.locality());
    }

    /** {@code w} on {@code node}, whose topology labels are {@code region}, {@code zone}, {@code subzone}. */
    public static Workload placed(Workload w, String node, String region, String zone, String subzone) {
        return new Workload(w.uid(), w.name(), w.namespace(), w.addresses(), node, w.identity(), w.workloadName(),
                w.canonicalName(), w.canonicalRevision(), w.hbone(), w.healthy(), w.services(), w.policies(),
                w.peerAuthentication(), w.waypoint(), w.waypointFor(), new Locality(region, zone, subzone));
    }

    public static Service service(String name, String ns, String vip, Map<Integer, Integer> ports) {
        return new Service(name, ns, name + "." + ns + ".svc.cluster.local", List.of(ip(vip)), ports, List.of(), null,
                Service.TrafficDistribution.ANY);
    }

    public static Service withWaypoint(Service s, Waypoint wp) {
        return new Service(s.name(), s.namespace(), s.hostname(), s.addresses(), s.ports(), s.subjectAltNames(), wp,
                s.trafficDistribution());
    }

    public static Service preferClose(Service s) {
        return new Service(s.name(), s.namespace(), s.hostname(), s.addresses(), s.ports(), s.subjectAltNames(),
                s.waypoint(), Service.TrafficDistribution.PREFER_CLOSE);
    }

    public static Authorization policy(String name, String ns, Authorization.Scope scope, Authorization.Action action,
                                       Authorization.Match... matches) {
        return new Authorization(name, ns, scope, action,
                List.of(new Authorization.Rule(List.of(new Authorization.Clause(List.of(matches))))));
    }
}
