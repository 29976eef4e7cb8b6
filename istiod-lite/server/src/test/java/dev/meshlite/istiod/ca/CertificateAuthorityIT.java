package dev.meshlite.istiod.ca;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.istiod.api.ca.v1.CertificateResponse;
import dev.meshlite.istiod.api.ca.v1.CertificateServiceGrpc;
import dev.meshlite.istiod.api.ca.v1.CsrRequest;
import dev.meshlite.istiod.ca.auth.NodeCredentials;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.GrpcCertificateSource;
import dev.meshlite.istiod.ca.client.RenewalScheduler;
import dev.meshlite.istiod.ca.client.WorkloadCertificates;
import dev.meshlite.istiod.ca.grpc.BearerToken;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CA over real gRPC + TLS on 127.0.0.1, against the API server mock, with node credentials. */
class CertificateAuthorityIT {

    static final SpiffeId CART = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/cart");
    static final SpiffeId CHECKOUT = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/checkout");

    static MockCluster cluster;
    static CertificateAuthority ca;
    static PrometheusRegistry registry;
    static ManagedChannel channel;
    static String nodeA;
    static String nodeB;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() throws Exception {
        cluster = new MockCluster().namespace("istio-system").namespace("shop")
                .pod("shop", "cart-1", "cart", "node-a")
                .pod("shop", "checkout-1", "checkout", "node-b");
        NodeCredentials credentials = new NodeCredentials(cluster.client(), "istio-system", CaOptions.DEFAULT_NODE_AGENT);
        nodeA = credentials.issue("node-a");
        nodeB = credentials.issue("node-b");
        registry = new PrometheusRegistry();
        ca = CertificateAuthority.start(CaOptions.defaults("cluster.local")
                .withAuth(List.of(CaOptions.Auth.NODE_CREDENTIAL)), cluster.client(), registry);
        // grpc-java's own client for the raw calls (the CA as any gRPC client sees it); the client
        // library's channel in clientLibraryFetchesThroughTheCa.
        channel = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forAddress("127.0.0.1", ca.port())
                .sslContext(io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts.forClient()
                        .trustManager(ca.signer().keys().roots().toArray(X509Certificate[]::new)).build())
                .overrideAuthority("istiod.istio-system.svc").build();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        ca.close();
        cluster.close();
    }

    static CertificateResponse call(String token, SpiffeId identity, String csr, long ttlSeconds) {
        var stub = CertificateServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
        if (token != null) {
            stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(BearerToken.metadata(token)));
        }
        return stub.createCertificate(CsrRequest.newBuilder().setCsrPem(csr).setRequestedTtlSeconds(ttlSeconds)
                .setIdentity(identity == null ? "" : identity.uri()).build());
    }

    static List<X509Certificate> certs(List<String> pems) {
        List<X509Certificate> out = new ArrayList<>();
        pems.forEach(p -> out.addAll(PemText.certificates(p, "response")));
        return out;
    }

    static StatusRuntimeException refused(Status.Code code, String token, SpiffeId id, String csr) {
        var e = assertThrows(StatusRuntimeException.class, () -> call(token, id, csr, 0));
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        return e;
    }

    @Test
    void ztunnelGetsTheIdentityOfAPodOnItsNodeAndOpensslVerifiesIt() throws Exception {
        CertificateResponse r = call(nodeA, CART, Csrs.pem(Csrs.ec("secp256r1"),
                "spiffe://cluster.local/ns/istio-system/sa/istiod"), 0);
        List<X509Certificate> chain = certs(r.getCertChainPemList());
        List<X509Certificate> roots = certs(r.getRootCertsPemList());
        assertEquals(ca.signer().keys().roots(), roots);

        OpenSsl.Result verify = OpenSsl.verify(tmp, roots, chain);
        assertEquals(0, verify.exit(), verify.output());
        String san = OpenSsl.subjectAltName(tmp, chain.getFirst()).output();
        assertTrue(san.contains("URI:spiffe://cluster.local/ns/shop/sa/cart"), san);
        assertEquals(1, san.split("URI:", -1).length - 1, "exactly one URI SAN: " + san);
        assertEquals(List.of(List.of(6, CART.uri())), new ArrayList<>(chain.getFirst().getSubjectAlternativeNames()));
    }

    @Test
    void ttlIsCappedAtTheMaximum() {
        X509Certificate leaf = certs(call(nodeA, CART, Csrs.p256(), Duration.ofDays(30).toSeconds())
                .getCertChainPemList()).getFirst();
        assertEquals(Duration.ofHours(24).plus(CertificateSigner.BACKDATE),
                Duration.between(leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant()));
        X509Certificate shorter = certs(call(nodeA, CART, Csrs.p256(), 3600).getCertChainPemList()).getFirst();
        assertEquals(Duration.ofHours(1).plus(CertificateSigner.BACKDATE),
                Duration.between(shorter.getNotBefore().toInstant(), shorter.getNotAfter().toInstant()));
    }

    @Test
    void ztunnelAskingForAnIdentityWithNoPodOnItsNodeIsDeniedWithTheReason() {
        var e = refused(Status.Code.PERMISSION_DENIED, nodeA, CHECKOUT, Csrs.p256());
        assertTrue(e.getStatus().getDescription().contains(
                "no pod with service account shop/checkout runs on node node-a"), e.getStatus().getDescription());
        // The same identity from the node where it runs is fine.
        assertEquals(1, certs(call(nodeB, CHECKOUT, Csrs.p256(), 0).getCertChainPemList()).size());
    }

    @Test
    void unauthenticatedCallsAreRefused() {
        refused(Status.Code.UNAUTHENTICATED, null, CART, Csrs.p256());
        refused(Status.Code.UNAUTHENTICATED, "node-a.not-the-secret", CART, Csrs.p256());
        refused(Status.Code.UNAUTHENTICATED, "node-z.whatever", CART, Csrs.p256());
        refused(Status.Code.UNAUTHENTICATED, "garbage", CART, Csrs.p256());
        // A node's token does not work for another node's name.
        String secretOfA = nodeA.substring(nodeA.indexOf('.') + 1);
        refused(Status.Code.UNAUTHENTICATED, "node-b." + secretOfA, CHECKOUT, Csrs.p256());
    }

    @Test
    void badCsrsAreInvalidArguments() {
        var bad = refused(Status.Code.INVALID_ARGUMENT, nodeA, CART, Csrs.badSignature());
        assertTrue(bad.getStatus().getDescription().contains("signature"), bad.getStatus().getDescription());
        var rsa = refused(Status.Code.INVALID_ARGUMENT, nodeA, CART, Csrs.pem(Csrs.rsa(1024), null));
        assertTrue(rsa.getStatus().getDescription().contains("1024 bits"), rsa.getStatus().getDescription());
        refused(Status.Code.INVALID_ARGUMENT, nodeA, CART, "garbage");
        refused(Status.Code.INVALID_ARGUMENT, nodeA, CART, "");
        assertEquals(1, certs(call(nodeA, CART, Csrs.pem(Csrs.rsa(2048), null), 0).getCertChainPemList()).size());
    }

    @Test
    void rootIsPublishedInEveryNamespaceIncludingNewOnes() {
        String pem = PemText.encodeAll(ca.signer().keys().roots());
        Await.until(() -> pem.equals(rootConfigMap("shop")), () -> "istio-ca-root-cert in shop: " + rootConfigMap("shop"));
        cluster.namespace("created-later");
        Await.until(() -> pem.equals(rootConfigMap("created-later")),
                () -> "istio-ca-root-cert in created-later: " + rootConfigMap("created-later"));
    }

    @Test
    void metricsCountIssuedDeniedByReasonLatencyAndRootExpiry() throws Exception {
        call(nodeA, CART, Csrs.p256(), 0);
        refused(Status.Code.PERMISSION_DENIED, nodeA, CHECKOUT, Csrs.p256());
        refused(Status.Code.UNAUTHENTICATED, null, CART, Csrs.p256());
        refused(Status.Code.INVALID_ARGUMENT, nodeA, CART, "garbage");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        String text = out.toString(StandardCharsets.UTF_8);
        for (String expected : List.of("meshlite_ca_certificates_issued_total ",
                "meshlite_ca_requests_denied_total{reason=\"permission_denied\"}",
                "meshlite_ca_requests_denied_total{reason=\"unauthenticated\"}",
                "meshlite_ca_requests_denied_total{reason=\"invalid_argument\"}",
                "meshlite_ca_signing_duration_seconds_count ", "meshlite_ca_root_expiry_seconds ")) {
            assertTrue(text.contains(expected), expected + " in\n" + text);
        }
    }

    @Test
    void clientLibraryFetchesThroughTheCa() throws Exception {
        try (RenewalScheduler scheduler = RenewalScheduler.singleThread("test-renewal");
                GrpcCertificateSource source = new GrpcCertificateSource(GrpcCertificateSource.channel("127.0.0.1",
                        ca.port(), new TrustBundle(ca.signer().keys().roots()), "istiod.istio-system.svc"),
                        () -> nodeA, Duration.ZERO, Duration.ofSeconds(30));
                WorkloadCertificates certs = new WorkloadCertificates(source,
                        scheduler, Clock.systemUTC(), new SecureRandom(), Backoff.DEFAULT)) {
            WorkloadCertificate c = certs.certificate(CART).get(30, TimeUnit.SECONDS);
            assertEquals(CART, c.identity());
            assertEquals(new TrustBundle(ca.signer().keys().roots()), certs.trustBundle().orElseThrow());
            long left = certs.secondsToExpiry().get(CART);
            assertTrue(left > Duration.ofHours(23).toSeconds() && left <= Duration.ofHours(24).toSeconds(), "" + left);
        }
    }

    static String rootConfigMap(String ns) {
        ConfigMap cm = cluster.client().configMaps().inNamespace(ns).withName(RootPublisher.CONFIG_MAP).get();
        return cm == null || cm.getData() == null ? null : cm.getData().get(RootPublisher.KEY);
    }
}
