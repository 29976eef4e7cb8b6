package dev.meshlite.e2e.kubeproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NatRulesTest {

    private static final NatRules.ServicePort TWO = new NatRules.ServicePort("shop", "backend", "http",
            "10.96.0.10", 80, "TCP", List.of(new NatRules.Endpoint("10.244.2.2", 8080), new NatRules.Endpoint("10.244.1.2", 8080)));

    @Test
    void twoEndpointsSplitHalfAndHalfAndEachIsDnated() {
        String rules = NatRules.build(List.of(TWO), Set.of(), null);
        String svc = "MESH-SVC-" + NatRules.hash("shop/backend:http");
        assertTrue(rules.startsWith("*nat\n:MESH-SERVICES - [0:0]\n:MESH-POSTROUTING - [0:0]\n"), rules);
        assertTrue(rules.contains("-A MESH-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment \"shop/backend:http\" -j " + svc + "\n"), rules);
        // endpoints in address order: the first takes 1/2 of what reaches it, the last all the rest
        String first = "MESH-SEP-" + NatRules.hash("shop/backend:http@10.244.1.2:8080");
        String second = "MESH-SEP-" + NatRules.hash("shop/backend:http@10.244.2.2:8080");
        assertTrue(rules.contains("-A " + svc + " -m statistic --mode random --probability 0.5000000000 -j " + first + "\n"), rules);
        assertTrue(rules.contains("-A " + svc + " -j " + second + "\n"), rules);
        assertTrue(rules.contains("-A " + first + " -p tcp -m tcp -j DNAT --to-destination 10.244.1.2:8080\n"), rules);
        // a pod reaching itself through the VIP is masqueraded, or its reply would skip the un-DNAT
        assertTrue(rules.contains("-A " + first + " -s 10.244.1.2/32 -j MARK --set-xmark 0x4000/0x4000\n"), rules);
        assertTrue(rules.contains("-A MESH-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE\n"), rules);
        assertTrue(rules.endsWith("COMMIT\n"), rules);
    }

    @Test
    void aServiceWithoutReadyEndpointsOrWithoutClusterIpGetsNoRule() {
        var none = new NatRules.ServicePort("shop", "empty", "", "10.96.0.11", 80, "TCP", List.of());
        var headless = new NatRules.ServicePort("shop", "headless", "", "None", 80, "TCP",
                List.of(new NatRules.Endpoint("10.244.1.2", 80)));
        String rules = NatRules.build(List.of(none, headless), Set.of(), null);
        assertFalse(rules.contains("MESH-SVC-"), rules);
    }

    @Test
    void chainsOfVanishedServicesAreFlushedAndDeletedInTheSameTransaction() {
        String stale = "MESH-SVC-" + NatRules.hash("old/gone:80");
        String kept = "MESH-SVC-" + NatRules.hash("shop/backend:http");
        String rules = NatRules.build(List.of(TWO), Set.of(stale, kept, "MESH-SERVICES"), null);
        assertTrue(rules.contains(":" + stale + " - [0:0]\n"), rules);
        assertTrue(rules.contains("-X " + stale + "\n"), rules);
        assertFalse(rules.contains("-X " + kept), rules);
        assertFalse(rules.contains("-X MESH-SERVICES"), rules);
    }

    @Test
    void sameBridgeMasqueradeOnlyWhenAskedFor() {
        assertTrue(NatRules.build(List.of(TWO), Set.of(), "10.244.1.0/24")
                .contains("-A MESH-POSTROUTING -s 10.244.1.0/24 -d 10.244.1.0/24 -m conntrack --ctstate DNAT -j MASQUERADE\n"));
        assertFalse(NatRules.build(List.of(TWO), Set.of(), null).contains("--ctstate DNAT"));
    }

    @Test
    void outputIsStableWhateverTheInputOrder() {
        var other = new NatRules.ServicePort("a", "z", "", "10.96.0.12", 9000, "TCP", List.of(new NatRules.Endpoint("10.244.1.7", 9000)));
        assertEquals(NatRules.build(List.of(TWO, other), Set.of(), null), NatRules.build(List.of(other, TWO), Set.of(), null));
    }
}
