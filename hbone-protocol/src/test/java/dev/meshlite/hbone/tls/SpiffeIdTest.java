package dev.meshlite.hbone.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class SpiffeIdTest {

    @Test
    void parsesAndFormatsBackToTheSameString() {
        String uri = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage";
        SpiffeId id = SpiffeId.parse(uri);
        assertEquals(new SpiffeId("cluster.local", "default", "bookinfo-productpage"), id);
        assertEquals(uri, id.uri());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "http://cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/a/sa",
            "spiffe://cluster.local/ns/a/sa/b/extra", "spiffe://cluster.local/sa/b/ns/a", "spiffe:///ns/a/sa/b",
            "spiffe://Cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/A/sa/b", "spiffe://cluster.local/ns/a/sa/",
            "spiffe://cluster.local/ns/a/sa/b?x=1", "spiffe://cluster.local:80/ns/a/sa/b",
            "spiffe://cluster.local/ns/a%20/sa/b", "spiffe://cluster.local/ns/-a/sa/b"})
    void rejectsMalformedIds(String uri) {
        assertThrows(IllegalArgumentException.class, () -> SpiffeId.parse(uri));
    }

    @Test
    void peerVerifiersCheckTrustDomainAndExpectedSet() throws Exception {
        SpiffeId a = SpiffeId.parse("spiffe://cluster.local/ns/a/sa/x");
        SpiffeId foreign = SpiffeId.parse("spiffe://other.local/ns/a/sa/x");
        PeerVerifier.sameTrustDomain("cluster.local").verify(a);
        assertThrows(SpiffeIdentityException.class, () -> PeerVerifier.sameTrustDomain("cluster.local").verify(foreign));
        PeerVerifier.oneOf(java.util.Set.of(a)).verify(a);
        assertThrows(SpiffeIdentityException.class, () -> PeerVerifier.oneOf(java.util.Set.of(a)).verify(foreign));
    }
}
