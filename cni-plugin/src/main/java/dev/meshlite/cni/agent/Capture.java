package dev.meshlite.cni.agent;

import dev.meshlite.cni.rules.CaptureConfig;
import dev.meshlite.cni.rules.InpodRules;
import java.util.ArrayList;
import java.util.List;

/**
 * Installs and removes the capture rules inside one pod's network namespace, entered with
 * {@code nsenter --net=PATH}. Both directions are idempotent: applying twice leaves one copy,
 * removing what is not there is not an error, so reconciling after a crash is just "apply what
 * should be, remove what should not". Each direction is one process ({@link CaptureScript}).
 * Stateless: pods' namespaces are worked on from several threads at once.
 */
final class Capture {

    enum Backend { IPTABLES, NFTABLES }

    private final CaptureConfig config;
    private final Backend backend;
    private final String applyScript;
    private final String removeScript;

    Capture(CaptureConfig config, Backend backend) {
        this.config = config;
        this.backend = backend;
        this.applyScript = CaptureScript.apply(config, backend);
        this.removeScript = CaptureScript.remove(config, backend);
    }

    void apply(String netnsPath) {
        Cmd.run("capture rules in " + netnsPath, in(netnsPath, "sh", "-c", applyScript), null);
    }

    /** Whether the namespace carries our outbound redirect now. */
    boolean isApplied(String netnsPath) {
        return backend == Backend.IPTABLES
                ? Cmd.ok(in(netnsPath, "iptables", "-t", "nat", "-C", InpodRules.OUTPUT, "!", "-d", "127.0.0.1/32",
                        "-p", "tcp", "-m", "tcp", "--tcp-flags", "FIN,SYN,RST,ACK", "SYN", "-j", "REDIRECT", "--to-ports",
                        Integer.toString(config.outboundPort())))
                : Cmd.ok(in(netnsPath, "nft", "list", "table", "inet", "istio-inpod"));
    }

    void remove(String netnsPath) {
        Cmd.run("capture removal in " + netnsPath, in(netnsPath, "sh", "-c", removeScript), null);
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
