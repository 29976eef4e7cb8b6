package dev.meshlite.cni.handoff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real pod-style namespace (ip netns add) crosses the handoff and arrives as that namespace. Needs root. */
@Tag("root")
class HandoffNetnsIT {

    @TempDir
    Path dir;
    private String ns;

    static String run(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", argv) + " hung");
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
        return out;
    }

    @BeforeEach
    void namespace() throws Exception {
        ns = "mesh-handoff-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24));
        run("ip", "netns", "add", ns);
    }

    @AfterEach
    void cleanup() throws Exception {
        run("ip", "netns", "del", ns);
    }

    @Test
    void theReceivedDescriptorIsThePodsNamespace() throws Exception {
        Path sock = dir.resolve("ztunnel.sock");
        HandoffIT.Recorder r = new HandoffIT.Recorder();
        try (HandoffServer server = new HandoffServer(sock); HandoffClient client = new HandoffClient(sock, r)) {
            server.start();
            server.add(new PodInfo("uid-1", "web", "shop", "web-sa", List.of("10.9.0.2")), Path.of("/run/netns/" + ns),
                    Duration.ofSeconds(30));
            client.start();
            assertEquals("up", r.next());
            assertTrue(r.next().startsWith("add uid-1 "));
            assertEquals("snapshot [uid-1]", r.next());
            int fd = r.held.get("uid-1").fd();
            // stat from outside, through this JVM's fd table, against the bind mount ip netns made
            String pid = Long.toString(ProcessHandle.current().pid());
            String received = run("stat", "-L", "-c", "%i", "/proc/" + pid + "/fd/" + fd);
            String expected = run("stat", "-L", "-c", "%i", "/run/netns/" + ns);
            String host = run("stat", "-L", "-c", "%i", "/proc/" + pid + "/ns/net");
            assertEquals(expected, received);
            assertNotEquals(host, received, "must not be this process's own namespace");
        } finally {
            r.closeAll();
        }
    }
}
