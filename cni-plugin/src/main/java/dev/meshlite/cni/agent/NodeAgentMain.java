package dev.meshlite.cni.agent;

import dev.meshlite.cni.handoff.HandoffServer;
import dev.meshlite.cni.rules.CaptureConfig;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cni-agent}: the per-node agent, run inside the node's network namespace. */
@Command(name = "cni-agent", mixinStandardHelpOptions = true,
        description = "Enroll this node's ambient pods: capture rules, probe bypass, CNI plugin install.")
public final class NodeAgentMain implements Callable<Integer> {

    @Option(names = "--node", required = true)
    String node;
    @Option(names = "--kubeconfig", required = true)
    Path kubeconfig;
    @Option(names = "--socket", required = true, description = "The Unix socket the CNI plugin asks.")
    Path socket;
    @Option(names = "--ztunnel-socket", description = "The handoff socket ztunnel connects to (default: ztunnel.sock next to --socket).")
    Path ztunnelSocket;
    @Option(names = "--cni-conf-dir", required = true)
    Path confDir;
    @Option(names = "--cni-bin-dir", required = true)
    Path binDir;
    @Option(names = "--plugin-log", required = true)
    Path pluginLog;
    @Option(names = "--backend", defaultValue = "IPTABLES", description = "IPTABLES or NFTABLES")
    Capture.Backend backend;
    @Option(names = "--dns-capture", description = "Also send port 53 to ztunnel's DNS proxy.")
    boolean dns;

    public static void main(String[] args) {
        System.exit(new CommandLine(new NodeAgentMain()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Config config = Config.fromKubeconfig(Files.readString(kubeconfig));
        KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();
        CaptureConfig capture = CaptureConfig.defaults().withDns(dns);
        Path handoffSocket = ztunnelSocket != null ? ztunnelSocket : socket.resolveSibling("ztunnel.sock");
        NodeAgent agent = new NodeAgent(client, node, socket, new Capture(capture, backend),
                new ProbeBypass(capture.probeSourceIp()), new HandoffServer(handoffSocket));
        agent.start();
        String java = ProcessHandle.current().info().command().orElse("java");
        NodeInstall.install(confDir, binDir, socket, pluginLog, java, System.getProperty("java.class.path"));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                // The plugin goes first: with no agent, new pods would wait on a retryable error.
                NodeInstall.uninstall(confDir, binDir);
                agent.close();
                client.close();
            } catch (Exception e) {
                System.err.println("cni-agent shutdown: " + e);
            }
            stopped.countDown();
        }));
        stopped.await();
        return 0;
    }
}
