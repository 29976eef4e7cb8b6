package dev.meshlite.istiod.xds;

import dev.meshlite.istiod.api.xds.v1.Node;
import dev.meshlite.istiod.ca.auth.Caller;
import dev.meshlite.istiod.ca.auth.CallerAuthenticator;
import dev.meshlite.istiod.ca.auth.ServiceAccountRef;
import dev.meshlite.istiod.ca.auth.UnauthenticatedException;
import io.grpc.Status;
import java.util.Set;

/**
 * Who may open a discovery stream as which proxy (the CA's authentication, DESIGN §6):
 * <ul>
 *   <li>a ztunnel: a trusted node agent whose credential is bound to the node it names in
 *       {@code node.node_name} (a ztunnel may only learn what its node needs);</li>
 *   <li>a waypoint: the service account named like its Gateway in the Gateway's namespace
 *       (Istio's convention);</li>
 *   <li>nothing else.</li>
 * </ul>
 */
final class ProxyAccess {

    private final CallerAuthenticator authenticator;
    private final Set<ServiceAccountRef> nodeAgents;

    ProxyAccess(CallerAuthenticator authenticator, Set<ServiceAccountRef> nodeAgents) {
        this.authenticator = authenticator;
        this.nodeAgents = Set.copyOf(nodeAgents);
    }

    /** Returns normally when allowed; otherwise the status to close the stream with. */
    void check(String token, Node node) throws StatusExceptionWithReason {
        if (token == null || token.isEmpty()) {
            throw new StatusExceptionWithReason(Status.UNAUTHENTICATED,
                    "no bearer token (expected: metadata authorization: Bearer <token>)");
        }
        if (node == null || node.getId().isEmpty()) {
            throw new StatusExceptionWithReason(Status.UNAUTHENTICATED,
                    "first request has no node (expected: node with id, role and node_name)");
        }
        Caller caller;
        try {
            caller = authenticator.authenticate(token);
        } catch (UnauthenticatedException e) {
            throw new StatusExceptionWithReason(Status.UNAUTHENTICATED, e.getMessage());
        } catch (RuntimeException e) {
            throw new StatusExceptionWithReason(Status.UNAVAILABLE, "cannot authenticate now: " + e.getMessage());
        }
        switch (node.getRole()) {
            case "ztunnel" -> {
                if (!nodeAgents.contains(caller.serviceAccount())) {
                    throw denied(caller + " is not a trusted node agent (expected one of " + nodeAgents + ")");
                }
                if (!caller.node().map(n -> n.equals(node.getNodeName())).orElse(false)) {
                    throw denied(caller + " may not subscribe as a ztunnel of node '" + node.getNodeName()
                            + "' (expected: the node its credential is bound to)");
                }
            }
            case "waypoint" -> {
                ServiceAccountRef wanted = new ServiceAccountRef(node.getNamespace(), node.getName());
                if (!caller.serviceAccount().equals(wanted)) {
                    throw denied(caller + " may not subscribe as waypoint " + wanted + " (expected: service account "
                            + wanted + ")");
                }
            }
            default -> throw denied("role '" + node.getRole() + "' (expected: ztunnel or waypoint)");
        }
    }

    private static StatusExceptionWithReason denied(String why) {
        return new StatusExceptionWithReason(Status.PERMISSION_DENIED, why);
    }

    /** A refusal: the status and its reason. */
    static final class StatusExceptionWithReason extends Exception {
        final Status status;

        StatusExceptionWithReason(Status status, String reason) {
            super(reason);
            this.status = status;
        }
    }
}
