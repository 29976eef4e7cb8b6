package dev.meshlite.cni.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The /proc scan on this machine's real /proc: a process in a fresh network namespace holding a
 * pod-like address is found, and the path found is that very namespace (same inode as the
 * namespace's own bind mount). Needs root.
 */
@Tag("root")
class ProcNetnsIT {

    @Test
    void findsTheNamespaceOfARunningProcessByItsAddress() throws Exception {
        String ns = "mesh-procscan-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24));
        String ip = "10.251." + ThreadLocalRandom.current().nextInt(1, 250) + "." + ThreadLocalRandom.current().nextInt(2, 250);
        run("ip", "netns", "add", ns);
        Process sleeper = null;
        try {
            // a veth pair inside the namespace carries the pod-like address, as a pod's eth0 does
            run("ip", "netns", "exec", ns, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1");
            run("ip", "netns", "exec", ns, "ip", "addr", "add", ip + "/24", "dev", "v0");
            run("ip", "netns", "exec", ns, "ip", "link", "set", "v0", "up");
            sleeper = new ProcessBuilder("ip", "netns", "exec", ns, "sleep", "60").start();
            Path found = null;
            for (int i = 0; i < 100 && found == null; i++) { // until the sleeper has entered the namespace
                found = ProcNetns.host().scan().get(ip);
                if (found == null) {
                    Thread.sleep(20);
                }
            }
            assertNotNull(found, ip + " not found in any namespace under /proc");
            assertEquals(Files.getAttribute(Path.of("/run/netns/" + ns), "unix:ino"), Files.getAttribute(found, "unix:ino"),
                    found + " is not " + ns);
            Path own = Files.readSymbolicLink(Path.of("/proc/self/ns/net"));
            for (Map.Entry<String, Path> e : ProcNetns.host().scan().entrySet()) {
                Path link;
                try {
                    link = Files.readSymbolicLink(e.getValue());
                } catch (java.io.IOException exited) {
                    continue; // the process exited since the scan: nothing to compare
                }
                assertTrue(!own.equals(link), e + ": our own namespace is not skipped");
            }
        } finally {
            if (sleeper != null) {
                sleeper.destroyForcibly().waitFor();
            }
            run("ip", "netns", "del", ns);
        }
    }

    private static void run(String... argv) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", argv) + " hung");
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
    }
}
