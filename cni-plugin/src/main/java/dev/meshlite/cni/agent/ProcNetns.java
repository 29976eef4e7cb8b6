package dev.meshlite.cni.agent;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds running pods' network namespaces on a real node, where nothing records them for us: a scan
 * of /proc (the agent runs with the host's PID namespace) for processes whose network namespace
 * holds a pod's IP. A process's {@code net/fib_trie} lists its namespace's local addresses
 * (lines {@code |-- A.B.C.D} followed by {@code /32 host LOCAL}), so no namespace is entered and no
 * process is spawned; each namespace is read once however many processes share it, and the
 * agent's own (the node's) is skipped.
 *
 * <p>The result names {@code /proc/PID/ns/net} of one process in the namespace: valid while that
 * process lives, so callers resolve again on each reconcile pass instead of keeping it.
 */
final class ProcNetns {

    private final Path proc;

    ProcNetns(Path proc) {
        this.proc = proc;
    }

    static ProcNetns host() {
        return new ProcNetns(Path.of("/proc"));
    }

    /** Every IPv4 address held by a network namespace other than ours, to that namespace's path. */
    Map<String, Path> scan() {
        String own = namespaceId(proc.resolve("self"));
        Map<String, Path> byIp = new HashMap<>();
        Set<String> seen = new HashSet<>();
        try (DirectoryStream<Path> pids = Files.newDirectoryStream(proc, p -> isPid(p.getFileName().toString()))) {
            for (Path pid : pids) {
                String id = namespaceId(pid);
                if (id == null || id.equals(own) || !seen.add(id)) {
                    continue;
                }
                try {
                    for (String ip : localAddresses(Files.readAllLines(pid.resolve("net/fib_trie")))) {
                        byIp.putIfAbsent(ip, pid.resolve("ns/net"));
                    }
                } catch (IOException | RuntimeException exited) {
                    seen.remove(id); // gone mid-scan: another process of the namespace may still be read
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list " + proc + ": " + e.getMessage(), e);
        }
        return byIp;
    }

    /** The namespace's identity, {@code net:[inode]}, or null when the process is gone or hidden. */
    private static String namespaceId(Path pid) {
        try {
            return Files.readSymbolicLink(pid.resolve("ns/net")).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    /** The local IPv4 addresses in a {@code fib_trie}, loopback excluded. */
    static Set<String> localAddresses(List<String> fibTrie) {
        Set<String> out = new HashSet<>();
        String last = null;
        for (String line : fibTrie) {
            String t = line.strip();
            if (t.startsWith("|-- ")) {
                last = t.substring(4).strip();
            } else if (last != null && t.equals("/32 host LOCAL")) {
                if (!last.startsWith("127.")) {
                    out.add(last);
                }
            } else if (!t.startsWith("/")) {
                last = null;
            }
        }
        return out;
    }

    private static boolean isPid(String name) {
        if (name.isEmpty()) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            if (!Character.isDigit(name.charAt(i))) {
                return false;
            }
        }
        return true;
    }
}
