package dev.meshlite.ztunnel.rbac;

import static dev.meshlite.ztunnel.Fixtures.id;
import static dev.meshlite.ztunnel.Fixtures.ip;
import static dev.meshlite.ztunnel.Fixtures.pod;
import static dev.meshlite.ztunnel.Fixtures.policy;
import static dev.meshlite.ztunnel.Fixtures.withPolicies;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.Authorization.Action;
import dev.meshlite.ztunnel.state.Authorization.Match;
import dev.meshlite.ztunnel.state.Authorization.Scope;
import dev.meshlite.ztunnel.state.Cidr;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Workload;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AuthorizerTest {

    static final Workload SERVER = withPolicies(pod("server", "shop", "10.244.2.5", "server"), List.of("shop/only-frontend"));
    static final SpiffeId FRONTEND = id("web", "frontend");
    static final SpiffeId OTHER = id("batch", "cron");

    static Match m() {
        return Match.empty();
    }

    static Match namespaces(String... ns) {
        Match e = m();
        return new Match(List.of(ns), e.notNamespaces(), e.principals(), e.notPrincipals(), e.sourceIps(), e.notSourceIps(),
                e.destinationIps(), e.notDestinationIps(), e.destinationPorts(), e.notDestinationPorts(),
                e.serviceAccounts(), e.notServiceAccounts());
    }

    static Match notNamespaces(String... ns) {
        Match e = m();
        return new Match(e.namespaces(), List.of(ns), e.principals(), e.notPrincipals(), e.sourceIps(), e.notSourceIps(),
                e.destinationIps(), e.notDestinationIps(), e.destinationPorts(), e.notDestinationPorts(),
                e.serviceAccounts(), e.notServiceAccounts());
    }

    static Match principalsAndPorts(List<String> principals, List<Integer> ports) {
        Match e = m();
        return new Match(e.namespaces(), e.notNamespaces(), principals, e.notPrincipals(), e.sourceIps(), e.notSourceIps(),
                e.destinationIps(), e.notDestinationIps(), ports, e.notDestinationPorts(),
                e.serviceAccounts(), e.notServiceAccounts());
    }

    static Match notPrincipals(String... p) {
        Match e = m();
        return new Match(e.namespaces(), e.notNamespaces(), e.principals(), List.of(p), e.sourceIps(), e.notSourceIps(),
                e.destinationIps(), e.notDestinationIps(), e.destinationPorts(), e.notDestinationPorts(),
                e.serviceAccounts(), e.notServiceAccounts());
    }

    static Match sourceIps(Cidr... c) {
        Match e = m();
        return new Match(e.namespaces(), e.notNamespaces(), e.principals(), e.notPrincipals(), List.of(c), e.notSourceIps(),
                e.destinationIps(), e.notDestinationIps(), e.destinationPorts(), e.notDestinationPorts(),
                e.serviceAccounts(), e.notServiceAccounts());
    }

    static Match notPorts(Integer... ports) {
        Match e = m();
        return new Match(e.namespaces(), e.notNamespaces(), e.principals(), e.notPrincipals(), e.sourceIps(), e.notSourceIps(),
                e.destinationIps(), e.notDestinationIps(), e.destinationPorts(), List.of(ports),
                e.serviceAccounts(), e.notServiceAccounts());
    }

    static Match serviceAccounts(String... sa) {
        Match e = m();
        return new Match(e.namespaces(), e.notNamespaces(), e.principals(), e.notPrincipals(), e.sourceIps(), e.notSourceIps(),
                e.destinationIps(), e.notDestinationIps(), e.destinationPorts(), e.notDestinationPorts(),
                List.of(sa), e.notServiceAccounts());
    }

    static Connection from(SpiffeId who, String srcIp, int port) {
        return new Connection(who, ip(srcIp), ip("10.244.2.5"), port);
    }

    static Stream<Arguments> table() {
        Authorization denyBatchNs = policy("deny-batch", "shop", Scope.NAMESPACE, Action.DENY, namespaces("batch"));
        Authorization allowFrontend8080 = policy("only-frontend", "shop", Scope.WORKLOAD_SELECTOR, Action.ALLOW,
                principalsAndPorts(List.of("cluster.local/ns/web/sa/frontend"), List.of(8080)));
        Authorization requireMtls = policy("require-mtls", "istio-system", Scope.GLOBAL, Action.DENY, notPrincipals("*"));
        Authorization denyAllButWeb = policy("deny-not-web", "shop", Scope.NAMESPACE, Action.DENY, notNamespaces("web"));
        Authorization allowPodCidr = policy("allow-cidr", "shop", Scope.NAMESPACE, Action.ALLOW,
                sourceIps(new Cidr(ip("10.244.1.0"), 24)));
        Authorization denyNot8080 = policy("deny-not-8080", "shop", Scope.NAMESPACE, Action.DENY, notPorts(8080));
        Authorization allowNothing = new Authorization("allow-nothing", "shop", Scope.NAMESPACE, Action.ALLOW, List.of());
        Authorization allowAll = new Authorization("allow-all", "shop", Scope.NAMESPACE, Action.ALLOW,
                List.of(new Authorization.Rule(List.of())));
        Authorization otherNs = policy("deny-all-elsewhere", "other", Scope.NAMESPACE, Action.DENY, m());
        Authorization notSelecting = policy("not-selecting", "shop", Scope.WORKLOAD_SELECTOR, Action.DENY, m());
        Authorization saPolicy = policy("allow-sa", "shop", Scope.NAMESPACE, Action.ALLOW, serviceAccounts("web/frontend"));
        return Stream.of(
                Arguments.of("no policy allows", List.of(), from(OTHER, "10.244.1.9", 8080), true),
                Arguments.of("DENY by namespace refuses", List.of(denyBatchNs), from(OTHER, "10.244.1.9", 8080), false),
                Arguments.of("DENY by namespace lets others in", List.of(denyBatchNs), from(FRONTEND, "10.244.1.9", 8080), true),
                Arguments.of("ALLOW principal+port: that caller", List.of(allowFrontend8080), from(FRONTEND, "10.244.1.9", 8080), true),
                Arguments.of("ALLOW principal+port: other port", List.of(allowFrontend8080), from(FRONTEND, "10.244.1.9", 9090), false),
                Arguments.of("ALLOW principal+port: other caller", List.of(allowFrontend8080), from(OTHER, "10.244.1.9", 8080), false),
                Arguments.of("ALLOW principal: plaintext never matches", List.of(allowFrontend8080), from(null, "10.244.1.9", 8080), false),
                Arguments.of("DENY notPrincipals * refuses plaintext", List.of(requireMtls), from(null, "10.244.1.9", 8080), false),
                Arguments.of("DENY notPrincipals * lets mTLS in", List.of(requireMtls), from(OTHER, "10.244.1.9", 8080), true),
                Arguments.of("DENY wins over ALLOW", List.of(allowFrontend8080, denyAllButWeb), from(OTHER, "10.244.1.9", 8080), false),
                Arguments.of("negated namespace lets web in", List.of(denyAllButWeb), from(FRONTEND, "10.244.1.9", 8080), true),
                Arguments.of("ALLOW by CIDR inside", List.of(allowPodCidr), from(OTHER, "10.244.1.200", 1), true),
                Arguments.of("ALLOW by CIDR outside", List.of(allowPodCidr), from(OTHER, "10.244.3.1", 1), false),
                Arguments.of("DENY notPorts: 8080 passes", List.of(denyNot8080), from(OTHER, "10.244.1.9", 8080), true),
                Arguments.of("DENY notPorts: 22 refused", List.of(denyNot8080), from(OTHER, "10.244.1.9", 22), false),
                Arguments.of("ALLOW with no rules allows nothing", List.of(allowNothing), from(FRONTEND, "10.244.1.9", 8080), false),
                Arguments.of("ALLOW with an empty rule allows all", List.of(allowAll), from(null, "10.244.1.9", 8080), true),
                Arguments.of("ALLOW by service account", List.of(saPolicy), from(FRONTEND, "10.244.1.9", 1), true),
                Arguments.of("ALLOW by service account, other", List.of(saPolicy), from(OTHER, "10.244.1.9", 1), false),
                // scoping: through ProxyState.policiesFor
                Arguments.of("another namespace's policy does not apply", List.of(otherNs), from(OTHER, "10.244.1.9", 1), true),
                Arguments.of("a selector policy that does not select the pod does not apply", List.of(notSelecting),
                        from(OTHER, "10.244.1.9", 1), true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void decides(String name, List<Authorization> policies, Connection c, boolean allowed) {
        ProxyState state = ProxyState.of(List.of(SERVER), List.of(), policies);
        assertEquals(allowed, Authorizer.authorize(state, SERVER, c).allowed(), name);
    }

    @Test
    void aDenialNamesThePolicy() {
        Authorization deny = policy("deny-batch", "shop", Scope.NAMESPACE, Action.DENY, namespaces("batch"));
        var d = Authorizer.authorize(ProxyState.of(List.of(SERVER), List.of(), List.of(deny)), SERVER, from(OTHER, "10.0.0.1", 1));
        assertTrue(d instanceof Authorizer.Decision.Denied denied && denied.policy().equals("shop/deny-batch"), d.toString());
    }

    @Test
    void globs() {
        assertTrue(Authorizer.glob("*", "x"));
        assertTrue(Authorizer.glob("*/sa/frontend", "cluster.local/ns/web/sa/frontend"));
        assertTrue(Authorizer.glob("cluster.local/ns/web/*", "cluster.local/ns/web/sa/frontend"));
        assertFalse(Authorizer.glob("cluster.local/ns/web/*", "cluster.local/ns/webby/sa/x"));
        assertFalse(Authorizer.glob("cluster.local/ns/web/sa/a", "cluster.local/ns/web/sa/ab"));
    }

    @Test
    void cidrBoundaries() {
        Cidr c = new Cidr(ip("10.1.2.128"), 25);
        assertTrue(c.contains(ip("10.1.2.255")));
        assertFalse(c.contains(ip("10.1.2.127")));
        assertTrue(new Cidr(ip("0.0.0.0"), 0).contains(ip("192.0.2.1")));
        assertFalse(new Cidr(ip("10.0.0.0"), 8).contains(ip("::1")));
    }
}
