package dev.meshlite.istiod.model;

import static dev.meshlite.istiod.model.Objects.authz;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.TextFormat;
import dev.meshlite.istiod.api.workload.v1.Authorization;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AuthorizationTranslatorTest {

    static Authorization text(String proto) {
        try {
            return TextFormat.parse(proto, Authorization.class);
        } catch (TextFormat.ParseException e) {
            throw new IllegalArgumentException(e);
        }
    }

    static Stream<Arguments> valid() {
        return Stream.of(
                Arguments.of("root namespace, no selector: global", "istio-system", "spec: {action: DENY, rules: [{}]}",
                        "name: 'p' namespace: 'istio-system' scope: GLOBAL action: DENY rules {}", Map.of()),
                Arguments.of("no selector: namespace; no rules: ALLOW nothing", "shop", "spec: {}",
                        "name: 'p' namespace: 'shop' scope: NAMESPACE action: ALLOW", Map.of()),
                Arguments.of("selector: workload selector", "shop",
                        "spec: {selector: {matchLabels: {app: cart}}, rules: [{}]}",
                        "name: 'p' namespace: 'shop' scope: WORKLOAD_SELECTOR rules {}", Map.of("app", "cart")),
                Arguments.of("empty selector is no selector", "shop", "spec: {selector: {}, rules: [{}]}",
                        "name: 'p' namespace: 'shop' scope: NAMESPACE rules {}", Map.of()),
                Arguments.of("from sources OR into one clause, to operations into another", "shop", """
                        spec:
                          rules:
                          - from:
                            - source: {principals: ["cluster.local/ns/web/sa/*"], notNamespaces: [kube-system]}
                            - source: {ipBlocks: ["10.1.2.3/8", "192.168.0.7"], notIpBlocks: ["2001:db8::1/32"]}
                            to:
                            - operation: {ports: ["8080", 9090], notPorts: ["22"]}
                        """, """
                        name: 'p' namespace: 'shop' scope: NAMESPACE
                        rules { clauses {
                            matches { principals: 'cluster.local/ns/web/sa/*' not_namespaces: 'kube-system' }
                            matches { source_ips { address: '10.0.0.0' length: 8 } source_ips { address: '192.168.0.7' length: 32 }
                                      not_source_ips { address: '2001:db8:0:0:0:0:0:0' length: 32 } } }
                          clauses { matches { destination_ports: 8080 destination_ports: 9090 not_destination_ports: 22 } } }
                        """, Map.of()),
                Arguments.of("service accounts and when conditions, each condition a clause", "shop", """
                        spec:
                          action: DENY
                          rules:
                          - from: [{source: {serviceAccounts: [web/frontend], notServiceAccounts: [web/admin]}}]
                            when:
                            - {key: source.ip, values: ["10.0.0.0/16"]}
                            - {key: destination.port, notValues: ["15000"]}
                            - {key: source.namespace, values: [web]}
                        """, """
                        name: 'p' namespace: 'shop' scope: NAMESPACE action: DENY
                        rules {
                          clauses { matches { service_accounts: 'web/frontend' not_service_accounts: 'web/admin' } }
                          clauses { matches { source_ips { address: '10.0.0.0' length: 16 } } }
                          clauses { matches { not_destination_ports: 15000 } }
                          clauses { matches { namespaces: 'web' } } }
                        """, Map.of()),
                Arguments.of("targetRefs: the waypoint's business, not ztunnel's", "shop",
                        "spec: {targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: wp}], rules: [{}]}",
                        null, Map.of()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void valid(String what, String ns, String spec, String expected, Map<String, String> selector) {
        var t = AuthorizationTranslator.translate(authz(ns, "p", spec), "istio-system");
        assertEquals(List.of(), t.problems());
        assertEquals(expected == null ? null : text(expected), t.authorization().orElse(null));
        assertEquals(selector, t.selector());
    }

    static Stream<Arguments> l7() {
        return Stream.of(
                Arguments.of("ALLOW with methods: that rule dropped, the L4-only rule kept", """
                        spec:
                          rules:
                          - to: [{operation: {methods: [GET], ports: ["80"]}}]
                          - from: [{source: {namespaces: [web]}}]
                        """, "name: 'p' namespace: 'shop' scope: NAMESPACE rules { clauses { matches { namespaces: 'web' } } }",
                        "spec.rules[0]", "[operation.methods]"),
                Arguments.of("DENY with paths and a request condition: L4 parts only (denies more)", """
                        spec:
                          action: DENY
                          rules:
                          - to: [{operation: {paths: [/admin], ports: ["80"]}}]
                            from: [{source: {requestPrincipals: ["*"]}}]
                            when: [{key: "request.headers[x-user]", values: [bob]}]
                        """, """
                        name: 'p' namespace: 'shop' scope: NAMESPACE action: DENY
                        rules { clauses { matches {} } clauses { matches { destination_ports: 80 } } }
                        """, "spec.rules[0]", "[operation.paths, source.requestPrincipals, when.request.headers[x-user]]"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void l7(String what, String spec, String expected, String field, String fields) {
        var t = AuthorizationTranslator.translate(authz("shop", "p", spec), "istio-system");
        assertEquals(text(expected), t.authorization().orElseThrow());
        assertEquals(1, t.problems().size(), t.problems().toString());
        assertEquals(field, t.problems().getFirst().field());
        assertTrue(t.problems().getFirst().reason().startsWith("L7 fields " + fields), t.problems().getFirst().reason());
    }

    static Stream<Arguments> refused() {
        return Stream.of(
                Arguments.of("AUDIT", "spec: {action: AUDIT, rules: [{}]}", "spec.action",
                        "action AUDIT is not supported by ztunnel (expected: ALLOW or DENY); the policy is not applied"),
                Arguments.of("CUSTOM", "spec: {action: CUSTOM, provider: {name: ext}, rules: [{}]}", "spec.action",
                        "action CUSTOM is not supported by ztunnel (expected: ALLOW or DENY); the policy is not applied"),
                Arguments.of("unknown action", "spec: {action: REJECT}", "spec.action",
                        "'REJECT' (expected: ALLOW, DENY, AUDIT or CUSTOM); the policy is ignored"),
                Arguments.of("principal with scheme", "spec: {rules: [{from: [{source: {principals: [\"spiffe://td/ns/a/sa/b\"]}}]}]}",
                        "spec.rules[0].from[0].source.principals[0]",
                        "'spiffe://td/ns/a/sa/b' (expected: without the spiffe:// scheme, e.g. cluster.local/ns/foo/sa/bar);"
                                + " the policy is ignored"),
                Arguments.of("wildcard in the middle", "spec: {rules: [{from: [{source: {namespaces: [\"a*b\"]}}]}]}",
                        "spec.rules[0].from[0].source.namespaces[0]",
                        "'a*b' (expected: \"*\" only as a prefix or a suffix); the policy is ignored"),
                Arguments.of("bad CIDR", "spec: {rules: [{from: [{source: {ipBlocks: [\"10.0.0.0/33\"]}}]}]}",
                        "spec.rules[0].from[0].source.ipBlocks[0]",
                        "'10.0.0.0/33' (expected: a prefix length 0-32); the policy is ignored"),
                Arguments.of("hostname as IP", "spec: {rules: [{from: [{source: {notIpBlocks: [example.com]}}]}]}",
                        "spec.rules[0].from[0].source.notIpBlocks[0]",
                        "'example.com' (expected: an IP address or CIDR, e.g. 10.0.0.0/8); the policy is ignored"),
                Arguments.of("port out of range", "spec: {rules: [{to: [{operation: {ports: [\"70000\"]}}]}]}",
                        "spec.rules[0].to[0].operation.ports[0]",
                        "70000 (expected: a port number 1-65535); the policy is ignored"),
                Arguments.of("port zero in a condition", "spec: {rules: [{when: [{key: destination.port, values: [\"0\"]}]}]}",
                        "spec.rules[0].when[0].values[0]", "0 (expected: a port number 1-65535); the policy is ignored"),
                Arguments.of("unknown field", "spec: {rules: [{from: [{source: {principal: [x]}}]}]}",
                        "spec.rules[0].from[0].source.principal", null),
                Arguments.of("unknown condition key", "spec: {rules: [{when: [{key: source.colour, values: [red]}]}]}",
                        "spec.rules[0].when[0].key", null),
                Arguments.of("service account without namespace", "spec: {rules: [{from: [{source: {serviceAccounts: [frontend]}}]}]}",
                        "spec.rules[0].from[0].source.serviceAccounts[0]",
                        "'frontend' (expected: <namespace>/<service account>); the policy is ignored"),
                Arguments.of("service accounts with namespaces",
                        "spec: {rules: [{from: [{source: {serviceAccounts: [a/b], namespaces: [a]}}]}]}",
                        "spec.rules[0].from[0].source", null),
                Arguments.of("rules not a list", "spec: {rules: {from: []}}", "spec.rules",
                        "a object (expected: a list); the policy is ignored"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void refused(String what, String spec, String field, String reason) {
        // A valid first rule proves nothing of an invalid policy is applied.
        var t = AuthorizationTranslator.translate(authz("shop", "p", spec), "istio-system");
        assertTrue(t.authorization().isEmpty(), "nothing half-applied: " + t.authorization());
        assertEquals(1, t.problems().size(), t.problems().toString());
        Problem p = t.problems().getFirst();
        assertEquals(List.of("AuthorizationPolicy", "shop", "p", field), List.of(p.kind(), p.namespace(), p.name(), p.field()));
        if (reason != null) {
            assertEquals(reason, p.reason());
        }
    }
}
