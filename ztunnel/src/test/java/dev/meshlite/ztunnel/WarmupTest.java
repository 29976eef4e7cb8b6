package dev.meshlite.ztunnel;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The warm-up's TLS step really completes a TLS 1.3 handshake (it throws when it does not). */
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
    void theTlsStepCompletesAHandshakeBetweenServerAndClientContexts() throws Exception {
        // Warmup.tls throws when either side did not finish its handshake.
        assertDoesNotThrow(() -> Warmup.tls("cluster.local"));
    }
}
