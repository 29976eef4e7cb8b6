package dev.meshlite.cni.agent;

import java.util.List;

/**
 * On the node: kubelet probes to a captured pod leave from the node's own addresses and are
 * SNATed to the probe address, which the pod's rules let through uncaptured (DESIGN §5). One
 * rule per captured pod IP in a chain of our own, hooked into nat POSTROUTING.
 */
final class ProbeBypass {

    static final String CHAIN = "MESH-PROBE-SNAT";
    private final String probeSourceIp;

    ProbeBypass(String probeSourceIp) {
        this.probeSourceIp = probeSourceIp;
    }

    void init() {
        Cmd.ok(List.of("iptables", "-t", "nat", "-N", CHAIN));
        if (!Cmd.ok(List.of("iptables", "-t", "nat", "-C", "POSTROUTING", "-j", CHAIN))) {
            Cmd.run(List.of("iptables", "-t", "nat", "-I", "POSTROUTING", "1", "-j", CHAIN), null);
        }
    }

    void add(String podIp) {
        if (!Cmd.ok(rule("-C", podIp))) {
            Cmd.run(rule("-A", podIp), null);
        }
    }

    void remove(String podIp) {
        while (Cmd.ok(rule("-D", podIp))) {
            // every copy goes
        }
    }

    private List<String> rule(String op, String podIp) {
        return List.of("iptables", "-t", "nat", op, CHAIN, "-d", podIp + "/32", "-p", "tcp",
                "-m", "addrtype", "--src-type", "LOCAL", "-j", "SNAT", "--to-source", probeSourceIp);
    }
}
