package dev.meshlite.e2e.controllers;

import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Writes the informer caches have not caught up with: pods created or deleted per owner, and pod
 * bindings. A controller counts them as done until the cache shows them (or 30 s pass, after
 * which the cache is trusted again), so one gap never causes a second create, delete or binding.
 */
final class Expectations {

    private static final Duration TTL = Duration.ofSeconds(30);

    private record Pending(String owner, String key, Instant at) {
    }

    private final Map<String, Pending> created = new ConcurrentHashMap<>();
    private final Map<String, Pending> deleted = new ConcurrentHashMap<>();
    private final Map<String, Pending> bound = new ConcurrentHashMap<>();

    void created(String ownerUid, String podKey) {
        created.put(podKey, new Pending(ownerUid, podKey, Instant.now()));
    }

    void deleted(String ownerUid, String podKey) {
        deleted.put(podKey, new Pending(ownerUid, podKey, Instant.now()));
    }

    void bound(String podUid, String node) {
        bound.put(podUid, new Pending(node, podUid, Instant.now()));
    }

    /** Forgets what the snapshot now shows, and what is older than the TTL. */
    void observe(ControllerManager.Snapshot s) {
        Set<String> present = new HashSet<>();
        Set<String> boundUids = new HashSet<>();
        for (Pod p : s.pods()) {
            present.add(key(p));
            if (p.getSpec().getNodeName() != null && !p.getSpec().getNodeName().isEmpty()) {
                boundUids.add(p.getMetadata().getUid());
            }
        }
        Instant cutoff = Instant.now().minus(TTL);
        created.values().removeIf(e -> present.contains(e.key()) || e.at().isBefore(cutoff));
        deleted.values().removeIf(e -> !present.contains(e.key()) || e.at().isBefore(cutoff));
        bound.values().removeIf(e -> boundUids.contains(e.key()) || e.at().isBefore(cutoff));
    }

    long pendingCreates(String ownerUid) {
        return created.values().stream().filter(e -> e.owner().equals(ownerUid)).count();
    }

    boolean isBeingDeleted(Pod p) {
        return deleted.containsKey(key(p));
    }

    /** The node a pod was just bound to, when the cache does not show it yet. */
    String boundTo(String podUid) {
        Pending p = bound.get(podUid);
        return p == null ? null : p.owner();
    }

    static String key(Pod p) {
        return p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
    }
}
