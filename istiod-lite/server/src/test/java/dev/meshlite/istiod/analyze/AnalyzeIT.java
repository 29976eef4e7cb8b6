package dev.meshlite.istiod.analyze;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.istiod.IstiodLite;
import dev.meshlite.istiod.ca.MockCluster;
import dev.meshlite.istiod.watch.ClusterWatcher;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code istiod-lite analyze} run in-process as the command line runs it: temporary files, stdin,
 * and fabric8's API server mock (CRUD) reached through a kubeconfig.
 */
class AnalyzeIT {

    @TempDir
    Path tmp;

    record Run(int exit, List<String> out, List<String> err) {}

    static Run run(InputStream stdin, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        // Through the root command, so the subcommand's registration is tested too; stdin only
        // through the command itself (picocli builds registered subcommands with System.in).
        CommandLine cli = stdin == null ? new CommandLine(new IstiodLite())
                : new CommandLine(new Analyze(stdin));
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int exit = cli.execute(args);
        return new Run(exit, lines(out.toString()), lines(err.toString()));
    }

    static Run run(String... args) {
        String[] full = new String[args.length + 1];
        full[0] = "analyze";
        System.arraycopy(args, 0, full, 1, args.length);
        return run(null, full);
    }

    static List<String> lines(String text) {
        return text.isEmpty() ? List.of() : List.of(text.split("\n"));
    }

    static final String NAMESPACE = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            """;

    static final String GOOD = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-web, namespace: shop}
            spec:
              rules: [{from: [{source: {namespaces: [web]}}], to: [{operation: {ports: ["8080"]}}]}]
            """;

    static final String BAD = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: deny-bad, namespace: shop}
            spec:
              action: DENY
              rules: [{from: [{source: {ipBlocks: ["10.0.0.0/40"]}}]}]
            """;

    Path write(String name, String text) throws Exception {
        Path p = tmp.resolve(name);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
        return p;
    }

    @Test
    void validFilesExitZero() throws Exception {
        Path f = write("good.yaml", NAMESPACE + "---\n" + GOOD);
        Run r = run("-f", f.toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of(), r.out());
        assertEquals(List.of("no problems in 2 objects"), r.err());
    }

    @Test
    void problemsExitOneOneALine() throws Exception {
        Path dir = tmp.resolve("manifests");
        write("manifests/a.yaml", NAMESPACE + "---\n" + GOOD);
        write("manifests/b.yml", BAD + """
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: strict, namespace: shop}
                spec: {mtls: {mode: strict}}
                ---
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: cart, namespace: shop}
                """);
        write("manifests/README.md", "not a manifest");
        Run r = run("-f", dir.toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals(List.of(
                "AuthorizationPolicy shop/deny-bad: spec.rules[0].from[0].source.ipBlocks[0]: '10.0.0.0/40'"
                        + " (expected: a prefix length 0-32); the policy is ignored",
                "PeerAuthentication shop/strict: spec.mtls.mode: 'strict' (expected: UNSET, PERMISSIVE, STRICT or"
                        + " DISABLE); the policy is ignored"), r.out());
        assertEquals(List.of(
                "note: " + dir.resolve("b.yml") + ": document 3 (line 13): apps/v1 Deployment cart skipped"
                        + " (the control plane does not read it)",
                "2 problems in 4 objects"), r.err());
        Run filtered = run("-f", dir.toString(), "-n", "web");
        assertEquals(0, filtered.exit(), filtered.toString());
        assertEquals("no problems in namespace web in 4 objects", filtered.err().getLast());
    }

    @Test
    void unreadableInputExitsTwoAndNamesFileAndDocument() throws Exception {
        Path broken = write("broken.yaml", NAMESPACE + "---\n" + "apiVersion: v1\nkind: [Service\n");
        Path nameless = write("nameless.yaml", "apiVersion: v1\nkind: Service\nmetadata: {namespace: shop}\n");
        Path good = write("good.yaml", BAD);
        Run r = run("-f", good.toString(), "-f", broken.toString(), "-f", nameless.toString(),
                "-f", tmp.resolve("missing.yaml").toString());
        assertEquals(2, r.exit(), r.toString());
        assertEquals(List.of(), r.out(), "nothing is judged when an input is unreadable");
        assertEquals(4, r.err().size(), r.toString());
        assertTrue(r.err().get(0).startsWith("error: " + tmp.resolve("missing.yaml") + ": cannot read:"), r.toString());
        assertTrue(r.err().get(1).startsWith("error: " + broken + ": document 2 (line 5): not valid YAML or JSON:"),
                r.toString());
        assertEquals("error: " + nameless + ": document 1 (line 1): Service without metadata.name"
                + " (expected: metadata.name, a non-empty string)", r.err().get(2));
        assertEquals("not analyzed: 3 input errors", r.err().get(3));
    }

    @Test
    void stdin() {
        Run r = run(new ByteArrayInputStream((NAMESPACE + "---\n" + BAD).getBytes(StandardCharsets.UTF_8)), "-f", "-");
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.out().size(), r.toString());
        assertTrue(r.out().getFirst().startsWith("AuthorizationPolicy shop/deny-bad: "), r.toString());
        Run twice = run(new ByteArrayInputStream(new byte[0]), "-f", "-", "-f", "-");
        assertEquals(2, twice.exit(), twice.toString());
    }

    @Test
    void liveClusterAndFilesOnTopOfIt() throws Exception {
        try (MockCluster cluster = new MockCluster().namespace("shop")) {
            Path kubeconfig = kubeconfig(cluster);
            Run clean = run("--kubeconfig", kubeconfig.toString());
            assertEquals(0, clean.exit(), clean.toString());
            assertEquals(List.of("no problems in 1 object"), clean.err());

            cluster.client().genericKubernetesResources(ClusterWatcher.AUTHORIZATION_POLICY).inNamespace("shop")
                    .resource(Serialization.unmarshal(BAD, GenericKubernetesResource.class)).create();
            Run live = run("--kubeconfig", kubeconfig.toString());
            assertEquals(1, live.exit(), live.toString());
            assertEquals(List.of("AuthorizationPolicy shop/deny-bad: spec.rules[0].from[0].source.ipBlocks[0]:"
                    + " '10.0.0.0/40' (expected: a prefix length 0-32); the policy is ignored"), live.out());
            assertEquals(List.of("1 problem in 2 objects"), live.err());

            // The dry run of a fix: the file replaces the live policy; nothing else is wrong.
            Path fix = write("fix.yaml", BAD.replace("10.0.0.0/40", "10.0.0.0/8"));
            Run fixed = run("-f", fix.toString(), "--with-cluster", "--kubeconfig", kubeconfig.toString());
            assertEquals(0, fixed.exit(), fixed.toString());
            assertEquals(List.of("no problems in 1 object (judged with 2 live objects)"), fixed.err());

            // A new policy while the live one is still bad: the old problem is counted, not shown.
            Path other = write("other.yaml", GOOD);
            Run dry = run("-f", other.toString(), "--kubeconfig", kubeconfig.toString());
            assertEquals(0, dry.exit(), dry.toString());
            assertEquals(List.of("no problems in 1 object (judged with 2 live objects; 1 problem already in the"
                    + " cluster not shown)"), dry.err());
        }
    }

    @Test
    void unreachableClusterExitsTwo() throws Exception {
        Path kubeconfig = write("kubeconfig", kubeconfigText("https://127.0.0.1:1"));
        Run r = run("--kubeconfig", kubeconfig.toString());
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().getFirst().startsWith("error: cannot read the cluster of " + kubeconfig), r.toString());
    }

    Path kubeconfig(MockCluster cluster) throws Exception {
        return write("kubeconfig", kubeconfigText(cluster.client().getMasterUrl().toString()));
    }

    static String kubeconfigText(String server) {
        return """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster: {server: "%s", insecure-skip-tls-verify: true}
                users:
                - name: test
                  user: {token: test}
                contexts:
                - name: mock
                  context: {cluster: mock, user: test}
                current-context: mock
                """.formatted(server);
    }
}
