package dev.meshlite.e2e;

import static dev.meshlite.e2e.testing.MeshCommands.mesh;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.e2e.testing.MeshCommands;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code ./mesh demo --no-keep} on a machine with no cluster, as a user runs it: it exits 0, its
 * output tells every step of the story (HBONE only on the wire, the peer identities in mutual TLS
 * in ztunnel's metrics and access log, the DENY counted, PERMISSIVE letting plaintext in, STRICT
 * refusing it), and nothing of the cluster is left afterwards. Needs root.
 */
@Tag("root")
class DemoIT {

    private static final String LEGACY = Pattern.quote("spiffe://cluster.local/ns/legacy/sa/default");
    private static final String SHOP = Pattern.quote("spiffe://cluster.local/ns/shop/sa/default");

    @AfterAll
    static void down() throws Exception {
        mesh("down");
    }

    @Test
    void demoTellsTheWholeStoryAndLeavesNothingBehind() throws Exception {
        mesh("down");
        Path out = Files.createTempFile("demo", ".out");
        Process demo = new ProcessBuilder(MeshCommands.HOME.resolve("mesh").toString(), "demo", "--no-keep")
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        boolean finished = demo.waitFor(5, TimeUnit.MINUTES);
        if (!finished) {
            demo.destroyForcibly().waitFor();
        }
        String said = Files.readString(out);
        Files.delete(out);
        assertTrue(finished, "./mesh demo did not finish within 5 minutes:\n" + said);
        assertEquals(0, demo.exitValue(), said);

        List<String> expected = List.of(
                // outside the mesh, the request crosses mesh0 in clear
                "^   seen on mesh0: GET /plain-\\S+ in clear$",
                "^   every pod annotated ambient\\.istio\\.io/redirection=enabled, none restarted$",
                // enrolled: HBONE only
                "^   \\d+ packets between pods on mesh0, every one to or from port 15008; the request text never appears$",
                // the identities, in the metrics and in the access log
                "^     istio_tcp_connections_opened_total\\{reporter=\"destination\",source_principal=\"" + LEGACY
                        + "\",destination_principal=\"" + SHOP + "\",connection_security_policy=\"mutual_tls\",\\.\\.\\.} [1-9]\\d*$",
                "^     time=\\S+ direction=inbound .*src.identity=" + LEGACY + " .*dst.identity=" + SHOP + " via=hbone ",
                // the AuthorizationPolicy
                "^   curl fails; the backends' ztunnels counted [1-9]\\d* refused connection\\(s\\): "
                        + "istio_tcp_connections_opened_total\\{response_flags=\"DENY\",source_workload_namespace=\"legacy\"}$",
                // legacy out of the mesh: PERMISSIVE lets plaintext through ztunnel
                "^   seen on mesh0: GET /permissive-\\S+ in clear$",
                "^   the backends' ztunnels accepted [1-9]\\d* plaintext connection\\(s\\)",
                // STRICT refuses it, counted and logged
                "^   curl fails; STRICT refused [1-9]\\d* plaintext connection\\(s\\): "
                        + "istio_tcp_connections_opened_total\\{connection_security_policy=\"none\",response_flags=\"DENY\"}$",
                "error=\"DENY: STRICT peer authentication refuses plaintext\"$",
                "^   curl works; every pod has the uid and restart count it had at the start$",
                "^== \\d+\\. What next$",
                "^Demo passed\\.$");
        for (String line : expected) {
            assertTrue(Pattern.compile(line, Pattern.MULTILINE).matcher(said).find(),
                    "the demo's output has no line matching " + line + ":\n" + said);
        }

        assertFalse(Files.exists(Path.of("/run/mesh/apiserver")), "/run/mesh/apiserver is left after the demo:\n" + said);
        for (String ns : MeshCommands.lines("ip", "netns", "list")) {
            assertFalse(ns.startsWith("mesh-"), "network namespace " + ns + " is left after the demo");
        }
    }
}
