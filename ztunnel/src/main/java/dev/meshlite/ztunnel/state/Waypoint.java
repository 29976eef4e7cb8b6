package dev.meshlite.ztunnel.state;

import dev.meshlite.hbone.tls.SpiffeId;
import java.net.InetAddress;
import java.util.Objects;

/** A waypoint's HBONE address and, when the control plane knows it, its identity. */
public record Waypoint(InetAddress address, int hbonePort, SpiffeId identity) {

    public Waypoint {
        Objects.requireNonNull(address, "address");
        if (hbonePort <= 0 || hbonePort > 65535) {
            throw new IllegalArgumentException("hbonePort: " + hbonePort + " (expected: 1-65535)");
        }
    }
}
