package dev.meshlite.istiod.ca.client;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data plane's certificates, one per identity: fetched on first use, cached, renewed ahead
 * of expiry (DESIGN §6).
 *
 * <p>Rules:
 * <ul>
 *   <li>Renewal is due at half the lifetime, minus a random part of up to {@link #JITTER} of the
 *       lifetime, so identities issued together do not renew together (never later than half).</li>
 *   <li>A failed fetch is retried with {@link Backoff}; meanwhile the current certificate stays in
 *       use until it expires. An expired certificate is never handed out.</li>
 *   <li>Fetches run on the {@link RenewalScheduler}'s thread, never on the caller's; callers that
 *       need a certificate not yet held get a future.</li>
 * </ul>
 */
public final class WorkloadCertificates implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(WorkloadCertificates.class);

    /** Up to 10% of the lifetime earlier than half life. */
    static final double JITTER = 0.1;

    private final CertificateSource source;
    private final RenewalScheduler scheduler;
    private final InstantSource clock;
    private final RandomGenerator random;
    private final Backoff backoff;
    private final Map<SpiffeId, Entry> entries = new HashMap<>();
    private volatile TrustBundle trustBundle;
    private volatile Listener listener = (id, cert, bundle) -> {};
    private boolean closed;

    /** Told of every new certificate (for example to rotate a TLS context); runs on the renewal thread. */
    @FunctionalInterface
    public interface Listener {
        void updated(SpiffeId id, WorkloadCertificate certificate, TrustBundle trustBundle);
    }

    /** Per identity; guarded by the enclosing instance's lock. */
    private static final class Entry {
        WorkloadCertificate current;
        CompletableFuture<WorkloadCertificate> next = new CompletableFuture<>();
        RenewalScheduler.Scheduled scheduled;
        int failures;
    }

    public WorkloadCertificates(CertificateSource source, RenewalScheduler scheduler, InstantSource clock,
            RandomGenerator random, Backoff backoff) {
        this.source = source;
        this.scheduler = scheduler;
        this.clock = clock;
        this.random = random;
        this.backoff = backoff;
    }

    public void listener(Listener l) {
        this.listener = l;
    }

    /** The current certificate for {@code id}, or a future completed by the first successful fetch. */
    public synchronized CompletableFuture<WorkloadCertificate> certificate(SpiffeId id) {
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("closed"));
        }
        Entry e = entries.get(id);
        if (e == null) {
            e = new Entry();
            entries.put(id, e);
            e.scheduled = scheduler.schedule(() -> fetch(id), Duration.ZERO);
        }
        WorkloadCertificate valid = valid(e);
        return valid != null ? CompletableFuture.completedFuture(valid) : e.next;
    }

    /** The held, unexpired certificate for {@code id}, if any. */
    public synchronized Optional<WorkloadCertificate> current(SpiffeId id) {
        Entry e = entries.get(id);
        return e == null ? Optional.empty() : Optional.ofNullable(valid(e));
    }

    /** The roots sent with the latest certificate (old and new during a rotation). */
    public Optional<TrustBundle> trustBundle() {
        return Optional.ofNullable(trustBundle);
    }

    /** Seconds until each held, unexpired certificate expires. */
    public synchronized Map<SpiffeId, Long> secondsToExpiry() {
        Instant now = clock.instant();
        Map<SpiffeId, Long> out = new LinkedHashMap<>();
        entries.forEach((id, e) -> {
            WorkloadCertificate c = valid(e);
            if (c != null) {
                out.put(id, Duration.between(now, c.notAfter()).toSeconds());
            }
        });
        return out;
    }

    /** Stops renewing {@code id} (its last workload left the node). */
    public synchronized void forget(SpiffeId id) {
        Entry e = entries.remove(id);
        if (e != null) {
            if (e.scheduled != null) {
                e.scheduled.cancel();
            }
            e.next.cancel(false);
        }
    }

    /** Registers {@code meshlite_workload_certificate_expiry_seconds{identity}}. */
    public void register(PrometheusRegistry registry) {
        GaugeWithCallback.builder().name("meshlite_workload_certificate_expiry_seconds")
                .help("Seconds until the held workload certificate expires")
                .labelNames("identity")
                .callback(cb -> secondsToExpiry().forEach((id, s) -> cb.call(s, id.uri())))
                .register(registry);
    }

    /**
     * When a certificate received at {@code received} is due for renewal, given a draw from [0, 1):
     * about half way through the life it has from when we got it. The CA backdates notBefore (for
     * clock skew), so counting from notBefore would put the renewal of a short-lived certificate
     * in the past, and renew it again at once, in a loop.
     */
    static Instant renewalTime(WorkloadCertificate c, Instant received, double draw) {
        long start = Math.max(c.notBefore().toEpochMilli(), received.toEpochMilli());
        long life = Math.max(0, c.notAfter().toEpochMilli() - start);
        return Instant.ofEpochMilli(start + life / 2 - (long) (life * JITTER * draw));
    }

    private void fetch(SpiffeId id) {
        synchronized (this) {
            if (closed || !entries.containsKey(id)) {
                return;
            }
        }
        CertificateSource.Fetched fetched = null;
        Exception failure = null;
        try {
            fetched = source.fetch(id);
            if (!fetched.certificate().identity().equals(id)) {
                throw new IllegalStateException("CA issued " + fetched.certificate().identity() + " for " + id);
            }
        } catch (Exception ex) {
            failure = ex;
        }
        boolean updated = false;
        CompletableFuture<WorkloadCertificate> waiting = null;
        synchronized (this) {
            Entry e = entries.get(id);
            if (closed || e == null) {
                return;
            }
            Instant now = clock.instant();
            if (failure == null) {
                e.current = fetched.certificate();
                e.failures = 0;
                trustBundle = fetched.trustBundle();
                waiting = e.next;
                e.next = new CompletableFuture<>();
                Instant due = renewalTime(e.current, now, random.nextDouble());
                e.scheduled = scheduler.schedule(() -> fetch(id), nonNegative(Duration.between(now, due)));
                updated = true;
            } else {
                e.failures++;
                Duration wait = retryWait(e, now);
                // Logged on attempts 1, 2, 4, 8, ...: an outage is visible without flooding the log.
                if (Integer.bitCount(e.failures) == 1) {
                    log.warn("certificate for {} not renewed (attempt {}, retry in {} ms; current {}): {}", id,
                            e.failures, wait.toMillis(),
                            e.current == null ? "none" : "valid until " + e.current.notAfter(), failure.toString());
                }
                e.scheduled = scheduler.schedule(() -> fetch(id), wait);
            }
        }
        // Waiters and the listener run outside this lock: they may take locks of their own (a
        // TLS-context cache) whose holders call back into this class.
        if (waiting != null) {
            waiting.complete(fetched.certificate());
        }
        if (updated) {
            try {
                listener.updated(id, fetched.certificate(), fetched.trustBundle());
            } catch (RuntimeException ex) {
                log.warn("certificate listener failed for {}: {}", id, ex.toString());
            }
        }
    }

    /**
     * The backoff, but never more than a quarter of what is left of the current certificate's
     * life (and never less than the backoff's first step): as expiry nears, retries come closer
     * together, so a CA that returns shortly before expiry is reached in time. With day-long
     * certificates the backoff's own cap decides; with short ones this does.
     */
    private Duration retryWait(Entry e, Instant now) {
        Duration wait = backoff.delay(e.failures, random);
        WorkloadCertificate current = valid(e);
        if (current == null) {
            return wait;
        }
        Duration quarter = Duration.between(now, current.notAfter()).dividedBy(4);
        if (quarter.compareTo(wait) >= 0) {
            return wait;
        }
        return quarter.compareTo(backoff.initial()) < 0 ? backoff.initial() : quarter;
    }

    private WorkloadCertificate valid(Entry e) {
        if (e.current != null && e.current.isExpired(clock.instant())) {
            e.current = null; // expired: never handed out again
        }
        return e.current;
    }

    private static Duration nonNegative(Duration d) {
        return d.isNegative() ? Duration.ZERO : d;
    }

    @Override
    public synchronized void close() {
        closed = true;
        entries.values().forEach(e -> {
            if (e.scheduled != null) {
                e.scheduled.cancel();
            }
            e.next.cancel(false);
        });
        entries.clear();
    }
}
