package dev.meshlite.istiod.ca;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.tls.SpiffeId;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificateSignerTest {

    static final SpiffeId ID = new SpiffeId("cluster.local", "shop", "cart");
    static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    final MutableClock clock = new MutableClock(T0);
    final CaKeys root = RootCertificates.selfSigned("cluster.local", RootCertificates.DEFAULT_ROOT_TTL, clock);
    final CertificateSigner signer = new CertificateSigner(root, Duration.ofHours(24), clock);

    @TempDir
    Path tmp;

    @Test
    void theSanIsTheAuthorizedIdentityNeverTheCsrs() throws Exception {
        String evil = Csrs.pem(Csrs.ec("secp256r1"), "spiffe://cluster.local/ns/istio-system/sa/istiod");
        X509Certificate leaf = signer.sign(CertificateRequest.parse(evil), ID, Duration.ZERO).leaf();

        Collection<List<?>> sans = leaf.getSubjectAlternativeNames();
        assertEquals(List.of(List.of(6, ID.uri())), new ArrayList<>(sans));
        assertEquals("", leaf.getSubjectX500Principal().getName(), "subject must not carry the CSR's");
        assertTrue(leaf.getCriticalExtensionOIDs().contains("2.5.29.17"), "SAN critical with an empty subject");
        assertEquals(-1, leaf.getBasicConstraints());
        assertEquals(List.of("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"), leaf.getExtendedKeyUsage());
    }

    @Test
    void opensslVerifiesTheChainAndReadsExactlyOneUriSan() throws Exception {
        clock.set(Instant.now()); // openssl checks validity against the real time
        IssuedChain chain = signer.sign(CertificateRequest.parse(Csrs.p256()), ID, Duration.ZERO);
        OpenSsl.Result verify = OpenSsl.verify(tmp, chain.roots(), chain.chain());
        assertEquals(0, verify.exit(), verify.output());
        String san = OpenSsl.subjectAltName(tmp, chain.leaf()).output();
        assertTrue(san.contains("URI:" + ID.uri()), san);
        assertEquals(1, san.split("URI:", -1).length - 1, san);
        assertTrue(!san.contains("DNS:") && !san.contains("IP Address:"), san);
    }

    @Test
    void ttlIsAsRequestedCappedAtTheMaximum() throws Exception {
        CertificateRequest csr = CertificateRequest.parse(Csrs.p256());
        assertEquals(T0.plus(Duration.ofHours(1)), notAfter(signer.sign(csr, ID, Duration.ofHours(1))));
        assertEquals(T0.plus(Duration.ofHours(24)), notAfter(signer.sign(csr, ID, Duration.ofDays(30))));
        assertEquals(T0.plus(Duration.ofHours(24)), notAfter(signer.sign(csr, ID, Duration.ZERO)));
        assertEquals(T0.minus(CertificateSigner.BACKDATE),
                signer.sign(csr, ID, Duration.ZERO).leaf().getNotBefore().toInstant());
        assertThrows(IllegalArgumentException.class, () -> signer.sign(csr, ID, Duration.ofSeconds(-1)));
    }

    @Test
    void neverOutlivesTheSigningCertificate() throws Exception {
        clock.set(root.activeRoot().getNotAfter().toInstant().minus(Duration.ofHours(2)));
        IssuedChain chain = signer.sign(CertificateRequest.parse(Csrs.p256()), ID, Duration.ZERO);
        assertEquals(root.activeRoot().getNotAfter(), chain.leaf().getNotAfter());
    }

    @Test
    void anIntermediateSignsAndTravelsInTheChain() throws Exception {
        clock.set(Instant.now());
        CaKeys intermediate = Intermediates.under(root, "plugged intermediate");
        CertificateSigner plugged = new CertificateSigner(intermediate, Duration.ofHours(24), clock);
        IssuedChain chain = plugged.sign(CertificateRequest.parse(Csrs.p256()), ID, Duration.ZERO);
        assertEquals(List.of(chain.leaf(), intermediate.signingCert()), chain.chain());
        assertEquals(List.of(root.activeRoot()), chain.roots());
        OpenSsl.Result verify = OpenSsl.verify(tmp, chain.roots(), chain.chain());
        assertEquals(0, verify.exit(), verify.output());
    }

    @Test
    void caKeysRefuseAKeyThatDoesNotMatch() {
        CaKeys other = RootCertificates.selfSigned("cluster.local", Duration.ofDays(1), clock);
        var e = assertThrows(IllegalArgumentException.class,
                () -> CaKeys.selfSigned(root.activeRoot(), other.signingKey()));
        assertTrue(e.getMessage().contains("does not match"), e.getMessage());
    }

    private static Instant notAfter(IssuedChain c) {
        return c.leaf().getNotAfter().toInstant();
    }
}
