package dev.meshlite.hbone.tls;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;

/**
 * A workload's certificate chain (leaf first, then intermediates) with its private key.
 *
 * <p>Invariants, checked on construction so a bad pair is rejected whole: the chain is non-empty,
 * the leaf carries exactly one SPIFFE URI SAN, and the key matches the leaf's public key algorithm.
 */
public final class WorkloadCertificate {

    private final List<X509Certificate> chain;
    private final PrivateKey privateKey;
    private final SpiffeId identity;

    public WorkloadCertificate(List<X509Certificate> chain, PrivateKey privateKey) {
        if (chain == null || chain.isEmpty()) {
            throw new IllegalArgumentException("chain: empty (expected: leaf first, then intermediates)");
        }
        if (privateKey == null) {
            throw new IllegalArgumentException("privateKey: null");
        }
        this.chain = List.copyOf(chain);
        this.privateKey = privateKey;
        String keyAlg = normalize(privateKey.getAlgorithm());
        String certAlg = normalize(this.chain.getFirst().getPublicKey().getAlgorithm());
        if (!keyAlg.equals(certAlg)) {
            throw new IllegalArgumentException("private key algorithm " + keyAlg
                    + " does not match the leaf's " + certAlg);
        }
        try {
            this.identity = CertificateIdentity.of(this.chain.getFirst());
        } catch (CertificateException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** Reads a PEM chain and a PEM private key. */
    public static WorkloadCertificate fromPem(String chainPem, String keyPem) {
        return new WorkloadCertificate(Pem.certificates(chainPem, "certificate chain"),
                Pem.privateKey(keyPem, "private key"));
    }

    public static WorkloadCertificate fromPemFiles(Path chainFile, Path keyFile) {
        return fromPem(read(chainFile), read(keyFile));
    }

    public List<X509Certificate> chain() {
        return chain;
    }

    public X509Certificate leaf() {
        return chain.getFirst();
    }

    public PrivateKey privateKey() {
        return privateKey;
    }

    public SpiffeId identity() {
        return identity;
    }

    /** When the leaf expires. */
    public Instant notAfter() {
        return leaf().getNotAfter().toInstant();
    }

    public Instant notBefore() {
        return leaf().getNotBefore().toInstant();
    }

    public boolean isExpired(Instant now) {
        return now.isAfter(notAfter());
    }

    /** Half of the validity period has passed: time to renew (DESIGN §6). */
    public boolean needsRenewal(Instant now) {
        long start = notBefore().toEpochMilli();
        long end = notAfter().toEpochMilli();
        return now.toEpochMilli() >= start + (end - start) / 2;
    }

    @Override
    public String toString() {
        return "WorkloadCertificate[" + identity + ", serial=" + leaf().getSerialNumber().toString(16)
                + ", notAfter=" + notAfter() + "]";
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private static String normalize(String alg) {
        return alg.equals("ECDSA") ? "EC" : alg;
    }
}
