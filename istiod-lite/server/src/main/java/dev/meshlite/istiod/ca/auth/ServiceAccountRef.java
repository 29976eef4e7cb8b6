package dev.meshlite.istiod.ca.auth;

/** A Kubernetes service account, {@code namespace/name}. */
public record ServiceAccountRef(String namespace, String name) {

    public ServiceAccountRef {
        if (namespace == null || namespace.isEmpty() || name == null || name.isEmpty()) {
            throw new IllegalArgumentException("service account: '" + namespace + "/" + name
                    + "' (expected: <namespace>/<name>)");
        }
    }

    /** Parses {@code namespace/name}. */
    public static ServiceAccountRef parse(String s) {
        int slash = s == null ? -1 : s.indexOf('/');
        if (slash <= 0 || slash == s.length() - 1 || s.indexOf('/', slash + 1) >= 0) {
            throw new IllegalArgumentException("service account: '" + s + "' (expected: <namespace>/<name>)");
        }
        return new ServiceAccountRef(s.substring(0, slash), s.substring(slash + 1));
    }

    @Override
    public String toString() {
        return namespace + "/" + name;
    }
}
