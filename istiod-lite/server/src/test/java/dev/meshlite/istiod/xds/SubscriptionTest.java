package dev.meshlite.istiod.xds;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** What a stream sends: full comparisons when needed, only the changed names otherwise. */
class SubscriptionTest {

    static Map<String, XdsSnapshot.Versioned> state(String... nameVersion) {
        Map<String, XdsSnapshot.Versioned> m = new TreeMap<>();
        for (String nv : nameVersion) {
            String[] p = nv.split("=");
            m.put(p[0], new XdsSnapshot.Versioned(p[1], Any.getDefaultInstance()));
        }
        return m;
    }

    static Subscription wildcard(Map<String, String> initial) {
        Subscription s = new Subscription(XdsSnapshot.WORKLOAD, initial);
        s.subscribe(List.of("*"), List.of());
        return s;
    }

    @Test
    void firstDiffIsFullAndResumesFromInitialVersions() {
        Subscription s = wildcard(Map.of("a", "1", "gone", "1"));
        var d = s.diff(state("a=1", "b=1"), Set.of());
        assertEquals(Set.of("b"), d.upserts().keySet(), "a is held already; the hint is ignored the first time");
        assertEquals(List.of("gone"), d.removed());
    }

    @Test
    void laterDiffsLookOnlyAtChangedNames() {
        Subscription s = wildcard(Map.of());
        s.sent("n1", s.diff(state("a=1", "b=1", "c=1"), null));
        assertTrue(s.ack("n1"));
        var d = s.diff(state("a=2", "b=1"), Set.of("a", "c"));
        assertEquals(Set.of("a"), d.upserts().keySet());
        assertEquals(List.of("c"), d.removed());
        s.sent("n2", d);
        assertTrue(s.diff(state("a=2", "b=1"), Set.of()).isEmpty(), "nothing changed, nothing sent");
        assertEquals(Map.of("a", "2", "b", "1"), s.expected(), "in flight counts as held");
    }

    @Test
    void aNackFallsBackToAFullComparisonAgainstWhatWasAcked() {
        Subscription s = wildcard(Map.of());
        s.sent("n1", s.diff(state("a=1"), null));
        assertTrue(s.ack("n1"));
        s.sent("n2", s.diff(state("a=2", "b=1"), Set.of("a", "b")));
        assertTrue(s.nack("n2"));
        assertEquals(Map.of("a", "1"), s.expected());
        var d = s.diff(state("a=2", "b=1", "c=1"), Set.of("c"));
        assertEquals(Set.of("a", "b", "c"), d.upserts().keySet(), "the rejected changes are sent again with the new one");
    }

    @Test
    void aDeferredPushIsMadeUpByTheNextDiffOverTheNamesItMissed() {
        Subscription s = wildcard(Map.of());
        s.sent("n1", s.diff(state("a=1", "b=1", "c=1"), null));
        s.defer(Set.of("a")); // snapshot 2 changed a while the stream was not ready
        // Snapshot 3 changed b; c differs too but was named by no snapshot: the narrow path skips it.
        var d = s.diff(state("a=2", "b=2", "c=9"), Set.of("b"));
        assertEquals(Set.of("a", "b"), d.upserts().keySet());
        s.sent("n2", d);
        assertTrue(s.diff(state("a=2", "b=2", "c=9"), Set.of()).isEmpty(), "the deferred names were used once");
    }

    @Test
    void aDeferredPushOfUnknownChangesComparesEverythingNextTime() {
        Subscription s = wildcard(Map.of());
        s.sent("n1", s.diff(state("a=1", "b=1"), null));
        s.defer(null);
        var d = s.diff(state("a=2", "b=2"), Set.of("b"));
        assertEquals(Set.of("a", "b"), d.upserts().keySet());
        s.sent("n2", d);
        s.defer(null);
        assertEquals(Set.of(), s.diff(state("a=2", "b=2"), Set.of()).upserts().keySet(), "in flight counts as held");
    }

    @Test
    void aWildcardSubscriptionMirrorsTheSnapshotItWasLastPushedUntilItCannotBeSure() {
        Object s1 = new Object();
        Object s2 = new Object();
        Subscription s = wildcard(Map.of());
        assertTrue(!s.mirrors(s1), "nothing pushed yet");
        s.sent("n1", s.diff(state("a=1"), null));
        s.pushed(s1);
        assertTrue(s.mirrors(s1));
        assertTrue(!s.mirrors(s2), "mirrors that snapshot only");

        s.defer(Set.of("a"));
        assertTrue(!s.mirrors(s1), "a deferred push: what it holds is not known to be s1");
        s.sent("n2", s.diff(state("a=2"), Set.of()));
        s.pushed(s2);
        assertTrue(s.mirrors(s2), "the deferred names compared: up to date again");

        assertTrue(s.nack("n2"));
        assertTrue(!s.mirrors(s2), "after a NACK it holds the acked state");

        Subscription named = new Subscription(XdsSnapshot.WORKLOAD, Map.of());
        named.subscribe(List.of("a"), List.of());
        named.sent("n1", named.diff(state("a=1", "b=1"), null));
        named.pushed(s1);
        assertTrue(!named.mirrors(s1), "a subscription to some names never holds a whole snapshot");

        s.sent("n3", s.diff(state("a=2"), null));
        s.pushed(s2);
        s.subscribe(List.of(), List.of("*"));
        assertTrue(!s.mirrors(s2), "a subscription change");
    }
}
