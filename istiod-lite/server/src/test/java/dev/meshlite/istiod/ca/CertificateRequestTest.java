package dev.meshlite.istiod.ca;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.TestCa;
import org.junit.jupiter.api.Test;

class CertificateRequestTest {

    @Test
    void acceptsP256AndItsKey() throws Exception {
        var keys = Csrs.ec("secp256r1");
        assertEquals(keys.getPublic(), CertificateRequest.parse(Csrs.pem(keys, null)).publicKey());
    }

    @Test
    void acceptsRsa2048() throws Exception {
        var keys = Csrs.rsa(2048);
        assertEquals(keys.getPublic(), CertificateRequest.parse(Csrs.pem(keys, null)).publicKey());
    }

    @Test
    void refusesRsaUnder2048() {
        var e = assertThrows(InvalidCsrException.class, () -> CertificateRequest.parse(Csrs.pem(Csrs.rsa(1024), null)));
        assertTrue(e.getMessage().contains("1024 bits"), e.getMessage());
    }

    @Test
    void refusesOtherCurves() {
        var e = assertThrows(InvalidCsrException.class,
                () -> CertificateRequest.parse(Csrs.pem(Csrs.ec("secp384r1"), null)));
        assertTrue(e.getMessage().contains("P-256"), e.getMessage());
    }

    @Test
    void refusesBadSignature() {
        var e = assertThrows(InvalidCsrException.class, () -> CertificateRequest.parse(Csrs.badSignature()));
        assertTrue(e.getMessage().contains("signature"), e.getMessage());
    }

    @Test
    void refusesGarbage() {
        for (String garbage : new String[] {"", "   ", "hello", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n",
                "x".repeat(CertificateRequest.MAX_PEM_CHARS + 1)}) {
            assertThrows(InvalidCsrException.class, () -> CertificateRequest.parse(garbage), garbage);
        }
    }

    @Test
    void refusesACertificateInsteadOfACsr() {
        TestCa ca = TestCa.create("cluster.local");
        var e = assertThrows(InvalidCsrException.class, () -> CertificateRequest.parse(TestCa.pem(ca.root())));
        assertTrue(e.getMessage().contains("expected: a PEM CERTIFICATE REQUEST"), e.getMessage());
    }
}
