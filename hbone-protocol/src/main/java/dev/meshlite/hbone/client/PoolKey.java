package dev.meshlite.hbone.client;

import dev.meshlite.hbone.tls.SpiffeId;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Objects;
import java.util.Set;

/**
 * What makes two tunnels shareable on one HTTP/2 connection (DESIGN §4): the same source identity
 * (the client certificate), the same expected destination identities (what the server certificate
 * is checked against), the same destination and the same source IP.
 *
 * @param destination the peer's HBONE address; the port is always 15008 in a mesh and is part of
 *                    the key only so tests and the debug tool can use other ports
 * @param sourceIp    the local address to bind, or {@code null} to let the kernel choose
 */
public record PoolKey(SpiffeId source, Set<SpiffeId> expectedDestinations, InetSocketAddress destination,
                      InetAddress sourceIp) {

    public PoolKey {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(destination, "destination");
        if (destination.isUnresolved()) {
            throw new IllegalArgumentException("destination: " + destination + " (expected: a resolved IP)");
        }
        if (expectedDestinations == null || expectedDestinations.isEmpty()) {
            throw new IllegalArgumentException("expectedDestinations: empty (expected: at least one SPIFFE id)");
        }
        expectedDestinations = Set.copyOf(expectedDestinations);
    }
}
