package dev.meshlite.istiod.ca.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

class WorkloadCertificatesTest {

    static final Instant T0 = Instant.parse("2026-03-01T00:00:00Z");
    static final Duration TTL = Duration.ofHours(24);

    final TestCa ca = TestCa.create("cluster.local");
    final SpiffeId cart = ca.id("shop", "cart");
    final MutableClock clock = new MutableClock(T0);
    final FakeScheduler scheduler = new FakeScheduler(clock);
    final AtomicInteger fetches = new AtomicInteger();
    final AtomicBoolean caAway = new AtomicBoolean();

    /** Issues certificates valid from "now" (the fake clock) for TTL. */
    final CertificateSource source = id -> {
        fetches.incrementAndGet();
        if (caAway.get()) {
            throw new IOException("CA unreachable");
        }
        return new CertificateSource.Fetched(ca.issue(id, clock.instant(), clock.instant().plus(TTL)), ca.bundle());
    };

    /** Draw 0.5: renewal at 45% of the lifetime. */
    static final RandomGenerator HALF = new RandomGenerator() {
        @Override
        public long nextLong() {
            return 0;
        }

        @Override
        public double nextDouble() {
            return 0.5;
        }
    };

    final WorkloadCertificates certs = new WorkloadCertificates(source, scheduler, clock, HALF,
            new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(1)));

    @Test
    void fetchesOnFirstUseThenServesFromTheCache() throws Exception {
        CompletableFuture<WorkloadCertificate> first = certs.certificate(cart);
        assertFalse(first.isDone(), "the fetch runs on the scheduler, not the caller");
        scheduler.advance(Duration.ZERO);
        WorkloadCertificate c = first.getNow(null);
        assertEquals(cart, c.identity());
        assertSame(c, certs.certificate(cart).getNow(null));
        assertEquals(1, fetches.get());
        assertEquals(Map.of(cart, TTL.toSeconds()), certs.secondsToExpiry());
        assertEquals(ca.bundle(), certs.trustBundle().orElseThrow());
    }

    @Test
    void renewsAtHalfLifeMinusJitterBeforeExpiry() {
        java.util.List<WorkloadCertificate> told = new java.util.ArrayList<>();
        certs.listener((id, cert, bundle) -> told.add(cert));
        certs.certificate(cart);
        scheduler.advance(Duration.ZERO);
        WorkloadCertificate first = certs.current(cart).orElseThrow();
        Instant due = T0.plus(TTL.multipliedBy(45).dividedBy(100));

        scheduler.advanceTo(due.minusMillis(1));
        assertEquals(1, fetches.get(), "not renewed before it is due");
        assertSame(first, certs.current(cart).orElseThrow());

        scheduler.advanceTo(due);
        assertEquals(2, fetches.get());
        WorkloadCertificate second = certs.current(cart).orElseThrow();
        assertNotEquals(first.leaf(), second.leaf());
        assertTrue(second.notAfter().isAfter(first.notAfter()));
        assertEquals(TTL.toSeconds(), certs.secondsToExpiry().get(cart));

        assertEquals(java.util.List.of(first, second), told, "the listener hears of every new certificate");
        // And again at 45% of the new certificate's life: renewal keeps going.
        scheduler.advanceTo(due.plus(TTL.multipliedBy(45).dividedBy(100)));
        assertEquals(3, fetches.get());
    }

    @Test
    void whileTheCaIsAwayRetriesWithBackoffAndKeepsTheCertificateUntilItExpires() {
        certs.certificate(cart);
        scheduler.advance(Duration.ZERO);
        WorkloadCertificate held = certs.current(cart).orElseThrow();
        caAway.set(true);

        scheduler.advanceTo(held.notAfter().minusSeconds(1));
        int attempts = fetches.get() - 1;
        // 13.2 h of outage with backoff capped at one minute: hundreds of attempts, not millions.
        assertTrue(attempts > 100 && attempts < 2000, "attempts: " + attempts);
        assertSame(held, certs.current(cart).orElseThrow(), "the current certificate stays in use");
        assertEquals(1, certs.secondsToExpiry().get(cart));

        scheduler.advanceTo(held.notAfter().plusSeconds(1));
        assertTrue(certs.current(cart).isEmpty(), "an expired certificate is never handed out");
        assertTrue(certs.secondsToExpiry().isEmpty());
        CompletableFuture<WorkloadCertificate> waiting = certs.certificate(cart);
        assertFalse(waiting.isDone());

        caAway.set(false);
        scheduler.advance(Duration.ofMinutes(1));
        assertTrue(waiting.isDone());
        assertFalse(waiting.getNow(null).isExpired(clock.instant()));
    }

    @Test
    void retriesCloseInAsExpiryNearsSoACaBackJustBeforeExpiryIsReachedInTime() {
        // Short-lived certificates (two minutes) and a backoff whose cap alone would overshoot them.
        Duration ttl = Duration.ofMinutes(2);
        CertificateSource shortLived = id -> {
            fetches.incrementAndGet();
            if (caAway.get()) {
                throw new IOException("CA unreachable");
            }
            return new CertificateSource.Fetched(ca.issue(id, clock.instant(), clock.instant().plus(ttl)), ca.bundle());
        };
        WorkloadCertificates c = new WorkloadCertificates(shortLived, scheduler, clock, HALF,
                new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(5)));
        c.certificate(cart);
        scheduler.advance(Duration.ZERO);
        WorkloadCertificate held = c.current(cart).orElseThrow();
        caAway.set(true);
        // The CA is away from the renewal point until 8 s before expiry.
        scheduler.advanceTo(held.notAfter().minusSeconds(8));
        assertSame(held, c.current(cart).orElseThrow());
        caAway.set(false);
        // A quarter of 8 s at most: renewed within 2 s, well before expiry; the backoff alone
        // (doubling towards 5 minutes) would have slept past it.
        scheduler.advanceTo(held.notAfter().minusSeconds(6));
        WorkloadCertificate renewed = c.current(cart).orElseThrow();
        assertNotEquals(held.leaf(), renewed.leaf(), "renewed before the old certificate expired");
        assertTrue(renewed.notAfter().isAfter(held.notAfter()));
    }

    @Test
    void backoffGrowsThenCaps() {
        Backoff b = new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(1));
        assertEquals(Duration.ofMillis(750), b.delay(1, HALF));
        assertEquals(Duration.ofMillis(1500), b.delay(2, HALF));
        assertEquals(Duration.ofMillis(45_000), b.delay(30, HALF));
    }

    @Test
    void aBackdatedShortLivedCertificateIsRenewedHalfWayThroughTheLifeLeftNotAtOnce() {
        // The CA backdates notBefore a minute for clock skew; with a 40 s lifetime, half of
        // notBefore..notAfter lies in the past when the certificate arrives.
        Duration ttl = Duration.ofSeconds(40);
        CertificateSource backdated = id -> {
            fetches.incrementAndGet();
            return new CertificateSource.Fetched(ca.issue(id, clock.instant().minusSeconds(60), clock.instant().plus(ttl)),
                    ca.bundle());
        };
        WorkloadCertificates c = new WorkloadCertificates(backdated, scheduler, clock, HALF,
                new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(1)));
        c.certificate(cart);
        scheduler.advance(Duration.ZERO);
        assertEquals(1, fetches.get());
        // 45% of the 40 s it has left (the draw of 0.5): 18 s, not immediately and not in a loop.
        scheduler.advance(Duration.ofSeconds(17));
        assertEquals(1, fetches.get(), "renewed before half of the remaining life");
        scheduler.advance(Duration.ofSeconds(1));
        assertEquals(2, fetches.get());
        scheduler.advance(Duration.ofSeconds(17));
        assertEquals(2, fetches.get(), "the renewed certificate is not renewed at once either");
    }

    @Test
    void renewalsOfManyIdentitiesIssuedTogetherAreSpreadOut() {
        // 10,000 certificates issued at the same instant: their renewals fall across the last
        // 10% before half life, no bucket of 1% of the lifetime holding more than ~15% of them.
        WorkloadCertificate c = ca.issue(cart, T0, T0.plus(TTL));
        RandomGenerator random = RandomGenerator.of("L64X128MixRandom");
        int[] buckets = new int[10];
        for (int i = 0; i < 10_000; i++) {
            Instant due = WorkloadCertificates.renewalTime(c, T0, random.nextDouble());
            double fraction = (double) Duration.between(T0, due).toMillis() / TTL.toMillis();
            assertTrue(fraction > 0.4 - 1e-9 && fraction <= 0.5, "fraction " + fraction);
            buckets[Math.min(9, (int) ((0.5 - fraction) * 100))]++;
        }
        for (int n : buckets) {
            assertTrue(n > 500 && n < 1500, java.util.Arrays.toString(buckets));
        }
    }

    @Test
    void forgetStopsRenewing() {
        certs.certificate(cart);
        scheduler.advance(Duration.ZERO);
        certs.forget(cart);
        scheduler.advance(TTL);
        assertEquals(1, fetches.get());
        assertEquals(0, scheduler.pending());
        assertTrue(certs.current(cart).isEmpty());
    }
}
