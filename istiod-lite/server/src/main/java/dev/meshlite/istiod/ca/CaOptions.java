package dev.meshlite.istiod.ca;

import dev.meshlite.istiod.ca.auth.ServiceAccountRef;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * Everything the CA is configured with, built once.
 *
 * @param auth which caller authentications are accepted, tried in this order
 * @param reloadInterval how often the CA Secret is re-read (a replica's rotation, a re-plugged CA)
 */
public record CaOptions(String trustDomain, String namespace, InetSocketAddress bind, Duration maxTtl,
        Duration rootTtl, Set<ServiceAccountRef> nodeAgents, List<Auth> auth, List<String> audiences,
        Duration reloadInterval, Clock clock) {

    /** Caller authentication kinds. */
    public enum Auth { TOKEN_REVIEW, NODE_CREDENTIAL }

    public static final ServiceAccountRef DEFAULT_NODE_AGENT = new ServiceAccountRef("istio-system", "ztunnel");

    public CaOptions {
        nodeAgents = Set.copyOf(nodeAgents);
        auth = List.copyOf(auth);
        audiences = List.copyOf(audiences);
        if (auth.isEmpty()) {
            throw new IllegalArgumentException("auth: empty (expected: token-review and/or node-credential)");
        }
        if (maxTtl.isNegative() || maxTtl.isZero()) {
            throw new IllegalArgumentException("maxTtl: " + maxTtl + " (expected: > 0)");
        }
    }

    /** Loopback, port 0, 24 h certificates, ztunnel as the node agent, both authentications. */
    public static CaOptions defaults(String trustDomain) {
        return new CaOptions(trustDomain, CaSecretStore.DEFAULT_NAMESPACE,
                new InetSocketAddress("127.0.0.1", 0), CertificateSigner.DEFAULT_MAX_TTL,
                RootCertificates.DEFAULT_ROOT_TTL, Set.of(DEFAULT_NODE_AGENT),
                List.of(Auth.NODE_CREDENTIAL, Auth.TOKEN_REVIEW), List.of(), Duration.ofSeconds(30),
                Clock.systemUTC());
    }

    public CaOptions withBind(InetSocketAddress b) {
        return new CaOptions(trustDomain, namespace, b, maxTtl, rootTtl, nodeAgents, auth, audiences, reloadInterval, clock);
    }

    public CaOptions withMaxTtl(Duration t) {
        return new CaOptions(trustDomain, namespace, bind, t, rootTtl, nodeAgents, auth, audiences, reloadInterval, clock);
    }

    public CaOptions withClock(Clock c) {
        return new CaOptions(trustDomain, namespace, bind, maxTtl, rootTtl, nodeAgents, auth, audiences, reloadInterval, c);
    }

    public CaOptions withAuth(List<Auth> a) {
        return new CaOptions(trustDomain, namespace, bind, maxTtl, rootTtl, nodeAgents, a, audiences, reloadInterval, clock);
    }
}
