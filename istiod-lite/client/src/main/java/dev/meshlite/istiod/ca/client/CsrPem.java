package dev.meshlite.istiod.ca.client;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

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
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("P-256 key generation failed", e);
        }
    }

    static String csr(KeyPair key) {
        try {
            var request = new JcaPKCS10CertificationRequestBuilder(new X500Name(new RDN[0]), key.getPublic())
                    .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate()));
            StringWriter out = new StringWriter();
            try (JcaPEMWriter w = new JcaPEMWriter(out)) {
                w.writeObject(request);
            }
            return out.toString();
        } catch (OperatorCreationException e) {
            throw new IllegalStateException("CSR signing failed", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
