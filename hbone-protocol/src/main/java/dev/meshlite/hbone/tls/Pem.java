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

    static PrivateKey privateKey(String pem, String what) {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            for (Object o = parser.readObject(); o != null; o = parser.readObject()) {
                if (o instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (o instanceof PEMKeyPair pair) {
                    return converter.getKeyPair(pair).getPrivate();
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
