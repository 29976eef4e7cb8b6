package dev.meshlite.cni.rules;

/**
 * What the in-pod capture rules depend on. The defaults are the wire facts of DESIGN §5, shared
 * with ztunnel: its own sockets carry {@link #ztunnelMark}, which the rules turn into the
 * connection mark {@link #connMark} so that replies follow the same path.
 *
 * @param outboundPort ztunnel's outbound capture port in the pod (15001)
 * @param inboundPlaintextPort ztunnel's plaintext inbound port (15006)
 * @param inboundHbonePort the HBONE port, never redirected (15008)
 * @param dnsPort ztunnel's DNS proxy port (15053), used when {@link #captureDns}
 * @param probeSourceIp the address kubelet probes are SNATed to on the node (169.254.7.127)
 * @param ztunnelMark the socket mark of ztunnel's own upstream sockets (0x539)
 * @param connMark the connection mark that routes replies through table {@link #routeTable} (0x111)
 * @param markMask the mask both marks are compared under (0xfff)
 * @param routeTable the routing table holding {@code local 0.0.0.0/0 dev lo} (100)
 * @param captureDns whether UDP and TCP port 53 go to ztunnel's DNS proxy
 */
public record CaptureConfig(int outboundPort, int inboundPlaintextPort, int inboundHbonePort, int dnsPort,
                            String probeSourceIp, int ztunnelMark, int connMark, int markMask, int routeTable,
                            boolean captureDns) {

    public CaptureConfig {
        for (int port : new int[] {outboundPort, inboundPlaintextPort, inboundHbonePort, dnsPort}) {
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " (expected: 1-65535)");
            }
        }
        if (routeTable < 1 || routeTable > 252) {
            throw new IllegalArgumentException("routeTable " + routeTable + " (expected: 1-252, not a reserved table)");
        }
        if ((ztunnelMark & ~markMask) != 0 || (connMark & ~markMask) != 0) {
            throw new IllegalArgumentException("marks " + hex(ztunnelMark) + "/" + hex(connMark)
                    + " (expected: inside the mask " + hex(markMask) + ")");
        }
    }

    public static CaptureConfig defaults() {
        return new CaptureConfig(15001, 15006, 15008, 15053, "169.254.7.127", 0x539, 0x111, 0xfff, 100, false);
    }

    public CaptureConfig withDns(boolean dns) {
        return new CaptureConfig(outboundPort, inboundPlaintextPort, inboundHbonePort, dnsPort, probeSourceIp,
                ztunnelMark, connMark, markMask, routeTable, dns);
    }

    static String hex(int v) {
        return "0x" + Integer.toHexString(v);
    }
}
