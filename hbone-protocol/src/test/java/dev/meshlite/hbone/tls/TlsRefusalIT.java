package dev.meshlite.hbone.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.client.HboneClientConfig;
import dev.meshlite.hbone.client.HboneTunnelException;
import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.metrics.HboneMetrics.HandshakeFailure;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import dev.meshlite.hbone.testing.RawH2Connection;
import dev.meshlite.hbone.testing.TestCa;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Client certificates the server must refuse, each counted under its reason; nothing is dialed. */
@Timeout(60)
class TlsRefusalIT {

    static HboneTestbed bed;
    static EchoUpstream echo;

    @BeforeAll
    static void start() throws Exception {
        bed = new HboneTestbed();
        echo = bed.closeLater(new EchoUpstream());
    }

    @AfterAll
    static void stop() throws Exception {
        bed.close();
    }

    /** Opens a tunnel with {@code cert} as client certificate; returns the failure. */
    private static Throwable refused(WorkloadCertificate cert, TrustBundle bundle) throws Exception {
        TlsContextHolder tls = TlsContextHolder.forClient(cert, bundle);
        try (HboneClient client = HboneClient.create(HboneClientConfig.defaults(), HboneClient.single(tls),
                new HboneMetrics())) {
            PoolKey key = new PoolKey(cert.identity(), Set.of(bed.serverId), bed.server.localAddress(),
                    HboneTestbed.LOOPBACK);
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> client.open(key, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS));
            return e.getCause();
        }
    }

    private static void awaitFailure(HandshakeFailure reason, long before) {
        Await.until(() -> bed.serverMetrics.snapshot().handshakeFailures(reason) > before,
                () -> "no " + reason + " counted: " + bed.serverMetrics.snapshot().handshakeFailures());
    }

    @Test
    void expiredClientCertificateIsRefused() throws Exception {
        long before = bed.serverMetrics.snapshot().handshakeFailures(HandshakeFailure.EXPIRED_CERTIFICATE);
        int requests = bed.requests.size();
        Instant now = Instant.now();
        WorkloadCertificate expired = bed.ca.issue(bed.clientId, now.minus(Duration.ofDays(2)), now.minus(Duration.ofDays(1)));
        assertTrue(refused(expired, bed.ca.bundle()) instanceof HboneTunnelException);
        awaitFailure(HandshakeFailure.EXPIRED_CERTIFICATE, before);
        assertEquals(requests, bed.requests.size());
    }

    @Test
    void foreignTrustDomainIsRefusedEvenFromATrustedCa() throws Exception {
        long before = bed.serverMetrics.snapshot().handshakeFailures(HandshakeFailure.IDENTITY_REJECTED);
        WorkloadCertificate foreign = bed.ca.issue(new SpiffeId("other.example", "ns-a", "sleep"));
        refused(foreign, bed.ca.bundle());
        awaitFailure(HandshakeFailure.IDENTITY_REJECTED, before);
    }

    @Test
    void certificateFromAnUntrustedCaIsRefused() throws Exception {
        var before = bed.serverMetrics.snapshot();
        int requests = bed.requests.size();
        TestCa other = TestCa.create(HboneTestbed.TRUST_DOMAIN);
        assertTrue(refused(other.issue(bed.clientId), bed.ca.bundle().with(other.bundle()))
                instanceof HboneTunnelException);
        // BoringSSL's client follows the server's certificate_authorities list and withholds a
        // certificate the server cannot trust, so the refusal is counted as NO_CERTIFICATE; a client
        // that sends it anyway is counted as UNTRUSTED_CERTIFICATE. Either way: refused, nothing dialed.
        Await.until(() -> {
            var now = bed.serverMetrics.snapshot();
            return now.handshakeFailures(HandshakeFailure.UNTRUSTED_CERTIFICATE)
                    + now.handshakeFailures(HandshakeFailure.NO_CERTIFICATE)
                    > before.handshakeFailures(HandshakeFailure.UNTRUSTED_CERTIFICATE)
                    + before.handshakeFailures(HandshakeFailure.NO_CERTIFICATE);
        }, () -> "refusal not counted: " + bed.serverMetrics.snapshot().handshakeFailures());
        assertEquals(requests, bed.requests.size());
    }

    @Test
    void missingClientCertificateIsRefused() throws Exception {
        long before = bed.serverMetrics.snapshot().handshakeFailures(HandshakeFailure.NO_CERTIFICATE);
        try (RawH2Connection c = RawH2Connection.connect(bed.server.localAddress(), null, null)) {
            c.preface();
            assertTrue(c.awaitClose(), "the server must close a connection without a client certificate");
        } catch (javax.net.ssl.SSLException expected) {
            // the refusal may also surface during the handshake itself
        }
        awaitFailure(HandshakeFailure.NO_CERTIFICATE, before);
    }

    @Test
    void certificateWithoutSpiffeIdIsRefused() throws Exception {
        long before = bed.serverMetrics.snapshot().handshakeFailures(HandshakeFailure.IDENTITY_REJECTED);
        TestCa.UncheckedWorkload raw = bed.ca.issueRaw(List.of("https://not-spiffe.example/x"));
        try (RawH2Connection c = RawH2Connection.connect(bed.server.localAddress(), raw.leaf(), raw.key())) {
            c.preface();
            assertTrue(c.awaitClose());
        } catch (javax.net.ssl.SSLException expected) {
            // refused during the handshake
        }
        awaitFailure(HandshakeFailure.IDENTITY_REJECTED, before);
    }
}
