package dev.meshlite.cni.agent;

import dev.meshlite.cni.rules.CaptureConfig;
import dev.meshlite.cni.rules.InpodRules;
import java.util.ArrayList;
import java.util.List;

/**
 * Installs and removes the capture rules inside one pod's network namespace, entered with
 * {@code nsenter --net=PATH}. Both directions are idempotent: applying twice leaves one copy,
 * removing what is not there is not an error, so reconciling after a crash is just "apply what
 * should be, remove what should not".
 */
final class Capture {

    enum Backend { IPTABLES, NFTABLES }

    private final CaptureConfig config;
    private final Backend backend;

    Capture(CaptureConfig config, Backend backend) {
        this.config = config;
        this.backend = backend;
    }

    void apply(String netnsPath) {
        if (backend == Backend.IPTABLES) {
            Cmd.run(in(netnsPath, "iptables-restore", "--noflush"), InpodRules.iptables(config));
            for (List<String> jump : InpodRules.iptablesJumps()) {
                if (!Cmd.ok(in(netnsPath, iptables(jump, "-C")))) {
                    Cmd.run(in(netnsPath, iptables(jump, "-A")), null);
                }
            }
        } else {
            Cmd.run(in(netnsPath, "nft", "-f", "-"), InpodRules.nftables(config));
        }
        String rules = Cmd.run(in(netnsPath, "ip", "-4", "rule", "show"), null);
        List<List<String>> routes = InpodRules.routes(config);
        if (!rules.contains("lookup " + config.routeTable())) {
            Cmd.run(in(netnsPath, ip(routes.get(0))), null);
        }
        // "show table N" fails while the table does not exist yet: the same as empty
        String table;
        try {
            table = Cmd.run(in(netnsPath, "ip", "-4", "route", "show", "table", Integer.toString(config.routeTable())), null);
        } catch (IllegalStateException e) {
            table = "";
        }
        if (table.isBlank()) {
            Cmd.run(in(netnsPath, ip(routes.get(1))), null);
        }
    }

    /** Whether the namespace carries our outbound redirect now. */
    boolean isApplied(String netnsPath) {
        return backend == Backend.IPTABLES
                ? Cmd.ok(in(netnsPath, "iptables", "-t", "nat", "-C", InpodRules.OUTPUT, "!", "-d", "127.0.0.1/32",
                        "-p", "tcp", "-j", "REDIRECT", "--to-ports", Integer.toString(config.outboundPort())))
                : Cmd.ok(in(netnsPath, "nft", "list", "table", "inet", "istio-inpod"));
    }

    void remove(String netnsPath) {
        if (backend == Backend.IPTABLES) {
            for (List<String> jump : InpodRules.iptablesJumps()) {
                while (Cmd.ok(in(netnsPath, iptables(jump, "-D")))) {
                    // every copy goes
                }
            }
            for (String table : List.of("nat", "mangle")) {
                for (String chain : List.of(InpodRules.PRERT, InpodRules.OUTPUT)) {
                    Cmd.ok(in(netnsPath, "iptables", "-t", table, "-F", chain));
                    Cmd.ok(in(netnsPath, "iptables", "-t", table, "-X", chain));
                }
            }
        } else {
            Cmd.ok(in(netnsPath, "nft", "delete", "table", "inet", "istio-inpod"));
        }
        for (List<String> r : InpodRules.routesRemoval(config)) {
            Cmd.ok(in(netnsPath, ip(r)));
        }
    }

    private static List<String> iptables(List<String> jump, String op) {
        // jump = [-t, table, CHAIN, -j, TARGET]
        List<String> argv = new ArrayList<>(List.of("iptables", jump.get(0), jump.get(1), op));
        argv.addAll(jump.subList(2, jump.size()));
        return argv;
    }

    private static List<String> ip(List<String> args) {
        List<String> argv = new ArrayList<>(List.of("ip"));
        argv.addAll(args);
        return argv;
    }

    private static List<String> in(String netnsPath, String... argv) {
        return in(netnsPath, List.of(argv));
    }

    private static List<String> in(String netnsPath, List<String> argv) {
        List<String> all = new ArrayList<>(List.of("nsenter", "--net=" + netnsPath, "--"));
        all.addAll(argv);
        return all;
    }
}
