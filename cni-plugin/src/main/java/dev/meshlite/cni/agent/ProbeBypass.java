package dev.meshlite.cni.agent;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * On the node: kubelet probes to a captured pod leave from the node's own addresses and are
 * SNATed to the probe address, which the pod's rules let through uncaptured (DESIGN §5). One
 * rule per captured pod IP in a chain of our own, hooked into nat POSTROUTING.
 *
 * <p>The chain is ours alone, so it is written whole: {@link #sync} replaces its content with
 * exactly the given addresses in one {@code iptables-restore} (declaring the chain flushes it, in
 * the same transaction as the refill, so no captured pod is ever without its rule). That is one
 * process per reconcile pass rather than two per pod, and idempotent by construction. Not
 * thread-safe: the agent calls it from its worker only.
 */
final class ProbeBypass {

    static final String CHAIN = "MESH-PROBE-SNAT";
    private final String probeSourceIp;
    /** The addresses the chain holds since the last {@link #sync}. */
    private Set<String> current = Set.of();

    ProbeBypass(String probeSourceIp) {
        this.probeSourceIp = probeSourceIp;
    }

    void init() {
        Cmd.ok(List.of("iptables", "-t", "nat", "-N", CHAIN));
        if (!Cmd.ok(List.of("iptables", "-t", "nat", "-C", "POSTROUTING", "-j", CHAIN))) {
            Cmd.run(List.of("iptables", "-t", "nat", "-I", "POSTROUTING", "1", "-j", CHAIN), null);
        }
    }

    /** The chain holds the rule for exactly these pod IPs (empty strings are ignored). */
    void sync(Set<String> podIps) {
        Set<String> want = new TreeSet<>(podIps);
        want.remove("");
        Cmd.run(List.of("iptables-restore", "--noflush"), restoreInput(want));
        current = Set.copyOf(want);
    }

    /** The chain as it is now plus {@code podIp}. */
    void add(String podIp) {
        Set<String> want = new TreeSet<>(current);
        want.add(podIp);
        sync(want);
    }

    String restoreInput(Set<String> podIps) {
        StringBuilder s = new StringBuilder("*nat\n:").append(CHAIN).append(" - [0:0]\n");
        for (String ip : podIps) {
            s.append("-A ").append(CHAIN).append(" -d ").append(ip).append("/32 -p tcp -m addrtype --src-type LOCAL -j SNAT --to-source ")
                    .append(probeSourceIp).append('\n');
        }
        return s.append("COMMIT\n").toString();
    }
}
