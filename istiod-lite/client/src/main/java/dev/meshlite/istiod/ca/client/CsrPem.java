package dev.meshlite.istiod.ca.client;

import dev.meshlite.hbone.tls.Der;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The client's share of PEM and keys: a fresh P-256 key with a CSR proving it, and the
 * certificates of a response. The CSR carries an empty subject and no SAN on purpose: the CA
 * decides the identity from the request's authorization, never from the CSR.
 */
final class CsrPem {

    private CsrPem() {}

    static KeyPair newP256() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("P-256 key generation failed", e);
        }
    }

    /**
     * A PKCS#10 request (RFC 2986) as PEM, signed with {@code key}: version 0, the empty subject,
     * the public key, no attributes ({@code [0]} empty, as the attributes field is not optional).
     */
    static String csr(KeyPair key) {
        byte[] info = Der.sequence(
                Der.integer(0),
                Der.sequence(), // subject: the empty Name
                key.getPublic().getEncoded(), // SubjectPublicKeyInfo, as the JDK encodes it
                Der.implicit(0, Der.set())); // attributes
        byte[] request;
        try {
            request = Der.signed(info, key.getPrivate());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("CSR signing failed", e);
        }
        return "-----BEGIN CERTIFICATE REQUEST-----\n"
                + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(request)
                + "\n-----END CERTIFICATE REQUEST-----\n";
    }

    /** Every certificate in {@code pem}; throws {@link IllegalArgumentException} if none or unreadable. */
    static List<X509Certificate> certificates(String pem, String what) {
        if (pem == null || pem.isBlank()) {
            throw new IllegalArgumentException(what + ": empty (expected: PEM certificates)");
        }
        try {
            List<X509Certificate> out = new ArrayList<>();
            for (var c : CertificateFactory.getInstance("X.509")
                    .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException(what + ": no certificate (expected: PEM certificates)");
            }
            return List.copyOf(out);
        } catch (CertificateException e) {
            throw new IllegalArgumentException(what + ": unreadable: " + e.getMessage(), e);
        }
    }
}
