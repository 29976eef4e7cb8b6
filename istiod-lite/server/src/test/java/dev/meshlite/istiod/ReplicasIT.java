package dev.meshlite.istiod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.istiod.ca.ApiWrites;
import dev.meshlite.istiod.ca.CaOptions;
import dev.meshlite.istiod.ca.CaSecretStore;
import dev.meshlite.istiod.ca.MockCluster;
import dev.meshlite.istiod.ca.PemText;
import dev.meshlite.istiod.ca.RootPublisher;
import dev.meshlite.istiod.ca.auth.NodeCredentials;
import dev.meshlite.istiod.watch.ClusterWatcher;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replicas of {@code istiod-lite serve} on one API server (fabric8's mock, CRUD, which refuses
 * stale Lease writes: see LeaseElectionIT): one Lease elects the writer; all of them serve. Which
 * replica sent a request is told by its kubeconfig's token ({@link ApiWrites}).
 */
class ReplicasIT {

    static final String NS = "istio-system";
    static final String LEASE = "istiod-lite";
    static final String CART = "spiffe://cluster.local/ns/shop/sa/cart";
    static final Duration START = Duration.ofSeconds(60);
    /** Under the 15 s Lease duration: a takeover this fast can only follow a release. */
    static final Duration HANDOVER = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    final ApiWrites api = new ApiWrites();
    final MockCluster cluster = new MockCluster(api).namespace(NS).namespace("shop")
            .pod("shop", "cart-1", "cart", "node-a");
    final List<Replica> replicas = new ArrayList<>();
    String token;

    @BeforeEach
    void credential() {
        token = new NodeCredentials(cluster.client(), NS, CaOptions.DEFAULT_NODE_AGENT).issue("node-a");
    }

    @AfterEach
    void stop() throws Exception {
        for (Replica r : replicas.reversed()) {
            r.close();
            awaitWatchesClosed(r);
        }
        cluster.close();
    }

    /** The mock stalls if an event meets a closing watch (see {@link ApiWrites}): no write until they are gone. */
    void awaitWatchesClosed(Replica r) {
        Await.until(() -> api.openWatches(r.identity) == 0,
                () -> r + " still watches: " + api.openWatches(r.identity));
    }

    Replica start(String identity, String... more) throws Exception {
        Replica r = Replica.start(cluster.kubeconfig(tmp.resolve("kubeconfig-" + identity), identity), identity, more);
        replicas.add(r);
        return r;
    }

    @Test
    void twoReplicasElectOneWriterAndBothServe() throws Exception {
        // Started together on an empty cluster: one creates the root, the other waits for it.
        Replica a = start("a");
        Replica b = start("b");
        a.awaitReady(START);
        b.awaitReady(START);
        Await.until(() -> a.leads() != b.leads(), () -> "exactly one leader: a " + a.leads() + ", b " + b.leads());
        Replica leader = a.leads() ? a : b;
        Replica follower = leader == a ? b : a;
        assertEquals(leader.identity, lease().getSpec().getHolderIdentity());
        assertEquals(1, api.by(leader.identity, named(CaSecretStore.SELF_SIGNED_SECRET)).size(),
                "the leader created the root: " + api.all());

        cluster.namespace("late");
        policy("shop", "bad-1");
        Await.until(() -> rootIn("late") != null, () -> "root published in a new namespace");
        Await.until(() -> eventOn("shop", "bad-1"), () -> "a Warning event on bad-1");
        // The follower watched the same change (its model holds the problem) and wrote nothing.
        Await.until(() -> follower.reports("AuthorizationPolicy", 1), () -> "follower saw bad-1");
        assertEquals(List.of(), api.by(follower.identity, w -> !w.lease()), "the follower's writes");
        assertFalse(api.by(leader.identity, path("/namespaces/late/configmaps")).isEmpty(), api.all().toString());

        TrustBundle roots = roots();
        for (Replica r : List.of(a, b)) {
            assertEquals(CART, r.sign(roots, token, CART).identity().uri(), r + " signs");
        }
    }

    @Test
    void stoppingTheLeaderHandsOverAndTheNewLeaderCatchesUp() throws Exception {
        Replica a = start("a").awaitReady(START);
        Replica b = start("b").awaitReady(START);
        assertTrue(a.leads(), "the first replica on a free Lease leads");
        assertFalse(b.leads());
        policy("shop", "bad-1");
        Await.until(() -> eventOn("shop", "bad-1"), () -> "a's Warning event on bad-1");
        Await.until(() -> b.reports("AuthorizationPolicy", 1), () -> "b saw bad-1");
        TrustBundle roots = roots();
        assertEquals(CART, b.sign(roots, token, CART).identity().uri());

        assertTrue(api.openWatches("a") > 0, "a's watches are counted");
        assertEquals(0, a.stop()); // clean: the Lease is released
        awaitWatchesClosed(a);
        // Changes while there may be no writer at all (until b takes over).
        cluster.namespace("gap");
        policy("shop", "bad-2");
        assertEquals(CART, b.sign(roots, token, CART).identity().uri(), "b serves through the handover");

        Await.until(HANDOVER, b::leads, () -> "b leads within " + HANDOVER + ": " + lease());
        assertEquals("b", lease().getSpec().getHolderIdentity());
        Await.until(() -> rootIn("gap") != null, () -> "b published the root in gap");
        Await.until(() -> eventOn("shop", "bad-2"), () -> "b's Warning event on bad-2");
        assertEquals(List.of(), api.by("b", named("bad-1.").or(path("/events/bad-1."))),
                "b leaves a's event on bad-1 alone");
        assertFalse(api.by("b", named("bad-2.").or(path("/events/bad-2."))).isEmpty(), api.all().toString());
        // The namespaces a had published already cost b no write.
        assertEquals(List.of(), api.by("b", path("/namespaces/shop/configmaps")));
        assertEquals(CART, b.sign(roots, token, CART).identity().uri());
    }

    @Test
    void aReplicaThatLosesTheLeaseStopsWritingAtOnceButKeepsServing() throws Exception {
        Replica a = start("a").awaitReady(START);
        assertTrue(a.leads());
        TrustBundle roots = roots();

        steal("intruder", 6);
        Await.until(Duration.ofSeconds(5), () -> !a.leads(), () -> "a stops leading at its next renewal");
        int mark = api.mark();
        cluster.namespace("quiet");
        policy("shop", "bad-3");
        Await.until(() -> a.reports("AuthorizationPolicy", 1), () -> "a saw bad-3");
        assertEquals(CART, a.sign(roots, token, CART).identity().uri(), "a serves without the Lease");

        // The intruder never renews: a takes the Lease back and catches up.
        Await.until(Duration.ofSeconds(20), a::leads, () -> "a leads again: " + lease());
        Await.until(() -> rootIn("quiet") != null, () -> "root published in quiet");
        Await.until(() -> eventOn("shop", "bad-3"), () -> "Warning event on bad-3");
        assertNothingWrittenBeforeLeading("a", mark);
    }

    @Test
    void whileAnotherReplicaHoldsTheLeaseANewOneWaitsForTheRootAndWritesNothing() throws Exception {
        // A replica that left without releasing: its Lease runs 4 more seconds.
        ZonedDateTime now = ZonedDateTime.now();
        cluster.client().leases().inNamespace(NS).resource(new LeaseBuilder()
                .withNewMetadata().withName(LEASE).withNamespace(NS).endMetadata()
                .withNewSpec().withHolderIdentity("departed").withLeaseDurationSeconds(4)
                .withAcquireTime(now).withRenewTime(now).withLeaseTransitions(0).endSpec().build()).create();
        int mark = api.mark();
        Replica b = start("b");
        cluster.namespace("orphan");
        policy("shop", "bad-4");
        assertEquals("departed", lease().getSpec().getHolderIdentity(), "still nobody may write");
        assertNull(cluster.client().secrets().inNamespace(NS).withName(CaSecretStore.SELF_SIGNED_SECRET).get());
        assertFalse(b.isReady(), "no root, not the leader: b waits");

        b.awaitReady(START);
        assertTrue(b.leads());
        Await.until(() -> rootIn("orphan") != null, () -> "root published in orphan");
        Await.until(() -> eventOn("shop", "bad-4"), () -> "Warning event on bad-4");
        assertNothingWrittenBeforeLeading("b", mark);
    }

    @Test
    void withoutLeaderElectionTheOnlyReplicaWritesAndNoLeaseExists() throws Exception {
        Replica solo = start("solo", "--leader-elect=false").awaitReady(START);
        assertTrue(solo.leads());
        cluster.namespace("late");
        Await.until(() -> rootIn("late") != null, () -> "root published");
        assertEquals(List.of(), cluster.client().leases().inAnyNamespace().list().getItems());
        assertEquals(List.of(), api.by("solo", w -> w.lease()));
    }

    /** {@code who}'s first non-Lease write after {@code mark} follows its first Lease write that succeeded. */
    void assertNothingWrittenBeforeLeading(String who, int mark) {
        List<ApiWrites.Write> after = api.by(who, w -> w.seq() >= mark);
        int acquired = after.stream().filter(w -> w.lease() && w.succeeded()).mapToInt(ApiWrites.Write::seq)
                .min().orElseThrow(() -> new AssertionError(who + " never took the Lease: " + after));
        List<ApiWrites.Write> early = after.stream().filter(w -> !w.lease() && w.seq() < acquired).toList();
        assertEquals(List.of(), early, who + " wrote before leading; all: " + after);
        assertTrue(after.stream().anyMatch(w -> !w.lease()), who + " caught up: " + after);
    }

    /** Overwrites the Lease as {@code holder} (current resourceVersion; retried if renewed meanwhile). */
    void steal(String holder, int seconds) {
        Await.until(() -> {
            try {
                cluster.client().leases().inNamespace(NS).resource(new LeaseBuilder(lease()).editSpec()
                        .withHolderIdentity(holder).withLeaseDurationSeconds(seconds)
                        .withAcquireTime(ZonedDateTime.now()).withRenewTime(ZonedDateTime.now()).endSpec().build())
                        .update();
                return true;
            } catch (KubernetesClientException e) {
                assertEquals(409, e.getCode(), e.toString());
                return false;
            }
        }, () -> "Lease taken by " + holder);
    }

    Lease lease() {
        return cluster.client().leases().inNamespace(NS).withName(LEASE).get();
    }

    static Predicate<ApiWrites.Write> path(String part) {
        return w -> w.path().contains(part);
    }

    static Predicate<ApiWrites.Write> named(String prefix) {
        return w -> w.name().startsWith(prefix);
    }

    void policy(String ns, String name) {
        GenericKubernetesResource r = Serialization.unmarshal("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {namespace: %s, name: %s}
                spec:
                  action: DENY
                  rules: [{from: [{source: {ipBlocks: ["10.0.0.0/99"]}}]}]
                """.formatted(ns, name), GenericKubernetesResource.class);
        cluster.client().genericKubernetesResources(ClusterWatcher.AUTHORIZATION_POLICY).inNamespace(ns)
                .resource(r).create();
    }

    boolean eventOn(String ns, String name) {
        return cluster.client().v1().events().inNamespace(ns).list().getItems().stream()
                .anyMatch(e -> e.getInvolvedObject().getName().equals(name) && e.getType().equals("Warning"));
    }

    String rootIn(String ns) {
        ConfigMap cm = cluster.client().configMaps().inNamespace(ns).withName(RootPublisher.CONFIG_MAP).get();
        return cm == null || cm.getData() == null ? null : cm.getData().get(RootPublisher.KEY);
    }

    TrustBundle roots() {
        Await.until(() -> rootIn(NS) != null, () -> "root published in " + NS);
        String pem = rootIn(NS);
        assertNotNull(pem);
        return new TrustBundle(PemText.certificates(pem, "published root"));
    }
}
