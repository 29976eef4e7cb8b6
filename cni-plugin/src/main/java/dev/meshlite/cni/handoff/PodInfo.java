package dev.meshlite.cni.handoff;

import java.util.List;
import java.util.Objects;

/**
 * A pod as the node agent hands it to ztunnel. The uid is the pod's identity across messages
 * (adds replace by uid); the service account names its workload identity.
 */
public record PodInfo(String uid, String name, String namespace, String serviceAccount, List<String> ips) {

    public PodInfo {
        Objects.requireNonNull(uid, "uid");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(serviceAccount, "serviceAccount");
        if (uid.isEmpty()) {
            throw new IllegalArgumentException("uid is empty (expected the pod's metadata.uid)");
        }
        ips = List.copyOf(ips);
    }
}
