package dev.meshlite.ztunnel.identity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.CertificateSource;
import dev.meshlite.istiod.ca.client.RenewalScheduler;
import dev.meshlite.istiod.ca.client.WorkloadCertificates;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class CertificateManagerTest {

    static final TestCa CA = TestCa.create("cluster.local");

    static WorkloadCertificates certificates() {
        CertificateSource source = id -> new CertificateSource.Fetched(CA.issue(id), CA.bundle());
        return new WorkloadCertificates(source, RenewalScheduler.singleThread("test-certificates"),
                InstantSource.system(), RandomGenerator.getDefault(), Backoff.DEFAULT);
    }

    /**
     * Pods of many new identities arriving back to back (a namespace enrolled at once) while
     * their certificates complete on the renewal thread and build TLS contexts: the two locks
     * involved were once taken in opposite orders and the proxy hung for good.
     */
    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a deadlock fails, not hangs, the build
    void manyIdentitiesArrivingWhileTheirCertificatesCompleteDoNotDeadlock() throws Exception {
        try (WorkloadCertificates certs = certificates()) {
            CertificateManager manager = new CertificateManager(certs, "cluster.local");
            List<CompletableFuture<TlsContextHolder>> contexts = new ArrayList<>();
            // Another thread keeps arriving pods (the hand-off thread) while certificates complete.
            Thread arrivals = Thread.ofPlatform().start(() -> {
                for (int i = 0; i < 20_000; i++) {
                    manager.acquire(new SpiffeId("cluster.local", "busy", "sa" + (i % 50)));
                }
            });
            for (int i = 0; i < 300; i++) {
                SpiffeId id = new SpiffeId("cluster.local", "ns" + (i % 30), "sa" + i);
                manager.acquire(id);
                for (int k = 0; k < 4; k++) { // several connections waiting for the same certificate
                    contexts.add(manager.server(id));
                    contexts.add(manager.client(id));
                }
            }
            CompletableFuture.allOf(contexts.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
            arrivals.join(TimeUnit.SECONDS.toMillis(60));
            assertTrue(!arrivals.isAlive(), "the arriving pods' thread is stuck");
            assertEquals(350, manager.snapshot().size());
        }
    }

    @Test
    void oneContextPerIdentityAndSideAndTheLastPodLeavingStopsRenewal() throws Exception {
        try (WorkloadCertificates certs = certificates()) {
            CertificateManager manager = new CertificateManager(certs, "cluster.local");
            SpiffeId id = CA.id("shop", "backend");
            manager.acquire(id);
            manager.acquire(id);
            TlsContextHolder server = manager.server(id).get(10, TimeUnit.SECONDS);
            assertSame(server, manager.server(id).get(10, TimeUnit.SECONDS));
            assertTrue(server.isServer());
            TlsContextHolder client = manager.client(id).get(10, TimeUnit.SECONDS);
            assertSame(client, manager.clientNow(id));
            assertEquals(id, client.certificate().identity());
            manager.release(id);
            assertEquals(1, manager.snapshot().size(), "one pod of the identity is left");
            manager.release(id);
            assertTrue(manager.snapshot().isEmpty());
            assertTrue(certs.current(id).isEmpty(), "forgotten: no longer renewed");
        }
    }

}
