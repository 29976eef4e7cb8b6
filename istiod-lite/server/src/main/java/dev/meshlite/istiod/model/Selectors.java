package dev.meshlite.istiod.model;

import java.util.Map;
import java.util.Set;

/** Istio's WorkloadSelector: {@code matchLabels} only; empty selects everything in scope. */
final class Selectors {

    private Selectors() {}

    static Map<String, String> matchLabels(SpecReader selector) throws InvalidFieldException {
        return Map.copyOf(selector.only(Set.of("matchLabels")).stringMap("matchLabels"));
    }

    /** Every selector label present with the same value (an empty selector matches all). */
    static boolean matches(Map<String, String> selector, Map<String, String> labels) {
        for (var e : selector.entrySet()) {
            if (labels == null || !e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }
}
