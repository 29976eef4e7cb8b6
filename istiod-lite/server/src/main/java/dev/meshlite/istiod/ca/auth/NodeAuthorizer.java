package dev.meshlite.istiod.ca.auth;

import dev.meshlite.hbone.tls.SpiffeId;
import java.util.Set;

/**
 * Who may hold which identity (DESIGN §6):
 * <ol>
 *   <li>the identity must be in our trust domain;</li>
 *   <li>any caller may obtain its own identity;</li>
 *   <li>a trusted node agent (ztunnel) may obtain identity X only if a pod running as X is on the
 *       node its credential is bound to;</li>
 *   <li>nothing else.</li>
 * </ol>
 * Every denial carries the reason, worded for the operator reading the caller's log.
 */
public final class NodeAuthorizer {

    /** The outcome and, for a denial, why. */
    public record Decision(boolean allowed, String reason) {
        static Decision allow(String why) {
            return new Decision(true, why);
        }

        static Decision deny(String why) {
            return new Decision(false, why);
        }
    }

    private final String trustDomain;
    private final Set<ServiceAccountRef> nodeAgents;
    private final PodDirectory pods;

    public NodeAuthorizer(String trustDomain, Set<ServiceAccountRef> nodeAgents, PodDirectory pods) {
        this.trustDomain = trustDomain;
        this.nodeAgents = Set.copyOf(nodeAgents);
        this.pods = pods;
    }

    public String trustDomain() {
        return trustDomain;
    }

    /** The identity a caller gets when it names none: its own. */
    public SpiffeId ownIdentity(Caller caller) {
        return new SpiffeId(trustDomain, caller.serviceAccount().namespace(), caller.serviceAccount().name());
    }

    public Decision authorize(Caller caller, SpiffeId requested) {
        if (!requested.trustDomain().equals(trustDomain)) {
            return Decision.deny("identity " + requested + " is outside trust domain " + trustDomain);
        }
        ServiceAccountRef wanted = new ServiceAccountRef(requested.namespace(), requested.serviceAccount());
        if (wanted.equals(caller.serviceAccount())) {
            return Decision.allow("own identity");
        }
        if (!nodeAgents.contains(caller.serviceAccount())) {
            return Decision.deny("caller " + caller.serviceAccount() + " may only obtain its own identity, not "
                    + requested + " (it is not a trusted node agent)");
        }
        if (caller.node().isEmpty()) {
            return Decision.deny("node agent " + caller.serviceAccount()
                    + " presented a credential bound to no node, so it may only obtain its own identity");
        }
        String node = caller.node().get();
        if (!pods.runsOnNode(node, wanted)) {
            return Decision.deny("node agent " + caller.serviceAccount() + " on node " + node
                    + " asked for " + requested + ", but no pod with service account " + wanted
                    + " runs on node " + node);
        }
        return Decision.allow("pod with service account " + wanted + " runs on node " + node);
    }
}
