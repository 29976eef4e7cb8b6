package dev.meshlite.ztunnel.state;

import dev.meshlite.hbone.tls.SpiffeId;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Service: its VIPs, port map (service port → target port, 0 meaning the same), extra identities
 * its endpoints may present, its waypoint, and how a client picks among its endpoints.
 */
public record Service(String name, String namespace, String hostname, List<InetAddress> addresses,
                      Map<Integer, Integer> ports, List<SpiffeId> subjectAltNames, Waypoint waypoint,
                      TrafficDistribution trafficDistribution) {

    /** Which healthy endpoints a client may pick from. */
    public enum TrafficDistribution {
        /** Any of them (the default). */
        ANY,
        /**
         * Those closest to the client (Kubernetes' {@code trafficDistribution: PreferClose}); the
         * tiers are spelled out in {@code OutboundRouter}.
         */
        PREFER_CLOSE
    }

    public Service {
        Objects.requireNonNull(trafficDistribution, "trafficDistribution");
        addresses = List.copyOf(addresses);
        ports = Map.copyOf(ports);
        subjectAltNames = List.copyOf(subjectAltNames);
    }

    /** Resource name and key of {@link Workload#services()}: "namespace/hostname". */
    public String key() {
        return namespace + "/" + hostname;
    }
}
