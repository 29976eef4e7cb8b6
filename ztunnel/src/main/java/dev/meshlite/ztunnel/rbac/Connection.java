package dev.meshlite.ztunnel.rbac;

import dev.meshlite.hbone.tls.SpiffeId;
import java.net.InetAddress;
import java.util.Objects;

/**
 * What L4 authorization knows of a connection.
 *
 * @param source the peer's verified identity; {@code null} for plaintext from outside the mesh
 */
public record Connection(SpiffeId source, InetAddress sourceIp, InetAddress destinationIp, int destinationPort) {

    public Connection {
        Objects.requireNonNull(sourceIp, "sourceIp");
        Objects.requireNonNull(destinationIp, "destinationIp");
    }

    /** Istio's principal form: the SPIFFE id without its scheme ("td/ns/NS/sa/SA"), or null. */
    public String principal() {
        return source == null ? null : source.trustDomain() + "/ns/" + source.namespace() + "/sa/" + source.serviceAccount();
    }
}
