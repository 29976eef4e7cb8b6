package dev.meshlite.istiod.ca.auth;

import java.util.Optional;

/**
 * An authenticated caller: its Kubernetes service account and, when the credential binds it to
 * one, the node it runs on. Only a credential may name the node: never the request.
 */
public record Caller(ServiceAccountRef serviceAccount, Optional<String> node) {

    public Caller {
        if (serviceAccount == null || node == null) {
            throw new IllegalArgumentException("caller: service account and node (possibly empty) are required");
        }
    }

    @Override
    public String toString() {
        return serviceAccount + node.map(n -> " on node " + n).orElse("");
    }
}
