package dev.meshlite.ztunnel.config;

import dev.meshlite.ztunnel.metrics.AccessLog;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Everything ztunnel is told at start-up, read once (flags, see {@code Main}) and passed whole.
 *
 * @param controlPlane istiod-lite's gRPC address (CA and xDS on one port, 15012)
 * @param caRoot       PEM roots to verify the control plane's serving certificate
 * @param caAuthority  the name the control plane's certificate is verified for
 * @param tokenFile    the bearer token presented to the control plane, re-read on every call so a
 *                     rotated token is picked up
 * @param handoffSocket the node agent's socket (in-pod mode)
 * @param drain        how long connections may finish after SIGTERM
 * @param podDrain     how long a pod the node agent removed keeps its listeners (ztunnels elsewhere
 *                     still send it tunnels until istiod-lite's push reaches them); zero closes
 *                     them at once
 * @param dedicatedPod  dedicated mode: the one pod served, from inside its own namespace (the
 *                      sidecar shape, for comparisons); {@code null} in in-pod mode
 * @param dnsCapture    whether every served pod gets the DNS proxy on :15053 (the node agent's
 *                      {@code --dns-capture} redirects its port 53 there)
 * @param clusterDomain the Services' domain: unknown names in it are NXDOMAIN without upstreams
 * @param dnsUpstreams  where names the mesh does not know are resolved (empty: nowhere)
 */
public record ZtunnelConfig(String node, String trustDomain, String cluster, InetSocketAddress controlPlane,
                            Path caRoot, String caAuthority, Path tokenFile, Path handoffSocket,
                            InetSocketAddress adminAddress, InetSocketAddress metricsAddress,
                            InetSocketAddress readinessAddress, AccessLog.Format accessLogFormat, Duration drain,
                            Duration podDrain, Duration certificateTtl, dev.meshlite.cni.handoff.PodInfo dedicatedPod,
                            boolean dnsCapture, String clusterDomain, List<InetSocketAddress> dnsUpstreams) {

    public static final java.time.Duration MIN_CERTIFICATE_TTL = java.time.Duration.ofSeconds(20);

    public ZtunnelConfig {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(trustDomain, "trustDomain");
        Objects.requireNonNull(controlPlane, "controlPlane");
        Objects.requireNonNull(caRoot, "caRoot");
        Objects.requireNonNull(tokenFile, "tokenFile");
        Objects.requireNonNull(clusterDomain, "clusterDomain");
        dnsUpstreams = List.copyOf(dnsUpstreams);
        if (clusterDomain.isBlank() || clusterDomain.startsWith(".") || clusterDomain.endsWith(".")) {
            throw new IllegalArgumentException("--cluster-domain '" + clusterDomain + "' (expected e.g. cluster.local)");
        }
        if (drain.isNegative()) {
            throw new IllegalArgumentException("drain: " + drain + " (expected: >= 0)");
        }
        if (podDrain.isNegative()) {
            throw new IllegalArgumentException("--pod-drain " + podDrain + " (expected: >= 0)");
        }
        if (dedicatedPod != null && dnsCapture) {
            // Its forwarding socket would live in the pod's namespace, where the capture rules
            // send port 53 straight back to the proxy.
            throw new IllegalArgumentException("--dns-capture is for in-pod mode: in dedicated mode ztunnel shares the"
                    + " pod's network namespace, so its own upstream DNS queries would be captured again");
        }
        if (dedicatedPod != null && handoffSocket != null) {
            throw new IllegalArgumentException("dedicated mode serves one pod: no node agent socket expected");
        }
        // Renewal comes half way through the life left; below 20 s, the CA round trip and the
        // handshakes of a renewal become a real share of it.
        if (certificateTtl.compareTo(MIN_CERTIFICATE_TTL) < 0) {
            throw new IllegalArgumentException("--certificate-ttl " + certificateTtl + " (expected: at least "
                    + MIN_CERTIFICATE_TTL + ")");
        }
    }
}
