package dev.meshlite.istiod.xds;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One stream's subscription to one type, and what the proxy holds of it.
 *
 * <p>Invariants: {@code acked} is what the proxy confirmed holding (its initial versions, then
 * every ACKed response applied in order); {@code inflight} are responses sent and not yet
 * answered. The next diff is computed against {@link #expected()}: acked plus every in-flight
 * response, so nothing is sent twice while an ACK is on its way. A NACKed response is dropped
 * from in-flight without touching {@code acked}: what it carried is sent again on the next change.
 * Answers naming an unknown nonce (stale, or from before a restart) change nothing.
 *
 * <p>Cost: {@code expected} is kept up to date as responses are sent, not recomputed, and a push
 * caused by a new snapshot only looks at the names that changed between the last snapshot and
 * this one ({@link #diff(Map, Set)}), so a one-pod change costs each stream work proportional to
 * that pod, not to the cluster. A full comparison is made when nothing narrower is known to be
 * right: the first response, a subscription change, after a NACK, or after a push was deferred.
 * A wildcard subscription that is up to date with a snapshot ({@link #mirrors}) needs no diff of
 * its own for the next: it is that snapshot's change, computed once for every such stream.
 */
final class Subscription {

    /** What one response changed. */
    record Diff(Map<String, XdsSnapshot.Versioned> upserts, List<String> removed) {
        static final Diff EMPTY = new Diff(Map.of(), List.of());

        boolean isEmpty() {
            return upserts.isEmpty() && removed.isEmpty();
        }
    }

    final String typeUrl;
    private boolean wildcard;
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> acked = new HashMap<>();
    private final LinkedHashMap<String, Diff> inflight = new LinkedHashMap<>();
    /** acked plus every in-flight response, maintained as they come and go. */
    private final Map<String, String> expected = new HashMap<>();
    private boolean fullDiffNeeded = true;
    /** Names changed in snapshots whose push was deferred (the stream was not ready), not yet compared. */
    private final Set<String> deferred = new HashSet<>();
    private boolean answeredOnce;
    /** The snapshot {@code expected} equals, whole (a wildcard subscription with nothing left to compare); or null. */
    private Object mirrored;

    Subscription(String typeUrl, Map<String, String> initialVersions) {
        this.typeUrl = typeUrl;
        this.acked.putAll(initialVersions);
        this.expected.putAll(initialVersions);
    }

    /**
     * A push is put off (the stream is not ready): the next diff also looks at {@code changed};
     * {@code null} (unknown) makes it compare everything. A slow proxy then gets one response with
     * the latest state of everything that changed meanwhile, at the cost of those names only.
     */
    void defer(Set<String> changed) {
        mirrored = null;
        if (changed == null) {
            fullDiffNeeded = true;
        } else if (!fullDiffNeeded) {
            deferred.addAll(changed);
        }
    }

    void subscribe(List<String> add, List<String> remove) {
        mirrored = null;
        for (String n : add) {
            if (n.equals("*")) {
                wildcard = true;
            } else {
                names.add(n);
            }
        }
        for (String n : remove) {
            if (n.equals("*")) {
                wildcard = false;
            } else {
                names.remove(n);
            }
        }
        fullDiffNeeded = true;
    }

    /**
     * After a push computed against {@code snapshot} (sent or found empty): notes whether the proxy
     * is now expected to hold exactly that snapshot's resources of this type.
     */
    void pushed(Object snapshot) {
        mirrored = wildcard && !fullDiffNeeded && deferred.isEmpty() ? snapshot : null;
    }

    /**
     * Whether the proxy is expected to hold exactly {@code snapshot}'s resources of this type: its
     * next diff is then that snapshot's change to the next, the same for every stream.
     */
    boolean mirrors(Object snapshot) {
        return mirrored != null && mirrored == snapshot; // cleared by whatever makes it unsure
    }

    boolean wants(String name) {
        return wildcard || names.contains(name);
    }

    Map<String, String> expected() {
        return java.util.Collections.unmodifiableMap(expected);
    }

    /**
     * The response that brings the proxy from what it is expected to hold to {@code current}, or
     * empty when it would carry nothing (except the first, sent even empty so the proxy knows it
     * is in sync).
     */
    Diff diff(Map<String, XdsSnapshot.Versioned> current) {
        return diff(current, null);
    }

    /**
     * The same, looking only at {@code changed} (the names that differ between the previous
     * snapshot and {@code current}) unless a full comparison is due; {@code null} means unknown.
     */
    Diff diff(Map<String, XdsSnapshot.Versioned> current, Set<String> changed) {
        // Past about half of what is held, one pass over everything costs no more than the names.
        if (changed == null || fullDiffNeeded || deferred.size() + changed.size() > current.size() / 2 + 16) {
            fullDiffNeeded = false;
            deferred.clear();
            return fullDiff(current);
        }
        Set<String> names = changed;
        if (!deferred.isEmpty()) {
            deferred.addAll(changed);
            names = Set.copyOf(deferred);
            deferred.clear();
        }
        Map<String, XdsSnapshot.Versioned> upserts = new LinkedHashMap<>();
        List<String> removed = new ArrayList<>();
        for (String name : names) {
            XdsSnapshot.Versioned v = current.get(name);
            if (v != null && wants(name)) {
                if (!v.version().equals(expected.get(name))) {
                    upserts.put(name, v);
                }
            } else if (expected.containsKey(name)) {
                removed.add(name);
            }
        }
        removed.sort(null);
        return new Diff(upserts, removed);
    }

    private Diff fullDiff(Map<String, XdsSnapshot.Versioned> current) {
        Map<String, String> has = expected;
        Map<String, XdsSnapshot.Versioned> upserts = new LinkedHashMap<>();
        List<String> removed = new ArrayList<>();
        current.forEach((name, v) -> {
            if (wants(name) && !v.version().equals(has.get(name))) {
                upserts.put(name, v);
            }
        });
        has.keySet().stream().sorted().forEach(name -> {
            if (!current.containsKey(name) || !wants(name)) {
                removed.add(name);
            }
        });
        return new Diff(upserts, removed);
    }

    boolean needsFirstResponse() {
        return !answeredOnce;
    }

    void sent(String nonce, Diff diff) {
        answeredOnce = true;
        inflight.put(nonce, diff);
        apply(expected, diff);
    }

    /** True when {@code nonce} was outstanding. */
    boolean ack(String nonce) {
        Diff d = inflight.remove(nonce);
        if (d == null) {
            return false;
        }
        apply(acked, d);
        return true;
    }

    /** True when {@code nonce} was outstanding. */
    boolean nack(String nonce) {
        if (inflight.remove(nonce) == null) {
            return false;
        }
        mirrored = null;
        // What the proxy holds is acked plus what is still in flight: rebuild, compare all next.
        expected.clear();
        expected.putAll(acked);
        inflight.values().forEach(d -> apply(expected, d));
        fullDiffNeeded = true;
        return true;
    }

    private static void apply(Map<String, String> held, Diff d) {
        d.removed().forEach(held::remove);
        d.upserts().forEach((n, v) -> held.put(n, v.version()));
    }
}
