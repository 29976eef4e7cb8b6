package dev.meshlite.istiod.ca.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CSR as the CA reads it (istiod-lite's CertificateRequest parses with BouncyCastle, as here),
 * and as openssl reads it: it parses, its signature verifies with the key it carries, and it
 * asks for nothing (empty subject, no attributes, so no SAN: the CA names the workload from the
 * request's authorization). Its signed part is byte for byte what BouncyCastle's builder writes.
 */
class CsrPemTest {

    @TempDir
    Path dir;

    private static PKCS10CertificationRequest parse(String pem) throws Exception {
        try (PEMParser p = new PEMParser(new StringReader(pem))) {
            return (PKCS10CertificationRequest) p.readObject();
        }
    }

    @Test
    void bouncyCastleParsesItAndItsSignatureVerifiesWithItsKey() throws Exception {
        KeyPair key = CsrPem.newP256();
        PKCS10CertificationRequest csr = parse(CsrPem.csr(key));
        assertTrue(csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(csr.getSubjectPublicKeyInfo())));
        assertEquals(key.getPublic(), new JcaPEMKeyConverter().getPublicKey(csr.getSubjectPublicKeyInfo()));
        assertEquals("1.2.840.10045.4.3.2", csr.getSignatureAlgorithm().getAlgorithm().getId(), "ecdsa-with-SHA256");
        assertNull(csr.getSignatureAlgorithm().getParameters(), "no parameters (RFC 5758)");
    }

    @Test
    void asksForNoNameAndNoExtensions() throws Exception {
        PKCS10CertificationRequest csr = parse(CsrPem.csr(CsrPem.newP256()));
        assertEquals(0, csr.getSubject().getRDNs().length, "empty subject");
        assertEquals(0, csr.getAttributes().length, "no attributes, so no extensionRequest and no SAN");
    }

    @Test
    void theSignedPartIsWhatBouncyCastleWritesForTheSameKey() throws Exception {
        KeyPair key = CsrPem.newP256();
        PKCS10CertificationRequest ours = parse(CsrPem.csr(key));
        PKCS10CertificationRequest theirs = new JcaPKCS10CertificationRequestBuilder(new X500Name(new RDN[0]), key.getPublic())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate()));
        // ECDSA signatures differ per run; everything they sign must not.
        assertArrayEquals(theirs.toASN1Structure().getCertificationRequestInfo().getEncoded("DER"),
                ours.toASN1Structure().getCertificationRequestInfo().getEncoded("DER"));
        assertArrayEquals(theirs.toASN1Structure().getSignatureAlgorithm().getEncoded("DER"),
                ours.toASN1Structure().getSignatureAlgorithm().getEncoded("DER"));
    }

    @Test
    void anRsaKeySignsWithSha256WithRsa() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        PKCS10CertificationRequest csr = parse(CsrPem.csr(g.generateKeyPair()));
        assertEquals("1.2.840.113549.1.1.11", csr.getSignatureAlgorithm().getAlgorithm().getId());
        assertTrue(csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(csr.getSubjectPublicKeyInfo())));
    }

    @Test
    void opensslVerifiesIt() throws Exception {
        Path file = dir.resolve("csr.pem");
        Files.writeString(file, CsrPem.csr(CsrPem.newP256()));
        Process p = new ProcessBuilder(List.of("openssl", "req", "-in", file.toString(), "-verify", "-noout"))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("verify OK"), out);
    }

    @Test
    void isOnePemBlockOf64ColumnLines() {
        String pem = CsrPem.csr(CsrPem.newP256());
        List<String> lines = pem.lines().toList();
        assertEquals("-----BEGIN CERTIFICATE REQUEST-----", lines.getFirst());
        assertEquals("-----END CERTIFICATE REQUEST-----", lines.getLast());
        assertTrue(pem.endsWith("-----\n"));
        for (String line : lines.subList(1, lines.size() - 2)) {
            assertEquals(64, line.length(), line);
        }
    }
}
