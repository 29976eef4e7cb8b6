package dev.meshlite.istiod.ca;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Generates self-signed P-256 roots (Istio's self-signed CA: 10 years by default). */
public final class RootCertificates {

    public static final Duration DEFAULT_ROOT_TTL = Duration.ofDays(3650);

    private RootCertificates() {}

    public static KeyPair newP256() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            return g.generateKeyPair();
        } catch (Exception e) {
            throw new IllegalStateException("P-256 key generation failed", e);
        }
    }

    /** A new self-signed root; the subject carries the trust domain and the creation time. */
    public static CaKeys selfSigned(String trustDomain, Duration ttl, Clock clock) {
        KeyPair keys = newP256();
        Instant now = clock.instant();
        X500Name name = new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(BCStyle.O, trustDomain)
                .addRDN(BCStyle.CN, "meshlite root CA " + now.getEpochSecond())
                .build();
        byte[] serial = new byte[16];
        new SecureRandom().nextBytes(serial);
        try {
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, new BigInteger(1, serial).setBit(120),
                    Date.from(now.minus(CertificateSigner.BACKDATE)), Date.from(now.plus(ttl)), name, keys.getPublic());
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(keys.getPublic()));
            X509Certificate root = new JcaX509CertificateConverter()
                    .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate())));
            return CaKeys.selfSigned(root, keys.getPrivate());
        } catch (Exception e) {
            throw new IllegalStateException("root generation failed: " + e.getMessage(), e);
        }
    }
}
