package dev.meshlite.hbone.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/** PEM decoding. Keys in every unencrypted form openssl writes: PKCS#8, PKCS#1 (RSA), SEC1 (EC). */
final class Pem {

    private Pem() {}

    static List<X509Certificate> certificates(String pem, String what) {
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            List<X509Certificate> out = new ArrayList<>();
            for (var c : factory.generateCertificates(
                    new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException(what + ": no certificate (expected: PEM "
                        + "'BEGIN CERTIFICATE' blocks)");
            }
            return List.copyOf(out);
        } catch (CertificateException e) {
            throw new IllegalArgumentException(what + ": unreadable certificate: " + e.getMessage(), e);
        }
    }

    /**
     * A SEC1 key written from a JDK key by JcaPEMWriter carries no curve at all (the JDK keeps it
     * in the PKCS#8 algorithm identifier, which SEC1 drops). Workload keys are P-256 (DESIGN §4),
     * so a 32-byte EC key without parameters is read as P-256; any other is refused.
     */
    private static PrivateKeyInfo withCurve(PrivateKeyInfo info) throws IOException {
        var alg = info.getPrivateKeyAlgorithm();
        boolean ec = alg.getAlgorithm().equals(org.bouncycastle.asn1.x9.X9ObjectIdentifiers.id_ecPublicKey);
        boolean noParams = alg.getParameters() == null || alg.getParameters() instanceof org.bouncycastle.asn1.ASN1Null;
        if (!ec || !noParams) {
            return info;
        }
        var key = org.bouncycastle.asn1.sec.ECPrivateKey.getInstance(info.parsePrivateKey());
        if (key.getKey().bitLength() > 256) {
            throw new IOException("EC private key without curve parameters (expected: P-256, or a PKCS#8 key)");
        }
        return new PrivateKeyInfo(new org.bouncycastle.asn1.x509.AlgorithmIdentifier(
                org.bouncycastle.asn1.x9.X9ObjectIdentifiers.id_ecPublicKey,
                org.bouncycastle.asn1.sec.SECObjectIdentifiers.secp256r1), key);
    }

    static PrivateKey privateKey(String pem, String what) {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            for (Object o = parser.readObject(); o != null; o = parser.readObject()) {
                if (o instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (o instanceof PEMKeyPair pair) {
                    // Only the private part is needed, so the pair is never built: a SEC1 "EC
                    // PRIVATE KEY" may lack its public key (JDK keys written by JcaPEMWriter do).
                    return converter.getPrivateKey(withCurve(pair.getPrivateKeyInfo()));
                }
                // Other blocks (EC PARAMETERS, certificates) are skipped on purpose.
            }
        } catch (IOException e) {
            throw new IllegalArgumentException(what + ": unreadable private key: " + e.getMessage(), e);
        }
        throw new IllegalArgumentException(what + ": no private key (expected: an unencrypted "
                + "PKCS#8, PKCS#1 or SEC1 PEM block)");
    }
}
