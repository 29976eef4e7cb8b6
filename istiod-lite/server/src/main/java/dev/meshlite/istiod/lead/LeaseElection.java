package dev.meshlite.istiod.lead;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Leader election over a {@code coordination.k8s.io/v1} Lease, with fabric8's elector, driving a
 * {@link Leadership}.
 *
 * <p>Mutual exclusion comes from the API server: every Lease write carries the resourceVersion
 * that was read, so of two replicas racing for a free Lease one gets 409 and stays a follower.
 *
 * <p>fabric8's elector runs one term: acquire, renew until a renewal fails, stop. This class runs
 * terms back to back, so a replica that lost the Lease competes for it again. The first attempt
 * of a term is immediate: a single replica on a free (absent, released or expired) Lease leads
 * without waiting a retry period.
 *
 * <p>{@link #close()} stops writes first, then releases the Lease (fabric8 rewrites it with a
 * one-second duration), so another replica takes over at its next retry instead of waiting for
 * the Lease to expire.
 */
public final class LeaseElection implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(LeaseElection.class);

    /**
     * How long a Lease holds, how long a leader keeps trying to renew before it stops writing,
     * and how often followers try to take it (plus up to 120 % jitter).
     */
    public record Timings(Duration leaseDuration, Duration renewDeadline, Duration retryPeriod) {
        /**
         * Kubernetes' own controllers' values (kube-controller-manager): a crashed leader is
         * replaced within about 15 s; a leader that cannot renew stops writing 5 s before anyone
         * may take over (that margin also absorbs clock skew between replicas, since expiry is
         * judged from the renew time the holder wrote); a released Lease is taken within 2-4.4 s.
         * Flag-free on purpose: these only trade failover time against API load, and the
         * invariant between them (lease > renew deadline > 1.2 x retry) is easy to break.
         */
        public static final Timings DEFAULT = new Timings(Duration.ofSeconds(15), Duration.ofSeconds(10),
                Duration.ofSeconds(2));

        public Timings {
            if (leaseDuration.compareTo(renewDeadline) <= 0) {
                throw new IllegalArgumentException("leaseDuration: " + leaseDuration + " (expected: > renewDeadline "
                        + renewDeadline + ")");
            }
            if (renewDeadline.toMillis() <= retryPeriod.toMillis() * 1.2) {
                throw new IllegalArgumentException("renewDeadline: " + renewDeadline
                        + " (expected: > 1.2 x retryPeriod " + retryPeriod + ")");
            }
        }
    }

    private final KubernetesClient client;
    private final String namespace;
    private final String name;
    private final Leadership leadership;
    private final Timings timings;
    private CompletableFuture<?> term;
    private boolean closed;
    private volatile String observedLeader; // for the log line when another replica takes over

    private LeaseElection(KubernetesClient client, String namespace, String name, Leadership leadership,
            Timings timings) {
        this.client = client;
        this.namespace = namespace;
        this.name = name;
        this.leadership = leadership;
        this.timings = timings;
    }

    /** Starts competing for {@code namespace/name} as {@code leadership.identity()}. */
    public static LeaseElection start(KubernetesClient client, String namespace, String name, Leadership leadership,
            Timings timings) {
        LeaseElection e = new LeaseElection(client, namespace, name, leadership, timings);
        log.info("leader election: {} competes for Lease {}/{}", leadership.identity(), namespace, name);
        e.nextTerm();
        return e;
    }

    private synchronized void nextTerm() {
        if (closed) {
            return;
        }
        var config = new LeaderElectionConfigBuilder()
                .withName(namespace + "/" + name)
                .withLock(new LeaseLock(namespace, name, leadership.identity()))
                .withLeaseDuration(timings.leaseDuration())
                .withRenewDeadline(timings.renewDeadline())
                .withRetryPeriod(timings.retryPeriod())
                .withReleaseOnCancel(true)
                .withLeaderCallbacks(new LeaderCallbacks(leadership::gain, leadership::lose, this::observed))
                .build();
        CompletableFuture<?> started = client.leaderElector().withConfig(config).build().start();
        term = started;
        started.whenComplete((v, t) -> {
            // The term ended: a renewal failed or the Lease was taken. Writes stopped already (the
            // elector's stop callback); compete again unless closing.
            leadership.lose();
            if (t != null && !started.isCancelled()) {
                log.warn("leader election term ended: {}", t.toString());
            }
            // After one retry period: a term that keeps failing at once (say, the Lease is
            // forbidden to us) must not spin.
            CompletableFuture.runAsync(this::nextTerm, CompletableFuture.delayedExecutor(
                    timings.retryPeriod().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS));
        });
    }

    private void observed(String holder) {
        if (!Objects.equals(holder, observedLeader)) {
            observedLeader = holder;
            if (holder != null && !holder.isEmpty() && !holder.equals(leadership.identity())) {
                log.info("Lease {}/{} is held by {}", namespace, name, holder);
            }
        }
    }

    /** Stops writing, then releases the Lease if held; idempotent. */
    @Override
    public void close() {
        CompletableFuture<?> current;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            current = term;
        }
        leadership.lose(); // before the release: nobody may write once the Lease is free
        if (current != null) {
            current.cancel(true); // fabric8 releases the Lease on this thread, before returning
        }
        leadership.lose(); // whatever the cancelled term did meanwhile, this replica ends a follower
        log.info("leader election: {} left Lease {}/{}", leadership.identity(), namespace, name);
    }
}
