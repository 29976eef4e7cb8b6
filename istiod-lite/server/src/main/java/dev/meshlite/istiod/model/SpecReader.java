package dev.meshlite.istiod.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Typed reads from the untyped maps of a custom resource (as Jackson parsed them), each failure
 * naming the field's full path. Unknown keys are refused, not skipped: a policy field we do not
 * understand could widen what it allows, so such an object is rejected whole.
 */
final class SpecReader {

    private final String path;
    private final Map<String, Object> map;

    private SpecReader(String path, Map<String, Object> map) {
        this.path = path;
        this.map = map;
    }

    static SpecReader of(String path, Object value) throws InvalidFieldException {
        if (value == null) {
            return new SpecReader(path, Map.of());
        }
        if (!(value instanceof Map<?, ?> m)) {
            throw new InvalidFieldException(path, "a " + typeName(value) + " (expected: an object)");
        }
        Map<String, Object> copy = new LinkedHashMap<>();
        m.forEach((k, v) -> copy.put(String.valueOf(k), v));
        return new SpecReader(path, copy);
    }

    String path() {
        return path;
    }

    String path(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    boolean has(String key) {
        return map.get(key) != null;
    }

    boolean isEmpty() {
        return map.values().stream().allMatch(v -> v == null);
    }

    /** Refuses any key outside {@code known}. */
    SpecReader only(Set<String> known) throws InvalidFieldException {
        for (String k : map.keySet()) {
            if (!known.contains(k)) {
                throw new InvalidFieldException(path(k), "unknown field (expected one of " + new java.util.TreeSet<>(known) + ")");
            }
        }
        return this;
    }

    SpecReader object(String key) throws InvalidFieldException {
        return of(path(key), map.get(key));
    }

    String string(String key, String fallback) throws InvalidFieldException {
        Object v = map.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof String s)) {
            throw new InvalidFieldException(path(key), "a " + typeName(v) + " (expected: a string)");
        }
        return s;
    }

    List<String> strings(String key) throws InvalidFieldException {
        List<String> out = new ArrayList<>();
        List<Object> items = list(key);
        for (int i = 0; i < items.size(); i++) {
            Object v = items.get(i);
            if (!(v instanceof String s)) {
                throw new InvalidFieldException(path(key) + "[" + i + "]", "a " + typeName(v) + " (expected: a string)");
            }
            out.add(s);
        }
        return out;
    }

    List<SpecReader> objects(String key) throws InvalidFieldException {
        List<SpecReader> out = new ArrayList<>();
        List<Object> items = list(key);
        for (int i = 0; i < items.size(); i++) {
            out.add(of(path(key) + "[" + i + "]", items.get(i)));
        }
        return out;
    }

    /** A map of string to string (labels). */
    Map<String, String> stringMap(String key) throws InvalidFieldException {
        SpecReader m = object(key);
        Map<String, String> out = new LinkedHashMap<>();
        for (var e : m.map.entrySet()) {
            if (!(e.getValue() instanceof String s)) {
                throw new InvalidFieldException(m.path(e.getKey()), "a " + typeName(e.getValue()) + " (expected: a string)");
            }
            out.put(e.getKey(), s);
        }
        return out;
    }

    /** The raw entries, for maps keyed by data (port numbers). */
    Map<String, Object> entries() {
        return map;
    }

    private List<Object> list(String key) throws InvalidFieldException {
        Object v = map.get(key);
        if (v == null) {
            return List.of();
        }
        if (!(v instanceof List<?> l)) {
            throw new InvalidFieldException(path(key), "a " + typeName(v) + " (expected: a list)");
        }
        return new ArrayList<>(l);
    }

    static String typeName(Object v) {
        return switch (v) {
            case Map<?, ?> m -> "object";
            case List<?> l -> "list";
            case String s -> "string";
            case Number n -> "number";
            case Boolean b -> "boolean";
            default -> v.getClass().getSimpleName();
        };
    }
}
