package dev.meshlite.istiod.ca;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.tls.SpiffeId;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The root of trust across restarts, replicas, a plugged-in CA and a rotation (API server mock). */
class CaSecretStoreIT {

    static final SpiffeId CART = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/cart");

    final MockCluster cluster = new MockCluster().namespace("istio-system").namespace("shop");

    @TempDir
    Path tmp;

    @AfterEach
    void stop() {
        cluster.close();
    }

    CaSecretStore store(KubernetesClient client) {
        return new CaSecretStore(client, "istio-system", "cluster.local", RootCertificates.DEFAULT_ROOT_TTL,
                Clock.systemUTC());
    }

    CertificateAuthority start(KubernetesClient client) {
        return CertificateAuthority.start(CaOptions.defaults("cluster.local"), client, new PrometheusRegistry());
    }

    static IssuedChain issue(CertificateAuthority ca) throws Exception {
        return ca.signer().sign(CertificateRequest.parse(Csrs.p256()), CART, Duration.ZERO);
    }

    @Test
    void restartingKeepsTheRoot() throws Exception {
        X509Certificate first;
        try (CertificateAuthority ca = start(cluster.client())) {
            first = ca.signer().keys().activeRoot();
        }
        assertTrue(cluster.client().secrets().inNamespace("istio-system").withName("istio-ca-secret").get()
                .getData().containsKey("ca-key.pem"));
        try (CertificateAuthority restarted = start(cluster.client())) {
            assertEquals(first, restarted.signer().keys().activeRoot());
            OpenSsl.Result v = OpenSsl.verify(tmp, List.of(first), issue(restarted).chain());
            assertEquals(0, v.exit(), v.output());
        }
    }

    @Test
    void twoReplicasSignWithTheSameRoot() throws Exception {
        try (KubernetesClient other = cluster.newClient();
                CertificateAuthority a = start(cluster.client());
                CertificateAuthority b = start(other)) {
            assertNotEquals(a.port(), b.port());
            X509Certificate root = a.signer().keys().activeRoot();
            assertEquals(root, b.signer().keys().activeRoot());
            for (CertificateAuthority ca : List.of(a, b)) {
                OpenSsl.Result v = OpenSsl.verify(tmp, List.of(root), issue(ca).chain());
                assertEquals(0, v.exit(), v.output());
            }
        }
    }

    @Test
    void replicasStartingTogetherAgreeOnOneRoot() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<KubernetesClient> clients = List.of(cluster.newClient(), cluster.newClient(), cluster.newClient(),
                    cluster.newClient());
            List<Callable<X509Certificate>> starts = clients.stream()
                    .<Callable<X509Certificate>>map(c -> () -> store(c).loadOrCreate().activeRoot()).toList();
            List<X509Certificate> roots = pool.invokeAll(starts).stream().map(CaSecretStoreIT::get).toList();
            clients.forEach(KubernetesClient::close);
            assertEquals(1, roots.stream().distinct().count(), "roots: " + roots);
            assertEquals(roots.getFirst(), store(cluster.client()).loadOrCreate().activeRoot());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aPluggedInCaSignsThroughItsIntermediate() throws Exception {
        CaKeys operatorRoot = RootCertificates.selfSigned("cluster.local", Duration.ofDays(365), Clock.systemUTC());
        CaKeys intermediate = Intermediates.under(operatorRoot, "operator intermediate");
        cluster.client().secrets().inNamespace("istio-system").resource(new SecretBuilder()
                .withNewMetadata().withName("cacerts").withNamespace("istio-system").endMetadata()
                .addToData("ca-cert.pem", b64(PemText.encode(intermediate.signingCert())))
                .addToData("ca-key.pem", b64(PemText.encode(intermediate.signingKey())))
                .addToData("root-cert.pem", b64(PemText.encode(operatorRoot.activeRoot())))
                .addToData("cert-chain.pem", b64(PemText.encode(intermediate.signingCert(), operatorRoot.activeRoot())))
                .build()).create();
        try (CertificateAuthority ca = start(cluster.client())) {
            IssuedChain chain = issue(ca);
            assertEquals(List.of(intermediate.signingCert()), chain.issuerChain());
            assertEquals(List.of(operatorRoot.activeRoot()), chain.roots());
            OpenSsl.Result v = OpenSsl.verify(tmp, chain.roots(), chain.chain());
            assertEquals(0, v.exit(), v.output());
            assertThrows(IllegalStateException.class, ca::rotateRoot, "the operator rotates a plugged-in CA");
        }
        assertEquals(null, cluster.client().secrets().inNamespace("istio-system").withName("istio-ca-secret").get(),
                "no self-signed root is made when one is plugged in");
    }

    @Test
    void aBrokenPluggedInCaIsRefusedWhole() {
        CaKeys operatorRoot = RootCertificates.selfSigned("cluster.local", Duration.ofDays(365), Clock.systemUTC());
        CaKeys stranger = RootCertificates.selfSigned("cluster.local", Duration.ofDays(365), Clock.systemUTC());
        CaKeys intermediate = Intermediates.under(operatorRoot, "operator intermediate");
        cluster.client().secrets().inNamespace("istio-system").resource(new SecretBuilder()
                .withNewMetadata().withName("cacerts").withNamespace("istio-system").endMetadata()
                .addToData("ca-cert.pem", b64(PemText.encode(intermediate.signingCert())))
                .addToData("ca-key.pem", b64(PemText.encode(stranger.signingKey())))
                .addToData("root-cert.pem", b64(PemText.encode(operatorRoot.activeRoot())))
                .build()).create();
        var e = assertThrows(IllegalArgumentException.class, () -> store(cluster.client()).loadOrCreate());
        assertTrue(e.getMessage().contains("does not match"), e.getMessage());
    }

    @Test
    void rotationKeepsOldAndNewRootsTrustedUntilRetired() throws Exception {
        try (KubernetesClient other = cluster.newClient();
                CertificateAuthority a = start(cluster.client());
                CertificateAuthority b = start(other)) {
            X509Certificate oldRoot = a.signer().keys().activeRoot();
            IssuedChain before = issue(a);

            CaKeys rotated = a.rotateRoot();
            X509Certificate newRoot = rotated.activeRoot();
            assertNotEquals(oldRoot, newRoot);
            assertEquals(List.of(newRoot, oldRoot), rotated.roots());

            b.reload(); // what b's periodic re-read does
            assertEquals(rotated.roots(), b.signer().keys().roots());
            IssuedChain after = issue(b);
            assertEquals(List.of(newRoot, oldRoot), after.roots());

            // Both generations verify against the bundle workloads now hold, and only against their own root alone.
            for (IssuedChain c : List.of(before, after)) {
                OpenSsl.Result v = OpenSsl.verify(tmp, after.roots(), c.chain());
                assertEquals(0, v.exit(), v.output());
            }
            assertNotEquals(0, OpenSsl.verify(tmp, List.of(oldRoot), after.chain()).exit());
            assertEquals(PemText.encodeAll(List.of(newRoot, oldRoot)), rootConfigMap("shop"));

            // A restart in the middle of the rotation still trusts both.
            assertEquals(List.of(newRoot, oldRoot), store(cluster.client()).loadOrCreate().roots());

            CaKeys retired = a.retireOldRoots();
            assertEquals(List.of(newRoot), retired.roots());
            assertEquals(PemText.encodeAll(List.of(newRoot)), rootConfigMap("shop"));
        }
    }

    @Test
    void rotationEndsByItselfOnceEveryOldRootCertificateHasExpired() {
        MutableClock clock = new MutableClock(java.time.Instant.now());
        try (CertificateAuthority ca = CertificateAuthority.start(
                CaOptions.defaults("cluster.local").withClock(clock), cluster.client(), new PrometheusRegistry())) {
            X509Certificate newRoot = ca.rotateRoot().activeRoot();
            clock.advance(Duration.ofHours(23));
            ca.reload();
            assertEquals(2, ca.signer().keys().roots().size(), "certificates of the old root are still valid");
            clock.advance(Duration.ofHours(1).plus(CertificateSigner.BACKDATE));
            ca.reload();
            assertEquals(List.of(newRoot), ca.signer().keys().roots());
            assertEquals(PemText.encodeAll(List.of(newRoot)), rootConfigMap("shop"));
        }
    }

    String rootConfigMap(String ns) {
        var cm = cluster.client().configMaps().inNamespace(ns).withName(RootPublisher.CONFIG_MAP).get();
        return cm == null ? null : cm.getData().get(RootPublisher.KEY);
    }

    static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
    }

    static <T> T get(Future<T> f) {
        try {
            return f.get();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
