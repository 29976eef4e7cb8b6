package dev.meshlite.e2e.apiserver;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
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
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The local cluster's API serving certificate: a P-256 CA made when the cluster comes up and a
 * server certificate for every address the API server listens on. kubectl and the node processes
 * verify the server against this CA through the kubeconfig.
 */
final class ClusterCa {

    private final KeyPair caKey;
    private final X509Certificate caCert;
    private final KeyPair serverKey;
    private final X509Certificate serverCert;

    private ClusterCa(KeyPair caKey, X509Certificate caCert, KeyPair serverKey, X509Certificate serverCert) {
        this.caKey = caKey;
        this.caCert = caCert;
        this.serverKey = serverKey;
        this.serverCert = serverCert;
    }

    static ClusterCa create(List<String> ipSans) throws GeneralSecurityException {
        KeyPair caKey = p256();
        Instant now = Instant.now();
        X500Name caName = new X500Name("CN=mesh local cluster CA");
        X509v3CertificateBuilder ca = new JcaX509v3CertificateBuilder(caName, serial(), Date.from(now.minusSeconds(60)),
                Date.from(now.plus(Duration.ofDays(365))), caName, caKey.getPublic());
        KeyPair serverKey = p256();
        X509v3CertificateBuilder server = new JcaX509v3CertificateBuilder(caName, serial(),
                Date.from(now.minusSeconds(60)), Date.from(now.plus(Duration.ofDays(365))),
                new X500Name("CN=kube-apiserver"), serverKey.getPublic());
        try {
            ca.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            ca.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            List<GeneralName> names = new ArrayList<>();
            for (String dns : List.of("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local")) {
                names.add(new GeneralName(GeneralName.dNSName, dns));
            }
            for (String ip : ipSans) {
                names.add(new GeneralName(GeneralName.iPAddress, ip));
            }
            server.addExtension(Extension.subjectAlternativeName, false,
                    new GeneralNames(names.toArray(GeneralName[]::new)));
            server.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
            server.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(caKey.getPrivate());
            JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
            return new ClusterCa(caKey, converter.getCertificate(ca.build(signer)),
                    serverKey, converter.getCertificate(server.build(signer)));
        } catch (IOException | OperatorCreationException e) {
            throw new GeneralSecurityException("cannot build the API server certificate", e);
        }
    }

    SSLContext serverContext() throws GeneralSecurityException, IOException {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        char[] password = "local".toCharArray();
        ks.setKeyEntry("apiserver", serverKey.getPrivate(), password, new X509Certificate[] {serverCert, caCert});
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, password);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, new SecureRandom());
        return ctx;
    }

    String caPem() throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter pem = new JcaPEMWriter(out)) {
            pem.writeObject(caCert);
        }
        return out.toString();
    }

    /** Writes a kubeconfig that trusts this CA and talks to {@code server}. */
    void writeKubeconfig(Path file, String server) throws IOException {
        String ca = java.util.Base64.getEncoder().encodeToString(caPem().getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        String yaml = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mesh-local
                  cluster:
                    server: %s
                    certificate-authority-data: %s
                users:
                - name: mesh-admin
                  user:
                    token: mesh-local-admin
                contexts:
                - name: mesh-local
                  context:
                    cluster: mesh-local
                    user: mesh-admin
                    namespace: default
                current-context: mesh-local
                """.formatted(server, ca);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, yaml);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static KeyPair p256() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    private static BigInteger serial() {
        return new BigInteger(64, new SecureRandom());
    }
}
