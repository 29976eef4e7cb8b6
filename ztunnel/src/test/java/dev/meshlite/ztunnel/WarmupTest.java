package dev.meshlite.ztunnel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Set;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;

/**
 * The warm-up's throwaway certificate is a well-formed X.509 v3 certificate (the JDK parses it,
 * its signature verifies, its SAN is the SPIFFE id), and its TLS step really completes a TLS 1.3
 * handshake (it throws when it does not).
 */
class WarmupTest {

    @Test
    void theThrowawayCertificateNamesItsIdentityAndExpiresSoon() throws Exception {
        SpiffeId id = new SpiffeId("cluster.local", "ztunnel-warmup", "ztunnel-warmup");
        WorkloadCertificate c = Warmup.selfSigned(id);
        assertEquals(java.util.List.of(java.util.List.of(6, id.uri())), c.leaf().getSubjectAlternativeNames().stream()
                .toList(), "one URI SAN, the SPIFFE id");
        assertTrue(c.leaf().getNotAfter().toInstant().isBefore(Instant.now().plusSeconds(601)));
    }

    @Test
    void theCertificateIsASelfSignedV3CertificateTheJdkVerifies() throws Exception {
        X509Certificate leaf = Warmup.selfSigned(new SpiffeId("cluster.local", "ns", "sa")).leaf();
        leaf.verify(leaf.getPublicKey());
        assertEquals(3, leaf.getVersion());
        assertEquals("SHA256withECDSA", leaf.getSigAlgName());
        assertEquals("O=ztunnel warm-up", leaf.getSubjectX500Principal().getName());
        assertEquals(leaf.getSubjectX500Principal(), leaf.getIssuerX500Principal());
        assertEquals(Set.of("2.5.29.17"), leaf.getNonCriticalExtensionOIDs(), "the SAN, not critical");
        leaf.checkValidity();
    }

    @Test
    void itsSignedPartIsWhatBouncyCastleBuildsFromTheSameFields() throws Exception {
        SpiffeId id = new SpiffeId("cluster.local", "ns", "sa");
        WorkloadCertificate c = Warmup.selfSigned(id);
        X509Certificate leaf = c.leaf();
        X500Name name = new X500Name("O=ztunnel warm-up");
        var builder = new JcaX509v3CertificateBuilder(name, leaf.getSerialNumber(), leaf.getNotBefore(),
                leaf.getNotAfter(), name, leaf.getPublicKey());
        builder.addExtension(Extension.subjectAlternativeName, false,
                new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, id.uri())));
        byte[] theirs = builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(c.privateKey()))
                .toASN1Structure().getTBSCertificate().getEncoded("DER");
        assertArrayEquals(theirs, leaf.getTBSCertificate());
    }

    @Test
    void theTlsStepCompletesAHandshakeBetweenServerAndClientContexts() throws Exception {
        // Warmup.tls throws when either side did not finish its handshake.
        assertDoesNotThrow(() -> Warmup.tls("cluster.local"));
    }
}
