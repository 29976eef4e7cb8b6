package dev.meshlite.e2e.cluster;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code ./mesh down}: stops every component, kills every process left in a {@code mesh-*}
 * network namespace, deletes those namespaces, the underlay bridge and its veths, the host rule
 * {@code up} may have added, and the state directory. It works from what it finds on the host,
 * not only from the state files, so it also cleans up after a crashed {@code up}.
 */
public final class ClusterDown {

    private final PrintStream out;

    public ClusterDown(PrintStream out) {
        this.out = out;
    }

    public void down() throws IOException {
        Components components = new Components(Layout.stateDir());
        int stopped = 0;
        // Kubelets first so that they do not restart the containers being killed below.
        List<Components.Spec> specs = components.all().stream()
                .sorted(Comparator.comparing((Components.Spec s) -> !s.name().equals("kubelet"))).toList();
        for (Components.Spec spec : specs) {
            if (components.stop(spec, Duration.ofSeconds(5))) {
                stopped++;
            }
        }
        stopped += killMarkedStragglers();
        int namespaces = 0;
        for (String ns : meshNamespaces()) {
            for (String pid : Sh.tryRun("ip", "netns", "pids", ns).stdout().split("\\s+")) {
                if (!pid.isBlank()) {
                    ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            Sh.tryRun("ip", "netns", "del", ns);
            deleteTree(Path.of("/etc/netns", ns));
            namespaces++;
        }
        int links = 0;
        for (String link : meshLinks()) {
            if (Sh.tryRun("ip", "link", "del", link).ok()) {
                links++;
            }
        }
        while (Sh.tryRun("iptables", "-D", "FORWARD", "-i", Layout.BRIDGE, "-o", Layout.BRIDGE, "-j", "ACCEPT",
                "-m", "comment", "--comment", "mesh-local").ok()) {
            // removes every copy up may have added
        }
        deleteTree(Layout.stateDir());
        out.printf("cluster down: %d process(es) stopped, %d network namespace(s) and %d link(s) removed%n",
                stopped, namespaces, links);
    }

    /** Components whose pid file was lost (a crashed up) are found by their command-line marker. */
    private static int killMarkedStragglers() {
        int killed = 0;
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            for (ProcessHandle h : all.toList()) {
                if (h.pid() != ProcessHandle.current().pid()
                        && Components.cmdline(h.pid()).contains("-Dmesh.component=")
                        && Components.cmdline(h.pid()).contains(Layout.stateDir().toString())) {
                    h.destroyForcibly();
                    killed++;
                }
            }
        }
        return killed;
    }

    static List<String> meshNamespaces() {
        return Arrays.stream(Sh.tryRun("ip", "netns", "list").stdout().split("\n"))
                .map(l -> l.split("\\s+")[0]).filter(n -> n.startsWith(Layout.NETNS_PREFIX)).toList();
    }

    static List<String> meshLinks() {
        return Arrays.stream(Sh.tryRun("ip", "-o", "link", "show").stdout().split("\n"))
                .map(l -> l.split(":\\s+"))
                .filter(parts -> parts.length > 1)
                .map(parts -> parts[1].split("@")[0])
                .filter(n -> n.equals(Layout.BRIDGE) || n.startsWith("mesh-n"))
                .toList();
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
