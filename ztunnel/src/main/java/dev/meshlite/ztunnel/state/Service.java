package dev.meshlite.ztunnel.state;

import dev.meshlite.hbone.tls.SpiffeId;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/**
 * A Service: its VIPs, port map (service port → target port, 0 meaning the same), extra identities
 * its endpoints may present, and its waypoint.
 */
public record Service(String name, String namespace, String hostname, List<InetAddress> addresses,
                      Map<Integer, Integer> ports, List<SpiffeId> subjectAltNames, Waypoint waypoint) {

    public Service {
        addresses = List.copyOf(addresses);
        ports = Map.copyOf(ports);
        subjectAltNames = List.copyOf(subjectAltNames);
    }

    /** Resource name and key of {@link Workload#services()}: "namespace/hostname". */
    public String key() {
        return namespace + "/" + hostname;
    }
}
