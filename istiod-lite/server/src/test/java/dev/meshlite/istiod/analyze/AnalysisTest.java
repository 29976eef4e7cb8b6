package dev.meshlite.istiod.analyze;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The pure part: manifests to objects to the control plane's problems. Expected lines are
 * prefixes (object, field, and the start of the model's reason), so the table reads as a
 * contract without repeating every word of the model's messages.
 */
class AnalysisTest {

    static final Analysis.Settings SETTINGS = new Analysis.Settings("istio-system", "cluster.local", Optional.empty());

    /** An ambient namespace "shop" with a ready, captured pod app=cart and its Service; no waypoint. */
    static final String SHOP = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              {name: cart-1, namespace: shop, uid: cart-1-uid, labels: {app: cart},
               annotations: {ambient.istio.io/redirection: enabled}}
            spec: {serviceAccountName: cart, nodeName: node-a, containers: [{name: app, image: app}]}
            status: {phase: Running, podIP: 10.244.0.5, conditions: [{type: Ready, status: "True"}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: cart, namespace: shop}
            spec: {selector: {app: cart}, ports: [{port: 80, targetPort: 8080}]}
            """;

    static String policy(String kind, String name, String spec) {
        return """
                ---
                apiVersion: security.istio.io/v1
                kind: %s
                metadata: {name: %s, namespace: shop}
                %s
                """.formatted(kind, name, spec);
    }

    static String authz(String spec) {
        return policy("AuthorizationPolicy", "p", spec);
    }

    static Stream<Arguments> files() {
        return Stream.of(
                Arguments.of("valid L4 policy: no problem", SHOP + authz("""
                        spec:
                          selector: {matchLabels: {app: cart}}
                          action: ALLOW
                          rules:
                          - from: [{source: {principals: ["cluster.local/ns/web/sa/frontend"], ipBlocks: ["10.0.0.0/8"]}}]
                            to: [{operation: {ports: ["8080"]}}]
                        """), List.of()),
                Arguments.of("L7 field on a workload without a waypoint: rule dropped, reported", SHOP + authz("""
                        spec:
                          selector: {matchLabels: {app: cart}}
                          rules: [{to: [{operation: {methods: [GET], ports: ["8080"]}}]}]
                        """), List.of("AuthorizationPolicy shop/p: spec.rules[0]: L7 fields [operation.methods]"
                        + " cannot be enforced by ztunnel: this ALLOW rule is dropped")),
                Arguments.of("AUDIT: unsupported", SHOP + authz("spec: {action: AUDIT}"),
                        List.of("AuthorizationPolicy shop/p: spec.action: action AUDIT is not supported")),
                Arguments.of("CUSTOM: unsupported", SHOP + authz("spec: {action: CUSTOM, provider: {name: ext}}"),
                        List.of("AuthorizationPolicy shop/p: spec.action: action CUSTOM is not supported")),
                Arguments.of("bad CIDR", SHOP + authz("spec: {rules: [{from: [{source: {ipBlocks: [10.0.0.0/33]}}]}]}"),
                        List.of("AuthorizationPolicy shop/p: spec.rules[0].from[0].source.ipBlocks[0]: '10.0.0.0/33'"
                                + " (expected: a prefix length 0-32)")),
                Arguments.of("port out of range", SHOP + authz("spec: {rules: [{to: [{operation: {ports: [\"70000\"]}}]}]}"),
                        List.of("AuthorizationPolicy shop/p: spec.rules[0].to[0].operation.ports[0]: 70000"
                                + " (expected: a port number 1-65535)")),
                Arguments.of("unknown field: refused, not skipped", SHOP
                        + authz("spec: {rules: [{from: [{source: {ipBlock: [10.0.0.0/8]}}]}]}"),
                        List.of("AuthorizationPolicy shop/p: spec.rules[0].from[0].source.ipBlock: unknown field")),
                Arguments.of("principal with the spiffe:// scheme", SHOP
                        + authz("spec: {rules: [{from: [{source: {principals: [\"spiffe://cluster.local/ns/a/sa/b\"]}}]}]}"),
                        List.of("AuthorizationPolicy shop/p: spec.rules[0].from[0].source.principals[0]:"
                                + " 'spiffe://cluster.local/ns/a/sa/b' (expected: without the spiffe:// scheme")),
                Arguments.of("PeerAuthentication: unknown mode", SHOP
                        + policy("PeerAuthentication", "pa", "spec: {mtls: {mode: STRICTER}}"),
                        List.of("PeerAuthentication shop/pa: spec.mtls.mode: 'STRICTER' (expected: UNSET, PERMISSIVE,")),
                Arguments.of("waypoint label without its Service: reported on the Namespace, no slash",
                        SHOP.replace("istio.io/dataplane-mode: ambient", "istio.io/dataplane-mode: ambient,"
                                + " istio.io/use-waypoint: wp"),
                        List.of("Namespace shop: metadata.labels[istio.io/use-waypoint]: waypoint shop/wp"
                                + " not found")),
                Arguments.of("waypoint Service in the same files: it gets a ClusterIP on apply, no problem",
                        SHOP.replace("istio.io/dataplane-mode: ambient", "istio.io/dataplane-mode: ambient,"
                                + " istio.io/use-waypoint: wp") + """
                                ---
                                apiVersion: v1
                                kind: Service
                                metadata: {name: wp, namespace: shop}
                                spec: {ports: [{port: 15008}]}
                                """, List.of()),
                Arguments.of("several problems: sorted by kind, namespace, name, field", SHOP
                        + policy("AuthorizationPolicy", "z", "spec: {action: AUDIT}")
                        + policy("PeerAuthentication", "a", "spec: {mtls: {mode: X}}")
                        + policy("AuthorizationPolicy", "b", "spec: {rules: [{to: [{operation: {ports: [0]}}]}]}"),
                        List.of("AuthorizationPolicy shop/b: spec.rules[0].to[0].operation.ports[0]: 0",
                                "AuthorizationPolicy shop/z: spec.action:",
                                "PeerAuthentication shop/a: spec.mtls.mode:")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void files(String what, String yaml, List<String> expected) {
        Manifests.Read read = Manifests.read("test.yaml", yaml);
        assertEquals(List.of(), read.errors());
        Analysis.Report report = Analysis.ofFiles(read.objects(), List.of(), SETTINGS);
        List<String> lines = report.problems().stream().map(Analysis::line).toList();
        assertEquals(expected.size(), lines.size(), () -> "lines: " + lines);
        for (int i = 0; i < expected.size(); i++) {
            assertTrue(lines.get(i).startsWith(expected.get(i)), "line " + i + ": " + lines.get(i)
                    + "\n  expected to start with: " + expected.get(i));
        }
        assertEquals(expected.isEmpty() ? 0 : 1, report.exitCode());
    }

    static Stream<Arguments> inputs() {
        return Stream.of(
                Arguments.of("comment-only documents are not counted; a bad one is named by number and line", """
                        # header
                        ---
                        apiVersion: v1
                        kind: Namespace
                        metadata: {name: a}
                        ---   # trailing comment: still a separator
                        # nothing here
                        ---
                        kind: [a
                        """, List.of("f.yaml: document 2 (line 9): not valid YAML or JSON:"), List.of()),
                Arguments.of("parser's line is the file's line", "apiVersion: v1\n---\nkind: Pod\n  bad: indent\n",
                        List.of("f.yaml: document 1 (line 1): kind missing",
                                "f.yaml: document 2 (line 3): not valid YAML or JSON: mapping values are not allowed"
                                        + " here at line 4"), List.of()),
                Arguments.of("not an object", "- a\n- b\n",
                        List.of("f.yaml: document 1 (line 1): a list (expected: an object with apiVersion, kind"),
                        List.of()),
                Arguments.of("no kind", "apiVersion: v1\nmetadata: {name: x}\n",
                        List.of("f.yaml: document 1 (line 1): kind missing"), List.of()),
                Arguments.of("no name", "apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\n",
                        List.of("f.yaml: document 1 (line 1): Service without metadata.name"), List.of()),
                Arguments.of("a known kind under another version", """
                        apiVersion: security.istio.io/v1beta1
                        kind: AuthorizationPolicy
                        metadata: {name: p}
                        """, List.of("f.yaml: document 1 (line 1): AuthorizationPolicy p has apiVersion"
                        + " security.istio.io/v1beta1 (expected: security.istio.io/v1)"), List.of()),
                Arguments.of("wrong field type: the schema's path", """
                        apiVersion: v1
                        kind: Pod
                        metadata: {name: p}
                        spec: {containers: 5}
                        """, List.of("f.yaml: document 1 (line 1): Pod p does not fit its schema:"), List.of()),
                Arguments.of("other kinds: skipped with a note", """
                        apiVersion: apps/v1
                        kind: Deployment
                        metadata: {name: d}
                        ---
                        apiVersion: v1
                        kind: ConfigMap
                        metadata: {name: r}
                        """, List.of(), List.of("f.yaml: document 1 (line 1): apps/v1 Deployment d skipped",
                        "f.yaml: document 2 (line 5): v1 ConfigMap r skipped")),
                Arguments.of("List: items numbered", """
                        apiVersion: v1
                        kind: List
                        items:
                        - {apiVersion: v1, kind: Namespace, metadata: {name: a}}
                        - {apiVersion: v1, kind: Namespace, metadata: {}}
                        """, List.of("f.yaml: document 1 (line 1), items[1]: Namespace without metadata.name"),
                        List.of()),
                Arguments.of("JSON", "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}",
                        List.of(), List.of()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void inputs(String what, String text, List<String> errors, List<String> notes) {
        Manifests.Read read = Manifests.read("f.yaml", text);
        assertPrefixes(errors, read.errors());
        assertPrefixes(notes, read.notes());
    }

    @Test
    void namespacedObjectsWithoutNamespaceGoToDefault() {
        Manifests.Read read = Manifests.read("f.yaml", """
                apiVersion: v1
                kind: Service
                metadata: {name: s}
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: n, namespace: ignored}
                """);
        assertEquals(List.of("Service/default/s", "Namespace//n"), read.objects().stream().map(Analysis::key).toList());
    }

    @Test
    void filesAreJudgedWithTheLiveObjects() {
        // Live: the ambient namespace without waypoint, and an old bad policy elsewhere.
        List<HasMetadata> live = Manifests.read("live", SHOP + """
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: old, namespace: other}
                spec: {action: AUDIT}
                """).objects();
        assertEquals(List.of("AuthorizationPolicy other/old: spec.action"),
                prefixes(Analysis.ofCluster(live, SETTINGS)));

        // Sending the namespace through a waypoint that does not exist: only the live pod and
        // Service make it a problem, so alone the file passes and with the cluster it does not.
        String relabel = """
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}}
                """;
        List<HasMetadata> file = Manifests.read("f", relabel).objects();
        assertEquals(List.of(), Analysis.ofFiles(file, List.of(), SETTINGS).problems());
        Analysis.Report withCluster = Analysis.ofFiles(file, live, SETTINGS);
        assertEquals(List.of("Namespace shop: metadata.labels[istio.io/use-waypoint]"), prefixes(withCluster));
        assertEquals("1 problem in 1 object (judged with 4 live objects; 1 problem already in the cluster not shown)",
                Analysis.summary(withCluster, SETTINGS));

        // With the waypoint's Service in the same file: fine.
        List<HasMetadata> withWaypoint = Manifests.read("f", relabel + """
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: wp, namespace: shop}
                spec: {ports: [{port: 15008}]}
                """).objects();
        assertEquals(List.of(), Analysis.ofFiles(withWaypoint, live, SETTINGS).problems());

        // Live with the waypoint: a file turning it headless breaks the live Namespace, which is
        // shown though it is not in the files.
        List<HasMetadata> liveWithWaypoint = Manifests.read("live", SHOP.replace("istio.io/dataplane-mode: ambient",
                "istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp") + """
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: wp, namespace: shop}
                spec: {clusterIP: 10.96.0.20, ports: [{port: 15008}]}
                """).objects();
        assertEquals(List.of(), Analysis.ofCluster(liveWithWaypoint, SETTINGS).problems());
        List<HasMetadata> headless = Manifests.read("f", """
                apiVersion: v1
                kind: Service
                metadata: {name: wp, namespace: shop}
                spec: {clusterIP: None, ports: [{port: 15008}]}
                """).objects();
        assertEquals(List.of("Namespace shop: metadata.labels[istio.io/use-waypoint]"),
                prefixes(Analysis.ofFiles(headless, liveWithWaypoint, SETTINGS)));

        // A Service re-applied without clusterIP keeps the live one, as the API server does.
        HasMetadata reapplied = Analysis.asStored(withWaypoint.getLast(), liveWithWaypoint.stream()
                .filter(o -> o.getMetadata().getName().equals("wp")).findFirst());
        assertEquals("10.96.0.20", ((Service) reapplied).getSpec().getClusterIP());
    }

    @Test
    void namespaceFilterAndSummary() {
        List<HasMetadata> objects = Manifests.read("f", SHOP + authz("spec: {action: AUDIT}")
                + policy("PeerAuthentication", "pa", "spec: {mtls: {mode: X}}")).objects();
        Analysis.Report all = Analysis.ofFiles(objects, List.of(), SETTINGS);
        assertEquals("2 problems in 5 objects", Analysis.summary(all, SETTINGS));
        var other = new Analysis.Settings("istio-system", "cluster.local", Optional.of("other"));
        Analysis.Report none = Analysis.ofFiles(objects, List.of(), other);
        assertEquals("no problems in namespace other in 5 objects", Analysis.summary(none, other));
        assertEquals(0, none.exitCode());
        var shop = new Analysis.Settings("istio-system", "cluster.local", Optional.of("shop"));
        assertEquals(2, Analysis.ofFiles(objects, List.of(), shop).problems().size());
    }

    static List<String> prefixes(Analysis.Report r) {
        return r.problems().stream().map(p -> Analysis.line(p).substring(0,
                Analysis.line(p).indexOf(": ", Analysis.line(p).indexOf(": ") + 2))).toList();
    }

    static void assertPrefixes(List<String> expected, List<String> actual) {
        assertEquals(expected.size(), actual.size(), () -> "actual: " + actual);
        for (int i = 0; i < expected.size(); i++) {
            assertTrue(actual.get(i).startsWith(expected.get(i)), "actual: " + actual.get(i)
                    + "\n  expected to start with: " + expected.get(i));
        }
    }
}
