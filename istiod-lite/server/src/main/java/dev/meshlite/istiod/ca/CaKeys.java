package dev.meshlite.istiod.ca;

import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the CA signs with: a signing certificate and its key, the intermediates between it and
 * its root, and every root workloads must trust.
 *
 * <p>Invariants, checked on construction so that a bad plugged-in Secret is rejected whole: the
 * key matches the signing certificate; the signing certificate is a CA; it chains through
 * {@code intermediates} to {@code roots.getFirst()} (the active root); every root is self-signed.
 * During a root rotation {@code roots} holds the new (active) root first, then the old ones.
 */
public record CaKeys(X509Certificate signingCert, PrivateKey signingKey,
        List<X509Certificate> intermediates, List<X509Certificate> roots) {

    public CaKeys {
        if (signingCert == null || signingKey == null) {
            throw new IllegalArgumentException("CA keys: signing certificate and key are required");
        }
        intermediates = List.copyOf(intermediates);
        roots = List.copyOf(roots);
        if (roots.isEmpty()) {
            throw new IllegalArgumentException("CA keys: no root (expected: at least one)");
        }
        if (signingCert.getBasicConstraints() < 0) {
            throw new IllegalArgumentException("CA keys: signing certificate "
                    + signingCert.getSubjectX500Principal() + " is not a CA (expected: basicConstraints CA:true)");
        }
        requireKeyMatches(signingCert, signingKey);
        for (X509Certificate root : roots) {
            requireSignedBy(root, root, "root");
        }
        List<X509Certificate> path = new ArrayList<>();
        path.add(signingCert);
        path.addAll(intermediates);
        for (int i = 0; i + 1 < path.size(); i++) {
            requireSignedBy(path.get(i), path.get(i + 1), "chain");
        }
        requireSignedBy(path.getLast(), roots.getFirst(), "chain to the active root");
    }

    /** A self-signed root that signs workload certificates directly. */
    public static CaKeys selfSigned(X509Certificate root, PrivateKey key) {
        return new CaKeys(root, key, List.of(), List.of(root));
    }

    public X509Certificate activeRoot() {
        return roots.getFirst();
    }

    /** The signing certificate and intermediates, as sent after a leaf; empty when the root signs. */
    public List<X509Certificate> issuerChain() {
        if (signingCert.equals(activeRoot())) {
            return List.of();
        }
        List<X509Certificate> chain = new ArrayList<>();
        chain.add(signingCert);
        chain.addAll(intermediates);
        return List.copyOf(chain);
    }

    /** The same signer trusting {@code moreRoots} too (appended after the current roots). */
    public CaKeys trusting(List<X509Certificate> moreRoots) {
        List<X509Certificate> all = new ArrayList<>(roots);
        for (X509Certificate r : moreRoots) {
            if (!all.contains(r)) {
                all.add(r);
            }
        }
        return new CaKeys(signingCert, signingKey, intermediates, all);
    }

    private static void requireKeyMatches(X509Certificate cert, PrivateKey key) {
        byte[] probe = "meshlite-ca-key-check".getBytes();
        String alg = switch (cert.getPublicKey().getAlgorithm()) {
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default -> throw new IllegalArgumentException("CA keys: unsupported key algorithm "
                    + cert.getPublicKey().getAlgorithm() + " (expected: EC or RSA)");
        };
        try {
            Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(probe);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(alg);
            v.initVerify(cert.getPublicKey());
            v.update(probe);
            if (!v.verify(sig)) {
                throw new IllegalArgumentException("CA keys: the key does not match the signing certificate");
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("CA keys: the key does not match the signing certificate: "
                    + e.getMessage(), e);
        }
    }

    private static void requireSignedBy(X509Certificate cert, X509Certificate issuer, String what) {
        try {
            if (!Arrays.equals(cert.getIssuerX500Principal().getEncoded(),
                    issuer.getSubjectX500Principal().getEncoded())) {
                throw new IllegalArgumentException("CA keys: " + what + ": " + cert.getSubjectX500Principal()
                        + " is issued by " + cert.getIssuerX500Principal() + ", not " + issuer.getSubjectX500Principal());
            }
            cert.verify(issuer.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("CA keys: " + what + ": " + cert.getSubjectX500Principal()
                    + " is not signed by " + issuer.getSubjectX500Principal() + ": " + e.getMessage(), e);
        }
    }
}
