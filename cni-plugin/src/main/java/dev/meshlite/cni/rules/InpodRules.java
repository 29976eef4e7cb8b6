package dev.meshlite.cni.rules;

import static dev.meshlite.cni.rules.CaptureConfig.hex;

import java.util.List;

/**
 * The capture rules installed inside an enrolled pod's network namespace (DESIGN §5), built as
 * text by pure code so they can be compared with golden files:
 * <ul>
 *   <li>mangle: a packet carrying ztunnel's socket mark gives its connection the connection mark,
 *       and outgoing packets of such connections get it back as their mark;</li>
 *   <li>nat OUTPUT: traffic to the probe address, marked traffic and traffic via {@code lo} is
 *       left alone; any other TCP is redirected to ztunnel's outbound port;</li>
 *   <li>nat PREROUTING: traffic from the probe address is left alone; TCP that is not for
 *       127.0.0.1, not for the HBONE port and not marked goes to the plaintext inbound port;</li>
 *   <li>routing: the connection mark selects a table whose only route is {@code local 0.0.0.0/0
 *       dev lo}, so replies to redirected connections come back to ztunnel's sockets.</li>
 * </ul>
 * Everything lives in chains of our own ({@code ISTIO_*}, the names Istio's tools look for), so
 * removal is exact and never touches rules the pod had before.
 */
public final class InpodRules {

    public static final String PRERT = "ISTIO_PRERT";
    public static final String OUTPUT = "ISTIO_OUTPUT";

    /**
     * Only a connection's first packet (SYN without ACK) is redirected. A pod enrolled while it
     * runs has connections the kernel only starts tracking once these rules exist; their next
     * packet would otherwise be taken for a new connection and sent to ztunnel, which knows
     * nothing of it, and the kernel would reset them (or they would stall). So connections opened
     * before enrollment finish on their old path, unmeshed, and every new one is captured. (Istio
     * resets them instead.) Written as iptables-save prints {@code --syn}.
     */
    public static final String SYN = "--tcp-flags FIN,SYN,RST,ACK SYN";
    static final String NFT_SYN = "tcp flags & (fin | syn | rst | ack) == syn";

    private InpodRules() {
    }

    /** Input for {@code iptables-restore --noflush}: declares (and so flushes) our chains, then fills them. */
    public static String iptables(CaptureConfig c) {
        String mark = hex(c.ztunnelMark()) + "/" + hex(c.markMask());
        String conn = hex(c.connMark()) + "/" + hex(c.markMask());
        StringBuilder s = new StringBuilder();
        s.append("*mangle\n")
                .append(':').append(PRERT).append(" - [0:0]\n")
                .append(':').append(OUTPUT).append(" - [0:0]\n")
                .append("-A ").append(PRERT).append(" -m mark --mark ").append(mark)
                .append(" -j CONNMARK --set-xmark ").append(conn).append('\n')
                .append("-A ").append(OUTPUT).append(" -m connmark --mark ").append(conn)
                .append(" -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n")
                .append("COMMIT\n");
        s.append("*nat\n")
                .append(':').append(PRERT).append(" - [0:0]\n")
                .append(':').append(OUTPUT).append(" - [0:0]\n")
                .append("-A ").append(PRERT).append(" -s ").append(c.probeSourceIp()).append("/32 -p tcp -j ACCEPT\n")
                .append("-A ").append(PRERT).append(" ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport ")
                .append(c.inboundHbonePort()).append(" ").append(SYN).append(" -m mark ! --mark ").append(mark)
                .append(" -j REDIRECT --to-ports ").append(c.inboundPlaintextPort()).append('\n')
                .append("-A ").append(OUTPUT).append(" -d ").append(c.probeSourceIp()).append("/32 -p tcp -j ACCEPT\n")
                .append("-A ").append(OUTPUT).append(" -p tcp -m mark --mark ").append(conn).append(" -j ACCEPT\n")
                .append("-A ").append(OUTPUT).append(" -p tcp -m mark --mark ").append(mark).append(" -j ACCEPT\n")
                .append("-A ").append(OUTPUT).append(" ! -d 127.0.0.1/32 -o lo -j ACCEPT\n");
        if (c.captureDns()) {
            for (String proto : List.of("udp", "tcp")) {
                s.append("-A ").append(OUTPUT).append(" ! -d 127.0.0.1/32 -p ").append(proto).append(" -m ").append(proto)
                        .append(" --dport 53").append(proto.equals("tcp") ? " " + SYN : "")
                        .append(" -j REDIRECT --to-ports ").append(c.dnsPort()).append('\n');
            }
        }
        s.append("-A ").append(OUTPUT).append(" ! -d 127.0.0.1/32 -p tcp -m tcp ").append(SYN).append(" -j REDIRECT --to-ports ")
                .append(c.outboundPort()).append('\n')
                .append("COMMIT\n");
        return s.toString();
    }

    /** The jumps from the built-in chains into ours, as {@code iptables} argument lists (table first). */
    public static List<List<String>> iptablesJumps() {
        return List.of(
                List.of("-t", "mangle", "PREROUTING", "-j", PRERT),
                List.of("-t", "mangle", "OUTPUT", "-j", OUTPUT),
                List.of("-t", "nat", "PREROUTING", "-j", PRERT),
                List.of("-t", "nat", "OUTPUT", "-j", OUTPUT));
    }

    /** The same rules as one nftables table ({@code nft -f}); deleting the table removes them all. */
    public static String nftables(CaptureConfig c) {
        String mask = hex(c.markMask());
        String mark = hex(c.ztunnelMark());
        String conn = hex(c.connMark());
        StringBuilder s = new StringBuilder();
        s.append("table inet istio-inpod\n")
                .append("delete table inet istio-inpod\n")
                .append("table inet istio-inpod {\n")
                .append("  chain mangle-prerouting {\n")
                .append("    type filter hook prerouting priority -150; policy accept;\n")
                .append("    meta mark & ").append(mask).append(" == ").append(mark)
                .append(" ct mark set ct mark & ").append(hex(~c.markMask())).append(" | ").append(conn).append('\n')
                .append("  }\n")
                .append("  chain mangle-output {\n")
                .append("    type route hook output priority -150; policy accept;\n")
                .append("    ct mark & ").append(mask).append(" == ").append(conn).append(" meta mark set ct mark\n")
                .append("  }\n")
                .append("  chain nat-prerouting {\n")
                .append("    type nat hook prerouting priority -100; policy accept;\n")
                .append("    ip saddr ").append(c.probeSourceIp()).append(" meta l4proto tcp accept\n")
                .append("    ip daddr != 127.0.0.1 tcp dport != ").append(c.inboundHbonePort()).append(' ').append(NFT_SYN)
                .append(" meta mark & ").append(mask).append(" != ").append(mark)
                .append(" redirect to :").append(c.inboundPlaintextPort()).append('\n')
                .append("  }\n")
                .append("  chain nat-output {\n")
                .append("    type nat hook output priority -100; policy accept;\n")
                .append("    ip daddr ").append(c.probeSourceIp()).append(" meta l4proto tcp accept\n")
                .append("    meta l4proto tcp meta mark & ").append(mask).append(" == ").append(conn).append(" accept\n")
                .append("    meta l4proto tcp meta mark & ").append(mask).append(" == ").append(mark).append(" accept\n")
                .append("    ip daddr != 127.0.0.1 oifname \"lo\" accept\n");
        if (c.captureDns()) {
            s.append("    ip daddr != 127.0.0.1 udp dport 53 redirect to :").append(c.dnsPort()).append('\n')
                    .append("    ip daddr != 127.0.0.1 tcp dport 53 ").append(NFT_SYN).append(" redirect to :").append(c.dnsPort())
                    .append('\n');
        }
        s.append("    ip daddr != 127.0.0.1 ").append(NFT_SYN).append(" redirect to :").append(c.outboundPort()).append('\n')
                .append("  }\n")
                .append("}\n");
        return s.toString();
    }

    /** The policy routing both backends need, as {@code ip} argument lists. */
    public static List<List<String>> routes(CaptureConfig c) {
        String table = Integer.toString(c.routeTable());
        return List.of(
                List.of("-4", "rule", "add", "fwmark", hex(c.connMark()) + "/" + hex(c.markMask()),
                        "pref", "32764", "lookup", table),
                List.of("-4", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", table));
    }

    /** Removes exactly what {@link #routes} added. */
    public static List<List<String>> routesRemoval(CaptureConfig c) {
        String table = Integer.toString(c.routeTable());
        return List.of(
                List.of("-4", "rule", "del", "fwmark", hex(c.connMark()) + "/" + hex(c.markMask()),
                        "pref", "32764", "lookup", table),
                List.of("-4", "route", "flush", "table", table));
    }
}
