package dev.meshlite.ztunnel.proxy.outbound;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Workload;
import java.net.InetSocketAddress;
import java.util.Set;

/** Where an outbound connection goes: the result of {@link OutboundRouter#route}. */
public sealed interface Route {

    /**
     * Through an HBONE tunnel to {@code hboneAddress} (a pod IP, port 15008), asking for
     * {@code authority}; the peer must present one of {@code expectedIdentities}.
     *
     * @param destination the workload at the far end (the waypoint's pod when {@code viaWaypoint})
     * @param service     the Service the client dialled, or {@code null}
     */
    record Hbone(InetSocketAddress authority, InetSocketAddress hboneAddress, Set<SpiffeId> expectedIdentities,
                 Workload destination, Service service, boolean viaWaypoint) implements Route {
        public Hbone {
            expectedIdentities = Set.copyOf(expectedIdentities);
        }
    }

    /** Plain TCP to {@code target}: a destination outside the mesh. */
    record Passthrough(InetSocketAddress target, Workload destination, Service service) implements Route {}

    /** Nowhere to send it (a Service without ready endpoints): the connection is closed. */
    record Unreachable(String reason) implements Route {}
}
