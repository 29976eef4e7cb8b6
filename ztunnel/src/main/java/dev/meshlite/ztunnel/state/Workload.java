package dev.meshlite.ztunnel.state;

import dev.meshlite.hbone.tls.SpiffeId;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One workload (pod) of the mesh as the control plane described it.
 *
 * @param services            the Services selecting this pod: name ("ns/hostname") → port map
 * @param policies            names of the selector-scoped authorizations that select this pod
 * @param waypoint            where inbound traffic for this pod must pass first, or {@code null}
 * @param waypointFor         set when this pod is itself a waypoint ("ns/name" of its Gateway)
 * @param locality            its node's topology, {@link Locality#NONE} when unlabelled
 */
public record Workload(String uid, String name, String namespace, List<InetAddress> addresses, String node,
                       SpiffeId identity, String workloadName, String canonicalName, String canonicalRevision,
                       boolean hbone, boolean healthy, Map<String, Map<Integer, Integer>> services,
                       List<String> policies, PeerAuthentication peerAuthentication, Waypoint waypoint,
                       String waypointFor, Locality locality) {

    public Workload {
        Objects.requireNonNull(uid, "uid");
        Objects.requireNonNull(identity, "identity");
        addresses = List.copyOf(addresses);
        services = Map.copyOf(services);
        policies = List.copyOf(policies);
        Objects.requireNonNull(peerAuthentication, "peerAuthentication");
        Objects.requireNonNull(locality, "locality");
    }

    /** The target port behind {@code service}'s {@code servicePort} on this pod, or -1. */
    public int targetPort(String service, int servicePort) {
        Map<Integer, Integer> ports = services.get(service);
        if (ports == null) {
            return -1;
        }
        Integer target = ports.get(servicePort);
        return target == null ? -1 : target == 0 ? servicePort : target;
    }
}
