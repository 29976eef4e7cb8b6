package dev.meshlite.e2e.cluster;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What the local cluster needs from the machine, each missing piece named with how to get it. */
public final class Preflight {

    /** A tool and the Debian package that provides it. */
    private record Tool(String path, String pkg) {
    }

    private static final List<Tool> TOOLS = List.of(
            new Tool("/usr/sbin/ip", "iproute2"),
            new Tool("/usr/sbin/iptables", "iptables"),
            new Tool("/usr/sbin/iptables-restore", "iptables"),
            new Tool("/usr/bin/nsenter", "util-linux"),
            new Tool("/usr/bin/setsid", "util-linux"),
            new Tool("/usr/lib/cni/bridge", "containernetworking-plugins"),
            new Tool("/usr/lib/cni/host-local", "containernetworking-plugins"),
            new Tool("/usr/lib/cni/loopback", "containernetworking-plugins"));

    private Preflight() {
    }

    /** Returns one line per problem; empty when the machine can run the cluster. */
    public static List<String> problems() {
        return problems(isRoot(), t -> Files.isExecutable(Path.of(t)) || onPath(Path.of(t).getFileName().toString()));
    }

    static List<String> problems(boolean root, java.util.function.Predicate<String> toolExists) {
        List<String> problems = new ArrayList<>();
        if (!root) {
            problems.add("not root: the local cluster creates network namespaces and iptables rules; run as root (sudo ./mesh ...)");
        }
        for (Tool t : TOOLS) {
            if (!toolExists.test(t.path())) {
                problems.add("missing " + t.path() + ": apt-get install -y " + t.pkg());
            }
        }
        return problems;
    }

    public static boolean isRoot() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        } catch (java.io.IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static boolean onPath(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
                return true;
            }
        }
        return false;
    }
}
