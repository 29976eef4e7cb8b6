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
 */
final class Subscription {

    /** What one response changed. */
    record Diff(Map<String, XdsSnapshot.Versioned> upserts, List<String> removed) {
        boolean isEmpty() {
            return upserts.isEmpty() && removed.isEmpty();
        }
    }

    final String typeUrl;
    private boolean wildcard;
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> acked = new HashMap<>();
    private final LinkedHashMap<String, Diff> inflight = new LinkedHashMap<>();
    private boolean answeredOnce;

    Subscription(String typeUrl, Map<String, String> initialVersions) {
        this.typeUrl = typeUrl;
        this.acked.putAll(initialVersions);
    }

    void subscribe(List<String> add, List<String> remove) {
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
    }

    boolean wants(String name) {
        return wildcard || names.contains(name);
    }

    Map<String, String> expected() {
        Map<String, String> out = new HashMap<>(acked);
        inflight.values().forEach(d -> apply(out, d));
        return out;
    }

    /**
     * The response that brings the proxy from what it is expected to hold to {@code current}, or
     * empty when it would carry nothing (except the first, sent even empty so the proxy knows it
     * is in sync).
     */
    Diff diff(Map<String, XdsSnapshot.Versioned> current) {
        Map<String, String> has = expected();
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
        return inflight.remove(nonce) != null;
    }

    private static void apply(Map<String, String> held, Diff d) {
        d.removed().forEach(held::remove);
        d.upserts().forEach((n, v) -> held.put(n, v.version()));
    }
}
