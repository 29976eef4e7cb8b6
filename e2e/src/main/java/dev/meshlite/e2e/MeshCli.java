package dev.meshlite.e2e;

import dev.meshlite.e2e.apiserver.ApiServer;
import dev.meshlite.e2e.cluster.Layout;
import dev.meshlite.e2e.controllers.ControllerManager;
import dev.meshlite.e2e.kubelet.Kubelet;
import dev.meshlite.e2e.kubeproxy.KubeProxy;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Entry point of the e2e module: the local cluster's commands and its long-running components. */
@Command(name = "mesh", mixinStandardHelpOptions = true,
        description = "The local cluster: a small multi-node Kubernetes made of network namespaces.",
        subcommands = {MeshCli.ApiServerCommand.class, MeshCli.KubeletCommand.class, MeshCli.KubeProxyCommand.class,
                ClusterCommands.Up.class, ClusterCommands.Down.class, ClusterCommands.Status.class,
                ClusterCommands.Exec.class, ClusterCommands.Component.class, Demo.class, AotTraining.class,
                dev.meshlite.e2e.bench.DataPlaneBench.class})
public final class MeshCli implements Callable<Integer> {

    public static void main(String[] args) {
        System.exit(new CommandLine(new MeshCli()).execute(args));
    }

    @Override
    public Integer call() {
        new CommandLine(this).usage(System.out);
        return 0;
    }

    /** Blocks until the JVM is asked to stop, then closes {@code resource}. */
    static void runUntilStopped(AutoCloseable resource) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                resource.close();
            } catch (Exception e) {
                System.err.println("shutdown: " + e);
            }
            stopped.countDown();
        }));
        stopped.await();
    }

    @Command(name = "apiserver", mixinStandardHelpOptions = true,
            description = "Run the local cluster's API server and controllers (a component of `up`).")
    static final class ApiServerCommand implements Callable<Integer> {
        @Option(names = "--state-dir", defaultValue = "/run/mesh/apiserver", description = "Where the API keeps its objects, CA and kubeconfigs.")
        Path stateDir;
        @Option(names = "--listen", split = ",", defaultValue = "127.0.0.1", description = "Addresses to serve on; the last one is the nodes' address.")
        List<String> listen;
        @Option(names = "--port", defaultValue = "6443")
        int port;
        @Option(names = "--service-cidr", defaultValue = "10.96.0.0/16")
        String serviceCidr;
        @Option(names = "--dns-dir", defaultValue = "/run/mesh/dns", description = "Where the per-namespace hosts files go.")
        Path dnsDir;

        @Override
        public Integer call() throws Exception {
            ApiServer server = ApiServer.start(new ApiServer.Config(stateDir, listen, port, serviceCidr));
            KubernetesClient client = client(stateDir.resolve("kubeconfig"));
            ControllerManager controllers = new ControllerManager(client, dnsDir);
            controllers.start();
            runUntilStopped(() -> {
                controllers.close();
                client.close();
                server.close();
            });
            return 0;
        }
    }

    @Command(name = "kubelet", mixinStandardHelpOptions = true,
            description = "Run kubelet-lite for one node (a component of `up`; runs inside the node's network namespace).")
    static final class KubeletCommand implements Callable<Integer> {
        @Option(names = "--node", required = true)
        String node;
        @Option(names = "--node-ip", required = true)
        String nodeIp;
        @Option(names = "--pod-cidr", required = true)
        String podCidr;
        @Option(names = "--state-dir", required = true)
        Path stateDir;
        @Option(names = "--kubeconfig", required = true)
        Path kubeconfig;

        @Override
        public Integer call() throws Exception {
            Path home = meshHome();
            List<Path> cniBins = new java.util.ArrayList<>(List.of(Path.of("/usr/lib/cni")));
            cniBins.add(stateDir.resolve("cni-bin")); // where the node's CNI agent installs the mesh plugin
            KubernetesClient client = client(kubeconfig);
            Kubelet kubelet = new Kubelet(new Kubelet.Config(node, nodeIp, podCidr, stateDir,
                    home.resolve("e2e/target/bin/mesh-sample"), cniBins), client);
            kubelet.start();
            runUntilStopped(() -> {
                kubelet.close();
                client.close();
            });
            return 0;
        }
    }

    @Command(name = "kube-proxy", mixinStandardHelpOptions = true,
            description = "Run kube-proxy-lite for one node (a component of `up`; runs inside the node's network namespace).")
    static final class KubeProxyCommand implements Callable<Integer> {
        @Option(names = "--node", required = true)
        String node;
        @Option(names = "--kubeconfig", required = true)
        Path kubeconfig;

        @Override
        public Integer call() throws Exception {
            KubernetesClient client = client(kubeconfig);
            KubeProxy proxy = new KubeProxy(client, Layout.podCidr(Layout.nodeIndex(node)));
            proxy.start();
            runUntilStopped(() -> {
                proxy.close();
                client.close();
            });
            return 0;
        }
    }

    public static KubernetesClient client(Path kubeconfig) throws java.io.IOException {
        Config config = Config.fromKubeconfig(java.nio.file.Files.readString(kubeconfig));
        config.setRequestTimeout(10_000);
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    static Path meshHome() {
        return Layout.meshHome();
    }
}
