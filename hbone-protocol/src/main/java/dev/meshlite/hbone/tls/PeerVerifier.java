package dev.meshlite.hbone.tls;

import java.security.cert.CertificateException;
import java.util.Set;

/**
 * Decides whether a peer's SPIFFE identity is acceptable, after its chain has been validated
 * against the trust bundle. Hostname verification is never used: the URI SAN is the identity.
 *
 * <ul>
 *   <li>client side: the server's id must be one of the expected identities (the destination
 *       workload's service account and the Service's subject alt names);
 *   <li>server side: the client's id must be in our trust domain; authorization comes later.
 * </ul>
 */
@FunctionalInterface
public interface PeerVerifier {

    /** Throws {@link SpiffeIdentityException} when {@code peer} is not acceptable. */
    void verify(SpiffeId peer) throws CertificateException;

    /** Server side: any workload of {@code trustDomain}. */
    static PeerVerifier sameTrustDomain(String trustDomain) {
        SpiffeId.parse("spiffe://" + trustDomain + "/ns/x/sa/x"); // validates the domain's syntax
        return peer -> {
            if (!peer.trustDomain().equals(trustDomain)) {
                throw new SpiffeIdentityException("peer " + peer + " is not in trust domain "
                        + trustDomain);
            }
        };
    }

    /** Client side: exactly one of {@code expected}. */
    static PeerVerifier oneOf(Set<SpiffeId> expected) {
        if (expected.isEmpty()) {
            throw new IllegalArgumentException("expected identities: [] (expected: at least one)");
        }
        Set<SpiffeId> copy = Set.copyOf(expected);
        return peer -> {
            if (!copy.contains(peer)) {
                throw new SpiffeIdentityException("peer " + peer + " is not one of " + copy);
            }
        };
    }

    /** Any peer whose chain validated (used where the identity is checked later). */
    static PeerVerifier anyValidChain() {
        return peer -> {};
    }
}
