package dev.meshlite.istiod.ca.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.tls.SpiffeId;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NodeAuthorizerTest {

    static final ServiceAccountRef ZTUNNEL = new ServiceAccountRef("istio-system", "ztunnel");
    // node-a runs shop/cart; node-b runs shop/checkout.
    static final PodDirectory PODS = (node, sa) ->
            (node.equals("node-a") && sa.equals(new ServiceAccountRef("shop", "cart")))
                    || (node.equals("node-b") && sa.equals(new ServiceAccountRef("shop", "checkout")));

    final NodeAuthorizer authorizer = new NodeAuthorizer("cluster.local", Set.of(ZTUNNEL), PODS);

    record Row(Caller caller, String identity, boolean allowed, String reasonContains) {}

    @Test
    void decisions() {
        Caller ztunnelA = new Caller(ZTUNNEL, Optional.of("node-a"));
        Caller ztunnelNoNode = new Caller(ZTUNNEL, Optional.empty());
        Caller cart = new Caller(new ServiceAccountRef("shop", "cart"), Optional.of("node-a"));
        Row[] table = {
            new Row(ztunnelA, "spiffe://cluster.local/ns/shop/sa/cart", true, "runs on node node-a"),
            new Row(ztunnelA, "spiffe://cluster.local/ns/shop/sa/checkout", false,
                    "no pod with service account shop/checkout runs on node node-a"),
            new Row(ztunnelA, "spiffe://other.domain/ns/shop/sa/cart", false, "outside trust domain cluster.local"),
            new Row(ztunnelA, "spiffe://cluster.local/ns/istio-system/sa/ztunnel", true, "own identity"),
            new Row(ztunnelNoNode, "spiffe://cluster.local/ns/shop/sa/cart", false, "bound to no node"),
            new Row(cart, "spiffe://cluster.local/ns/shop/sa/cart", true, "own identity"),
            new Row(cart, "spiffe://cluster.local/ns/shop/sa/checkout", false, "may only obtain its own identity"),
            new Row(cart, "spiffe://cluster.local/ns/istio-system/sa/ztunnel", false, "may only obtain its own identity"),
        };
        for (Row row : table) {
            NodeAuthorizer.Decision d = authorizer.authorize(row.caller(), SpiffeId.parse(row.identity()));
            assertEquals(row.allowed(), d.allowed(), row + " -> " + d);
            assertTrue(d.reason().contains(row.reasonContains()), row + " -> " + d.reason());
        }
    }

    @Test
    void ownIdentityIsInOurTrustDomain() {
        Caller cart = new Caller(new ServiceAccountRef("shop", "cart"), Optional.empty());
        assertEquals(SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/cart"), authorizer.ownIdentity(cart));
    }
}
