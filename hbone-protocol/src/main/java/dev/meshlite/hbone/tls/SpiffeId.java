package dev.meshlite.hbone.tls;

import java.util.regex.Pattern;

/**
 * A workload identity of the form {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 *
 * <p>Invariant: every instance formats back to exactly the string it was parsed from, so ids can
 * be compared as strings on the wire and as values in code. Parsing is strict: the trust domain is
 * lower-case DNS-like, namespace and service account are Kubernetes DNS labels / subdomains; no
 * query, fragment, port, user info, percent-encoding or extra path segments.
 */
public record SpiffeId(String trustDomain, String namespace, String serviceAccount) {

    private static final String SCHEME = "spiffe://";
    // SPIFFE spec: trust domain chars are lower-case letters, digits, '.', '-', '_'.
    private static final Pattern TRUST_DOMAIN = Pattern.compile("[a-z0-9._-]{1,255}");
    // Kubernetes: namespaces are DNS labels; service accounts are DNS subdomains.
    private static final Pattern NAMESPACE = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern SERVICE_ACCOUNT =
            Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");

    public SpiffeId {
        require(trustDomain, TRUST_DOMAIN, "trust domain");
        require(namespace, NAMESPACE, "namespace");
        require(serviceAccount, SERVICE_ACCOUNT, "service account");
    }

    /** Parses {@code spiffe://td/ns/NS/sa/SA}; throws {@link IllegalArgumentException} otherwise. */
    public static SpiffeId parse(String uri) {
        if (uri == null) {
            throw new IllegalArgumentException("SPIFFE id: null (expected: spiffe://<td>/ns/<ns>/sa/<sa>)");
        }
        if (!uri.startsWith(SCHEME)) {
            throw malformed(uri, "scheme must be spiffe://");
        }
        String rest = uri.substring(SCHEME.length());
        String[] parts = rest.split("/", -1);
        if (parts.length != 5 || !parts[1].equals("ns") || !parts[3].equals("sa")) {
            throw malformed(uri, "path must be /ns/<ns>/sa/<sa>");
        }
        try {
            return new SpiffeId(parts[0], parts[2], parts[4]);
        } catch (IllegalArgumentException e) {
            throw malformed(uri, e.getMessage());
        }
    }

    /** The URI form, as carried in a certificate's URI SAN. */
    public String uri() {
        return SCHEME + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    @Override
    public String toString() {
        return uri();
    }

    private static void require(String value, Pattern pattern, String what) {
        if (value == null || !pattern.matcher(value).matches()) {
            throw new IllegalArgumentException(what + ": '" + value + "' (expected: " + pattern + ")");
        }
    }

    private static IllegalArgumentException malformed(String uri, String why) {
        return new IllegalArgumentException("SPIFFE id '" + uri + "': " + why
                + " (expected: spiffe://<td>/ns/<ns>/sa/<sa>)");
    }
}
