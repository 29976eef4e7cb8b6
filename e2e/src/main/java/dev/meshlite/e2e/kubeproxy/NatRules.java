package dev.meshlite.e2e.kubeproxy;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Builds the node's Service NAT rules as one {@code iptables-restore --noflush} input: a
 * {@code MESH-SERVICES} chain matching each ClusterIP:port, a chain per service port choosing an
 * endpoint with equal probability, and a chain per endpoint doing the DNAT. Chains of services
 * that went away are flushed and deleted in the same transaction. Pure: tested by table.
 */
public final class NatRules {

    /** One service port and the ready endpoints behind it. */
    public record ServicePort(String namespace, String name, String portName, String clusterIp, int port,
                              String protocol, List<Endpoint> endpoints) {
        String id() {
            return namespace + "/" + name + ":" + (portName == null || portName.isEmpty() ? Integer.toString(port) : portName);
        }
    }

    public record Endpoint(String ip, int port) {
    }

    public static final String SERVICES_CHAIN = "MESH-SERVICES";
    public static final String POSTROUTING_CHAIN = "MESH-POSTROUTING";

    private NatRules() {
    }

    /** Marks a connection to masquerade: a pod that reached itself through its own Service. */
    static final String MASQ_MARK = "0x4000/0x4000";

    /**
     * @param existingChains the MESH-* chains the nat table has now (from {@code iptables -t nat -S})
     * @param podCidr when not null, DNATed traffic from this pod CIDR back into it is masqueraded,
     *     so an endpoint on the same bridge answers through the node, where the DNAT is undone
     *     (needed only where bridged traffic does not pass the node's iptables)
     */
    public static String build(List<ServicePort> ports, Set<String> existingChains, String podCidr) {
        List<String> declare = new ArrayList<>(List.of(SERVICES_CHAIN, POSTROUTING_CHAIN));
        List<String> rules = new ArrayList<>();
        Set<String> wanted = new TreeSet<>(declare);
        for (ServicePort sp : ports.stream().sorted(java.util.Comparator.comparing(ServicePort::id)).toList()) {
            if (sp.endpoints().isEmpty() || sp.clusterIp() == null || sp.clusterIp().isEmpty()
                    || sp.clusterIp().equals("None")) {
                continue;
            }
            String proto = sp.protocol() == null ? "tcp" : sp.protocol().toLowerCase(Locale.ROOT);
            String svcChain = "MESH-SVC-" + hash(sp.id());
            declare.add(svcChain);
            wanted.add(svcChain);
            rules.add("-A " + SERVICES_CHAIN + " -d " + sp.clusterIp() + "/32 -p " + proto + " -m " + proto
                    + " --dport " + sp.port() + " -m comment --comment \"" + sp.id() + "\" -j " + svcChain);
            List<Endpoint> eps = sp.endpoints().stream()
                    .sorted(java.util.Comparator.comparing(Endpoint::ip).thenComparingInt(Endpoint::port)).toList();
            for (int i = 0; i < eps.size(); i++) {
                Endpoint ep = eps.get(i);
                String sepChain = "MESH-SEP-" + hash(sp.id() + "@" + ep.ip() + ":" + ep.port());
                declare.add(sepChain);
                wanted.add(sepChain);
                int remaining = eps.size() - i;
                if (remaining > 1) {
                    rules.add("-A " + svcChain + " -m statistic --mode random --probability "
                            + String.format(Locale.ROOT, "%.10f", 1.0 / remaining) + " -j " + sepChain);
                } else {
                    rules.add("-A " + svcChain + " -j " + sepChain);
                }
                rules.add("-A " + sepChain + " -s " + ep.ip() + "/32 -j MARK --set-xmark " + MASQ_MARK);
                rules.add("-A " + sepChain + " -p " + proto + " -m " + proto + " -j DNAT --to-destination "
                        + ep.ip() + ":" + ep.port());
            }
        }
        rules.add("-A " + POSTROUTING_CHAIN + " -m mark --mark " + MASQ_MARK + " -j MASQUERADE");
        if (podCidr != null) {
            rules.add("-A " + POSTROUTING_CHAIN + " -s " + podCidr + " -d " + podCidr
                    + " -m conntrack --ctstate DNAT -j MASQUERADE");
        }
        List<String> stale = existingChains.stream()
                .filter(c -> (c.startsWith("MESH-SVC-") || c.startsWith("MESH-SEP-")) && !wanted.contains(c))
                .sorted().toList();
        StringBuilder out = new StringBuilder("*nat\n");
        for (String c : declare) {
            out.append(':').append(c).append(" - [0:0]\n");
        }
        for (String c : stale) {
            out.append(':').append(c).append(" - [0:0]\n");
        }
        for (String r : rules) {
            out.append(r).append('\n');
        }
        for (String c : stale) {
            out.append("-X ").append(c).append('\n');
        }
        return out.append("COMMIT\n").toString();
    }

    static String hash(String s) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().withUpperCase().formatHex(d, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
