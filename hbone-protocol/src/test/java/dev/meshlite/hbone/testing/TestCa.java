package dev.meshlite.hbone.testing;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
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
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A P-256 certificate authority made in the test, issuing SPIFFE workload certificates (the shape
 * istiod-lite's CA issues: URI SAN only, serverAuth + clientAuth, 24 h by default).
 */
public final class TestCa {

    private static final AtomicLong SERIAL = new AtomicLong(System.nanoTime());

    /** The key and certificate that sign leaves: the root's, or an intermediate's. */
    private final KeyPair keys;
    private final X509Certificate signer;
    private final X509Certificate root;
    /** Intermediates between a leaf and the root, nearest first (empty when the root signs). */
    private final List<X509Certificate> intermediates;
    private final String trustDomain;

    private TestCa(String trustDomain, KeyPair keys, X509Certificate signer, X509Certificate root,
                   List<X509Certificate> intermediates) {
        this.trustDomain = trustDomain;
        this.keys = keys;
        this.signer = signer;
        this.root = root;
        this.intermediates = List.copyOf(intermediates);
    }

    public static TestCa create(String trustDomain) {
        try {
            KeyPair keys = newKeyPair();
            X500Name name = new X500Name("O=" + trustDomain + ",CN=test root " + SERIAL.incrementAndGet());
            Instant now = Instant.now();
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, serial(),
                    Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(365))),
                    name, keys.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            b.addExtension(Extension.subjectKeyIdentifier, false,
                    new JcaX509ExtensionUtils().createSubjectKeyIdentifier(keys.getPublic()));
            X509Certificate root = sign(b, keys.getPrivate());
            return new TestCa(trustDomain, keys, root, root, List.of());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * An intermediate CA under this one: its leaves carry the chain {@code [leaf, intermediate,
     * ...]} and still validate against this CA's {@link #bundle()} (the root).
     */
    public TestCa intermediate() {
        try {
            KeyPair interKeys = newKeyPair();
            X500Name issuer = X500Name.getInstance(signer.getSubjectX500Principal().getEncoded());
            X500Name name = new X500Name("O=" + trustDomain + ",CN=test intermediate " + SERIAL.incrementAndGet());
            Instant now = Instant.now();
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, serial(),
                    Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(30))),
                    name, interKeys.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(interKeys.getPublic()));
            b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(signer));
            X509Certificate inter = sign(b, keys.getPrivate());
            List<X509Certificate> tail = new java.util.ArrayList<>();
            tail.add(inter);
            tail.addAll(intermediates);
            return new TestCa(trustDomain, interKeys, inter, root, tail);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public String trustDomain() {
        return trustDomain;
    }

    public X509Certificate root() {
        return root;
    }

    public TrustBundle bundle() {
        return TrustBundle.of(root);
    }

    public SpiffeId id(String namespace, String serviceAccount) {
        return new SpiffeId(trustDomain, namespace, serviceAccount);
    }

    /** Valid from an hour ago for 24 hours. */
    public WorkloadCertificate issue(SpiffeId id) {
        Instant now = Instant.now();
        return issue(id, now.minus(Duration.ofHours(1)), now.plus(Duration.ofHours(24)));
    }

    public WorkloadCertificate issue(SpiffeId id, Instant notBefore, Instant notAfter) {
        return chained(leaf(uriNames(List.of(id.uri())), notBefore, notAfter));
    }

    /**
     * A serving certificate for {@code dnsNames} (a control plane's: no SPIFFE identity), valid
     * from an hour ago for 24 hours; its chain is the leaf, then the intermediates.
     */
    public Serving issueServing(List<String> dnsNames) {
        Instant now = Instant.now();
        GeneralName[] names = dnsNames.stream().map(n -> new GeneralName(GeneralName.dNSName, n))
                .toArray(GeneralName[]::new);
        UncheckedWorkload raw = leaf(names, now.minus(Duration.ofHours(1)), now.plus(Duration.ofHours(24)));
        List<X509Certificate> chain = new java.util.ArrayList<>();
        chain.add(raw.leaf());
        chain.addAll(intermediates);
        return new Serving(List.copyOf(chain), raw.key());
    }

    /** A serving certificate chain and its key. */
    public record Serving(List<X509Certificate> chain, PrivateKey key) {}

    private WorkloadCertificate chained(UncheckedWorkload raw) {
        List<X509Certificate> chain = new java.util.ArrayList<>();
        chain.add(raw.leaf());
        chain.addAll(intermediates);
        return new WorkloadCertificate(chain, raw.key());
    }

    /** A leaf with arbitrary URI SANs (possibly none), not validated: for refusal tests. */
    public UncheckedWorkload issueRaw(List<String> uris) {
        Instant now = Instant.now();
        return leaf(uriNames(uris), now.minus(Duration.ofHours(1)), now.plus(Duration.ofHours(1)));
    }

    private static GeneralName[] uriNames(List<String> uris) {
        return uris.stream().map(u -> new GeneralName(GeneralName.uniformResourceIdentifier, u))
                .toArray(GeneralName[]::new);
    }

    private UncheckedWorkload leaf(GeneralName[] names, Instant notBefore, Instant notAfter) {
        try {
            KeyPair leafKeys = newKeyPair();
            X500Name issuer = X500Name.getInstance(signer.getSubjectX500Principal().getEncoded());
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, serial(),
                    Date.from(notBefore), Date.from(notAfter), new X500Name("O=" + trustDomain), leafKeys.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true,
                    new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyAgreement));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                    new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            if (names.length > 0) {
                b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names));
            }
            b.addExtension(Extension.authorityKeyIdentifier, false,
                    new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(signer));
            return new UncheckedWorkload(sign(b, keys.getPrivate()), leafKeys.getPrivate());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes {@code cert.pem}, {@code key.pem} and {@code ca.pem} into {@code dir}. */
    public Files3 write(Path dir, WorkloadCertificate cert) {
        try {
            Files.createDirectories(dir);
            Path c = dir.resolve("cert.pem");
            Path k = dir.resolve("key.pem");
            Path ca = dir.resolve("ca.pem");
            Files.writeString(c, pem(cert.chain().toArray()));
            Files.writeString(k, pem(cert.privateKey()));
            Files.writeString(ca, pem(root));
            return new Files3(c, k, ca);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Paths of a certificate, its key and the CA. */
    public record Files3(Path cert, Path key, Path ca) {}

    public static String pem(Object... objects) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            for (Object o : objects) {
                w.writeObject(o);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    private static KeyPair newKeyPair() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    private static BigInteger serial() {
        return BigInteger.valueOf(SERIAL.incrementAndGet());
    }

    private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key) throws Exception {
        return new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key)));
    }

    /** A leaf and its key, not checked by WorkloadCertificate (it may carry no SPIFFE id). */
    public record UncheckedWorkload(X509Certificate leaf, PrivateKey key) {}
}
