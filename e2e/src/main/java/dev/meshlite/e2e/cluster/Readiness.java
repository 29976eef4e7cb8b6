package dev.meshlite.e2e.cluster;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;

/** The Ready condition of nodes and pods, read the one way every part of the cluster needs. */
public final class Readiness {

    private Readiness() {
    }

    public static boolean ready(Node n) {
        return n.getStatus() != null && n.getStatus().getConditions() != null
                && n.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }

    public static boolean ready(Pod p) {
        return p.getStatus() != null && p.getStatus().getConditions() != null
                && p.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }
}
