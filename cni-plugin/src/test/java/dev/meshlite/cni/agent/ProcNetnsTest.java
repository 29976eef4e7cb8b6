package dev.meshlite.cni.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The /proc scan against a /proc-shaped tree: namespaces by their links, addresses from fib_trie. */
class ProcNetnsTest {

    static final String FIB = """
            Main:
              +-- 0.0.0.0/0 3 0 5
                 |-- 0.0.0.0
                    /0 universe UNICAST
                 +-- 10.244.1.0/24 2 0 2
                    |-- 10.244.1.0
                       /24 link UNICAST
                    |-- %s
                       /32 host LOCAL
                    |-- 10.244.1.255
                       /32 link BROADCAST
                 +-- 127.0.0.0/8 2 0 2
                    |-- 127.0.0.1
                       /32 host LOCAL
            Local:
              +-- 0.0.0.0/0 3 0 5
                 |-- %s
                    /32 host LOCAL
            """;

    @Test
    void localAddressesAreTheHostLocalOnesButLoopback() {
        assertEquals(Set.of("10.244.1.7"), ProcNetns.localAddresses(FIB.formatted("10.244.1.7", "10.244.1.7").lines().toList()));
        assertEquals(Set.of(), ProcNetns.localAddresses(List.of("Main:", "  |-- 10.0.0.1", "     /24 link UNICAST")));
    }

    @Test
    void mapsEveryPodAddressToANamespaceOtherThanOurs(@TempDir Path proc) throws Exception {
        process(proc, "self", "net:[4026531840]", "10.0.0.9");
        process(proc, "1", "net:[4026531840]", "10.0.0.9"); // the node's own namespace: skipped
        process(proc, "200", "net:[4026532100]", "10.244.1.5");
        process(proc, "201", "net:[4026532100]", "10.244.1.5"); // the same pod's second process
        process(proc, "300", "net:[4026532200]", "10.244.1.6");
        Files.createDirectories(proc.resolve("400")); // exited mid-scan: no ns link any more
        Files.createDirectories(proc.resolve("sys")); // not a pid

        Map<String, Path> found = new ProcNetns(proc).scan();

        assertEquals(Set.of("10.244.1.5", "10.244.1.6"), found.keySet());
        assertEquals(Files.readSymbolicLink(proc.resolve("200/ns/net")), Files.readSymbolicLink(found.get("10.244.1.5")));
        assertEquals(proc.resolve("300/ns/net"), found.get("10.244.1.6"));
    }

    private static void process(Path proc, String pid, String netns, String ip) throws Exception {
        Path dir = proc.resolve(pid);
        Files.createDirectories(dir.resolve("ns"));
        Files.createDirectories(dir.resolve("net"));
        Files.createSymbolicLink(dir.resolve("ns/net"), Path.of(netns));
        Files.writeString(dir.resolve("net/fib_trie"), FIB.formatted(ip, ip));
    }
}
