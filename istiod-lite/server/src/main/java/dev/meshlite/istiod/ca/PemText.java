package dev.meshlite.istiod.ca;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;

/** PEM in and out for the CA's Secrets, ConfigMaps and responses. */
public final class PemText {

    private PemText() {}

    public static String encode(Object... objects) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            for (Object o : objects) {
                // Keys as PKCS#8 ("PRIVATE KEY"): what Istio and openssl 3 write, and free of the
                // SEC1 form's optional public key that not every reader can do without.
                w.writeObject(o instanceof PrivateKey k ? new JcaPKCS8Generator(k, null) : o);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    public static String encodeAll(List<? extends X509Certificate> certs) {
        return encode(certs.toArray());
    }

    /** Every certificate in {@code pem}; throws {@link IllegalArgumentException} if none or unreadable. */
    public static List<X509Certificate> certificates(String pem, String what) {
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
        } catch (java.security.cert.CertificateException e) {
            throw new IllegalArgumentException(what + ": unreadable: " + e.getMessage(), e);
        }
    }

    public static PrivateKey privateKey(String pem, String what) {
        if (pem == null || pem.isBlank()) {
            throw new IllegalArgumentException(what + ": empty (expected: a PEM private key)");
        }
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            for (Object o = parser.readObject(); o != null; o = parser.readObject()) {
                if (o instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (o instanceof PEMKeyPair pair) {
                    return converter.getPrivateKey(pair.getPrivateKeyInfo());
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException(what + ": unreadable: " + e.getMessage(), e);
        }
        throw new IllegalArgumentException(what + ": no private key (expected: PKCS#8, PKCS#1 or SEC1 PEM)");
    }
}
