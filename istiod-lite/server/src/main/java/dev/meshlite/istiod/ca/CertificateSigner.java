package dev.meshlite.istiod.ca;

import dev.meshlite.hbone.tls.SpiffeId;
import java.math.BigInteger;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Signs workload certificates with the current {@link CaKeys}.
 *
 * <p>Rules of a workload certificate: exactly one URI SAN, the SPIFFE id it was authorized for
 * (never anything from the CSR); empty subject, so the SAN is critical (RFC 5280 §4.2.1.6);
 * serverAuth + clientAuth; not a CA; valid from a minute ago (clock skew between nodes) for the
 * requested TTL capped at {@code maxTtl}, and never beyond the signing certificate.
 */
public final class CertificateSigner {

    /** Istio's default workload certificate lifetime (DESIGN §6). */
    public static final Duration DEFAULT_MAX_TTL = Duration.ofHours(24);
    static final Duration BACKDATE = Duration.ofMinutes(1);

    private final AtomicReference<CaKeys> keys;
    private final Clock clock;
    private final Duration maxTtl;
    private final SecureRandom random = new SecureRandom();

    public CertificateSigner(CaKeys keys, Duration maxTtl, Clock clock) {
        if (maxTtl.isNegative() || maxTtl.isZero()) {
            throw new IllegalArgumentException("maxTtl: " + maxTtl + " (expected: > 0)");
        }
        this.keys = new AtomicReference<>(Objects.requireNonNull(keys, "keys"));
        this.maxTtl = maxTtl;
        this.clock = clock;
    }

    public CaKeys keys() {
        return keys.get();
    }

    /** Swaps the signer (a root rotation, or a replica's change seen in the Secret). */
    public void update(CaKeys next) {
        keys.set(Objects.requireNonNull(next, "keys"));
    }

    public Duration maxTtl() {
        return maxTtl;
    }

    /** The TTL actually granted: {@code requested} (0 = the maximum) capped at the maximum. */
    public Duration grantedTtl(Duration requested) {
        if (requested.isNegative()) {
            throw new IllegalArgumentException("requested TTL: " + requested + " (expected: >= 0)");
        }
        if (requested.isZero() || requested.compareTo(maxTtl) > 0) {
            return maxTtl;
        }
        return requested;
    }

    /** A workload certificate for {@code identity} around the CSR's (already verified) key. */
    public IssuedChain sign(CertificateRequest csr, SpiffeId identity, Duration requestedTtl) {
        GeneralNames san = new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, identity.uri()));
        return issue(csr.publicKey(), new X500Name(new RDN[0]), san, grantedTtl(requestedTtl));
    }

    /**
     * The CA's own serving certificate: DNS names and IPs for clients that verify the host, plus
     * the SPIFFE id for those that verify identity. Subject CN is the first DNS name.
     */
    public IssuedChain signServing(PublicKey key, SpiffeId identity, List<String> dnsNames, List<String> ips,
            Duration ttl) {
        List<GeneralName> names = new ArrayList<>();
        names.add(new GeneralName(GeneralName.uniformResourceIdentifier, identity.uri()));
        dnsNames.forEach(d -> names.add(new GeneralName(GeneralName.dNSName, d)));
        ips.forEach(ip -> names.add(new GeneralName(GeneralName.iPAddress, ip)));
        X500Name subject = dnsNames.isEmpty() ? new X500Name(new RDN[0]) : new X500Name("CN=" + dnsNames.getFirst());
        return issue(key, subject, new GeneralNames(names.toArray(GeneralName[]::new)), ttl);
    }

    private IssuedChain issue(PublicKey key, X500Name subject, GeneralNames san, Duration ttl) {
        CaKeys ca = keys.get();
        Instant now = clock.instant();
        Instant notBefore = now.minus(BACKDATE);
        Instant notAfter = now.plus(ttl);
        Instant signerEnd = ca.signingCert().getNotAfter().toInstant();
        if (notAfter.isAfter(signerEnd)) {
            notAfter = signerEnd;
        }
        try {
            X500Name issuer = X500Name.getInstance(ca.signingCert().getSubjectX500Principal().getEncoded());
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, serial(),
                    Date.from(notBefore), Date.from(notAfter), subject, key);
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true,
                    new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                    new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            b.addExtension(Extension.subjectAlternativeName, subject.getRDNs().length == 0, san);
            b.addExtension(Extension.authorityKeyIdentifier, false,
                    ext.createAuthorityKeyIdentifier(ca.signingCert()));
            b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(key));
            X509Certificate leaf = new JcaX509CertificateConverter()
                    .getCertificate(b.build(new JcaContentSignerBuilder(signatureAlgorithm(ca.signingKey()))
                            .build(ca.signingKey())));
            return new IssuedChain(leaf, ca.issuerChain(), ca.roots());
        } catch (Exception e) {
            throw new IllegalStateException("signing failed: " + e.getMessage(), e);
        }
    }

    static String signatureAlgorithm(PrivateKey key) {
        return key.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
    }

    /** 128 random bits, positive: unique without coordination between replicas. */
    private BigInteger serial() {
        byte[] b = new byte[16];
        random.nextBytes(b);
        b[0] &= 0x7f;
        return new BigInteger(1, b).setBit(120);
    }
}
