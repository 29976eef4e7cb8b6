package dev.meshlite.ztunnel;

import dev.meshlite.cni.handoff.PodInfo;
import dev.meshlite.ztunnel.config.ZtunnelConfig;
import dev.meshlite.ztunnel.dns.DnsUpstreams;
import dev.meshlite.ztunnel.metrics.AccessLog;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ztunnel}: the per-node L4 proxy (in-pod mode), or one pod's own proxy (dedicated mode). */
@Command(name = "ztunnel", mixinStandardHelpOptions = true,
        description = "The per-node L4 proxy: captures enrolled pods' traffic and carries it in HBONE.")
public final class Main implements Callable<Integer> {

    enum Mode { inpod, dedicated }

    @Option(names = "--mode", defaultValue = "inpod", description = "inpod (pods from the node agent) or dedicated (serve the pod this runs in); default: ${DEFAULT-VALUE}")
    Mode mode;

    @Option(names = "--node", defaultValue = "${env:NODE_NAME}", required = true, description = "this node's name (default: $NODE_NAME)")
    String node;

    @Option(names = "--trust-domain", defaultValue = "cluster.local", description = "default: ${DEFAULT-VALUE}")
    String trustDomain;

    @Option(names = "--cluster", defaultValue = "Kubernetes", description = "cluster name for baggage (default: ${DEFAULT-VALUE})")
    String cluster;

    @Option(names = "--control-plane", defaultValue = "istiod.istio-system.svc:15012", description = "istiod-lite host:port, CA and xDS (default: ${DEFAULT-VALUE})")
    String controlPlane;

    @Option(names = "--ca-root", required = true, description = "PEM roots that verify the control plane")
    Path caRoot;

    @Option(names = "--ca-authority", defaultValue = "istiod.istio-system.svc", description = "name to verify the control plane's certificate for (default: ${DEFAULT-VALUE})")
    String caAuthority;

    @Option(names = "--token-file", required = true, description = "bearer token for the control plane (re-read on each call)")
    Path tokenFile;

    @Option(names = "--handoff-socket", description = "the node agent's socket (in-pod mode)")
    Path handoffSocket;

    @Option(names = "--admin-address", defaultValue = "127.0.0.1:15000", description = "/config_dump (default: ${DEFAULT-VALUE})")
    String adminAddress;

    @Option(names = "--metrics-address", defaultValue = "0.0.0.0:15020", description = "Prometheus /metrics (default: ${DEFAULT-VALUE})")
    String metricsAddress;

    @Option(names = "--readiness-address", defaultValue = "0.0.0.0:15021", description = "/healthz/ready (default: ${DEFAULT-VALUE})")
    String readinessAddress;

    @Option(names = "--access-log", defaultValue = "TEXT", description = "TEXT or JSON (default: ${DEFAULT-VALUE})")
    AccessLog.Format accessLog;

    @Option(names = "--drain", defaultValue = "PT5S", description = "on SIGTERM, how long open connections may finish (ISO-8601, default: ${DEFAULT-VALUE})")
    Duration drain;

    @Option(names = "--pod-drain", defaultValue = "PT5S", description = "when the node agent removes a pod, how long its listeners stay open for tunnels other nodes still send it (ISO-8601, PT0S closes them at once; default: ${DEFAULT-VALUE})")
    Duration podDrain;

    @Option(names = "--certificate-ttl", defaultValue = "PT24H", description = "requested workload certificate lifetime (default: ${DEFAULT-VALUE})")
    Duration certificateTtl;

    @Option(names = "--dns-capture", description = "answer DNS on :15053 in every pod (pair with the node agent's --dns-capture)")
    boolean dnsCapture;

    @Option(names = "--dns-upstream", defaultValue = "resolv.conf", description = "resolvers for names the mesh does not know: IP[:port],... or resolv.conf (this process's /etc/resolv.conf) or none (default: ${DEFAULT-VALUE})")
    String dnsUpstream;

    @Option(names = "--cluster-domain", defaultValue = "cluster.local", description = "the Services' DNS domain (default: ${DEFAULT-VALUE})")
    String clusterDomain;

    @Option(names = "--pod-uid", description = "dedicated mode: the pod's uid")
    String podUid;
    @Option(names = "--pod-name", description = "dedicated mode: the pod's name")
    String podName;
    @Option(names = "--pod-namespace", description = "dedicated mode: the pod's namespace")
    String podNamespace;
    @Option(names = "--service-account", defaultValue = "default", description = "dedicated mode: the pod's service account")
    String serviceAccount;
    @Option(names = "--pod-ip", description = "dedicated mode: the pod's IP")
    String podIp;

    @Override
    public Integer call() throws Exception {
        PodInfo dedicated = null;
        if (mode == Mode.dedicated) {
            if (podUid == null || podName == null || podNamespace == null || podIp == null) {
                throw new CommandLine.ParameterException(new CommandLine(this),
                        "dedicated mode needs --pod-uid, --pod-name, --pod-namespace and --pod-ip");
            }
            dedicated = new PodInfo(podUid, podName, podNamespace, serviceAccount, List.of(podIp));
        } else if (handoffSocket == null) {
            throw new CommandLine.ParameterException(new CommandLine(this), "in-pod mode needs --handoff-socket");
        }
        ZtunnelConfig config;
        try {
            config = new ZtunnelConfig(node, trustDomain, cluster, address(controlPlane, "--control-plane"),
                    caRoot, caAuthority, tokenFile, mode == Mode.inpod ? handoffSocket : null,
                    address(adminAddress, "--admin-address"), address(metricsAddress, "--metrics-address"),
                    address(readinessAddress, "--readiness-address"), accessLog, drain, podDrain, certificateTtl, dedicated,
                    dnsCapture, clusterDomain, dnsCapture ? DnsUpstreams.parse(dnsUpstream, Path.of("/etc/resolv.conf"))
                            : List.of());
        } catch (IllegalArgumentException e) {
            // an operator's mistake: one line naming the option, not a stack trace
            throw new CommandLine.ParameterException(new CommandLine(this), e.getMessage());
        }
        Ztunnel z = Ztunnel.start(config);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            z.close();
            stopped.countDown();
        }, "ztunnel-shutdown"));
        stopped.await();
        return 0;
    }

    static InetSocketAddress address(String hostPort, String option) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException(option + " " + hostPort + " (expected: host:port)");
        }
        try {
            return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + " " + hostPort + " (expected: host:port)", e);
        }
    }

    public static void main(String[] args) {
        dev.meshlite.hbone.transport.NettyDefaults.forProxy();
        System.exit(new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }
}
