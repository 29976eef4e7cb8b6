package dev.meshlite.istiod.lead;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.Await;
import dev.meshlite.istiod.ca.MockCluster;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Leader election over a Lease in fabric8's API server mock (CRUD mode), several electors per test. */
class LeaseElectionIT {

    static final String NS = "istio-system";
    static final String LEASE = "istiod-lite";
    /** Short terms so tests run in seconds; the same invariants as the defaults. */
    static final LeaseElection.Timings FAST = new LeaseElection.Timings(Duration.ofSeconds(3), Duration.ofSeconds(2),
            Duration.ofMillis(250));

    final MockCluster cluster = new MockCluster().namespace(NS);
    final List<AutoCloseable> open = new CopyOnWriteArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
        cluster.close();
    }

    record Elector(Leadership leadership, LeaseElection election) {}

    Elector elector(String identity, LeaseElection.Timings timings) {
        KubernetesClient client = cluster.newClient();
        open.add(client);
        client.leases().inNamespace(NS).withName(LEASE).get(); // connected before the clock starts
        Leadership leadership = Leadership.elected(identity);
        LeaseElection election = LeaseElection.start(client, NS, LEASE, leadership, timings);
        open.add(election);
        return new Elector(leadership, election);
    }

    Lease lease() {
        return cluster.client().leases().inNamespace(NS).withName(LEASE).get();
    }

    /**
     * What mutual exclusion rests on: the API server refuses a second create and a write based
     * on a stale resourceVersion, both for a full update and for the JSON merge patch fabric8's
     * LeaseLock sends. If the mock stopped enforcing this, two electors could both win.
     */
    @Test
    void theMockRefusesConflictingLeaseWrites() {
        var leases = cluster.client().leases().inNamespace(NS);
        Lease first = leases.resource(lease("probe", "a", 15, ZonedDateTime.now())).create();
        KubernetesClientException again = assertThrows(KubernetesClientException.class,
                () -> leases.resource(lease("probe", "b", 15, ZonedDateTime.now())).create());
        assertEquals(409, again.getCode());

        Lease byB = new LeaseBuilder(first).editSpec().withHolderIdentity("b").endSpec().build();
        leases.resource(byB).update(); // first's resourceVersion: current, accepted
        Lease staleC = new LeaseBuilder(first).editSpec().withHolderIdentity("c").endSpec().build();
        assertEquals(409, assertThrows(KubernetesClientException.class,
                () -> leases.resource(staleC).update()).getCode());
        assertEquals(409, assertThrows(KubernetesClientException.class,
                () -> leases.resource(staleC).patch(PatchContext.of(PatchType.JSON_MERGE))).getCode());
        assertEquals("b", leases.withName("probe").get().getSpec().getHolderIdentity());
    }

    @Test
    void aFreeLeaseIsTakenAtOnceWithTheDefaultTimings() {
        Elector a = elector("a", LeaseElection.Timings.DEFAULT);
        // Under the 2 s retry period: only the first attempt can have won.
        Await.until(Duration.ofMillis(1500), a.leadership()::isLeader, () -> "a leads: " + lease());
        assertEquals("a", lease().getSpec().getHolderIdentity());
    }

    @Test
    void anExpiredLeaseIsTakenAtOnce() {
        cluster.client().leases().inNamespace(NS)
                .resource(lease(LEASE, "gone", 15, ZonedDateTime.now().minusMinutes(1))).create();
        Elector a = elector("a", LeaseElection.Timings.DEFAULT);
        Await.until(Duration.ofMillis(1500), a.leadership()::isLeader, () -> "a leads: " + lease());
        assertEquals(1, lease().getSpec().getLeaseTransitions());
    }

    @Test
    void ofThreeElectorsExactlyOneLeadsUntilItLeavesThenAnotherTakesOver() throws Exception {
        List<Elector> electors = new ArrayList<>();
        AtomicInteger most = new AtomicInteger();
        AtomicBoolean watching = new AtomicBoolean(true);
        Thread watcher = Thread.ofVirtual().start(() -> {
            while (watching.get()) {
                most.accumulateAndGet(leaders(electors).size(), Math::max);
                try {
                    Thread.sleep(1); // a sampling period, not a wait for anything
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        try {
            var started = List.of("a", "b", "c").parallelStream().map(id -> elector(id, FAST)).toList();
            synchronized (electors) {
                electors.addAll(started);
            }
            Await.until(() -> leaders(electors).size() == 1, () -> "one leader: " + electors);
            Elector leader = leaders(electors).getFirst();
            assertEquals(leader.leadership().identity(), lease().getSpec().getHolderIdentity());

            // Several renewals later it still leads alone, and nobody else ever did.
            Set<ZonedDateTime> renewals = new HashSet<>();
            Await.until(() -> {
                renewals.add(lease().getSpec().getRenewTime());
                return renewals.size() >= 4;
            }, () -> "renewals seen: " + renewals);
            assertEquals(List.of(leader), leaders(electors));
            assertEquals(0, lease().getSpec().getLeaseTransitions());

            // A clean close releases the Lease: the next leader is there well before it would
            // have expired (3 s).
            long closed = System.nanoTime();
            leader.election().close();
            assertFalse(leader.leadership().isLeader());
            Await.until(Duration.ofMillis(2500), () -> leaders(electors).size() == 1,
                    () -> "a new leader after the release: " + electors + ", " + lease());
            long tookMs = (System.nanoTime() - closed) / 1_000_000;
            Elector next = leaders(electors).getFirst();
            assertNotEquals(leader, next);
            assertEquals(next.leadership().identity(), lease().getSpec().getHolderIdentity(), "took " + tookMs + " ms");
        } finally {
            watching.set(false);
            watcher.join();
        }
        assertEquals(1, most.get(), "never two leaders at once");
    }

    @Test
    void aLeaderWhoseLeaseIsTakenStopsAtOnceAndCompetesAgain() {
        Elector a = elector("a", FAST);
        Await.until(a.leadership()::isLeader, () -> "a leads");

        // Someone else takes the Lease for 2 s (written with the current resourceVersion).
        steal("intruder", 2);
        // The next renewal (every 250 ms) finds it taken: a stops writing.
        Await.until(Duration.ofSeconds(2), () -> !a.leadership().isLeader(), () -> "a stopped leading: " + lease());
        assertEquals("intruder", lease().getSpec().getHolderIdentity());
        // Its next term takes the Lease back once the intruder's has expired.
        Await.until(Duration.ofSeconds(10), a.leadership()::isLeader, () -> "a leads again: " + lease());
        assertEquals("a", lease().getSpec().getHolderIdentity());
    }

    /** Overwrites the Lease as {@code holder}, retrying when the elector renewed in between. */
    void steal(String holder, int seconds) {
        Await.until(() -> {
            Lease current = lease();
            try {
                cluster.client().leases().inNamespace(NS).resource(new LeaseBuilder(current).editSpec()
                        .withHolderIdentity(holder).withLeaseDurationSeconds(seconds)
                        .withRenewTime(ZonedDateTime.now()).withAcquireTime(ZonedDateTime.now()).endSpec().build())
                        .update();
                return true;
            } catch (KubernetesClientException e) {
                assertEquals(409, e.getCode(), e.toString());
                return false;
            }
        }, () -> "Lease taken by " + holder);
    }

    static List<Elector> leaders(List<Elector> electors) {
        synchronized (electors) {
            return electors.stream().filter(e -> e.leadership().isLeader()).toList();
        }
    }

    static Lease lease(String name, String holder, int seconds, ZonedDateTime renewed) {
        return new LeaseBuilder().withNewMetadata().withName(name).withNamespace(NS).endMetadata()
                .withNewSpec().withHolderIdentity(holder).withLeaseDurationSeconds(seconds)
                .withAcquireTime(renewed).withRenewTime(renewed).withLeaseTransitions(0).endSpec().build();
    }

    @Test
    void timingsKeepTheirInvariant() {
        assertThrows(IllegalArgumentException.class, () -> new LeaseElection.Timings(Duration.ofSeconds(10),
                Duration.ofSeconds(10), Duration.ofSeconds(2)));
        assertThrows(IllegalArgumentException.class, () -> new LeaseElection.Timings(Duration.ofSeconds(15),
                Duration.ofSeconds(2), Duration.ofSeconds(2)));
        assertTrue(LeaseElection.Timings.DEFAULT.leaseDuration().compareTo(Duration.ofSeconds(15)) == 0);
    }
}
