package dev.meshlite.e2e.cluster;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code ./mesh up}: the underlay bridge, the API server, then per node a network namespace on the
 * bridge with routes to the other nodes' pod CIDRs, its CNI config, its kubelet-lite and
 * kube-proxy-lite. Returns once every node reports Ready.
 */
public final class ClusterUp {

    private final PrintStream out;
    private final Components components = new Components(Layout.stateDir());
    private Duration certificateTtl;

    public ClusterUp(PrintStream out) {
        this.out = out;
    }

    /**
     * The workload-certificate lifetime every ztunnel asks for (ztunnel's default, 24 h, when not
     * set). A short one makes renewal happen within a test: it compresses time, it changes nothing
     * else.
     */
    public ClusterUp withCertificateTtl(Duration ttl) {
        if (ttl != null && ttl.compareTo(Duration.ofSeconds(20)) < 0) {
            throw new IllegalArgumentException("--certificate-ttl " + ttl + " (expected: at least PT20S)");
        }
        this.certificateTtl = ttl;
        return this;
    }

    public void up(int nodes, Duration timeout) throws Exception {
        up(nodes, timeout, false);
    }

    /**
     * @param mesh also run the data plane on every node: the CNI node agent (enrolls pods of
     *     ambient namespaces) and ztunnel (carries their traffic), each with the node's credential
     *     for istiod-lite.
     */
    public void up(int nodes, Duration timeout, boolean mesh) throws Exception {
        if (nodes < 1 || nodes > Layout.MAX_NODES) {
            throw new IllegalArgumentException("--nodes " + nodes + " (expected: 1-" + Layout.MAX_NODES + ")");
        }
        Instant start = Instant.now();
        Files.createDirectories(Layout.stateDir());
        Files.createDirectories(Layout.logDir());
        Files.createDirectories(Layout.dnsDir());
        Files.writeString(Layout.stateDir().resolve("cluster"), "nodes=" + nodes + "\nstarted=" + start + "\n");

        underlay();
        startApiServer();
        installCrds();
        for (int i = 1; i <= nodes; i++) {
            node(i, nodes);
        }
        startIstiod();
        waitForNodes(nodes, start.plus(timeout));
        waitForIstiod(start.plus(timeout));
        if (mesh) {
            dataPlane(nodes, start.plus(timeout));
            waitForZtunnels(nodes, start.plus(timeout));
        }
        out.printf("cluster up: %d node(s) ready in %.1f s; kubeconfig %s%n", nodes,
                Duration.between(start, Instant.now()).toMillis() / 1000.0, Layout.kubeconfig());
    }

    private void underlay() {
        if (!Sh.tryRun("ip", "link", "show", Layout.BRIDGE).ok()) {
            Sh.run("ip", "link", "add", Layout.BRIDGE, "type", "bridge");
        }
        Sh.tryRun("ip", "addr", "add", Layout.BRIDGE_IP + "/" + Layout.UNDERLAY_PREFIX, "dev", Layout.BRIDGE);
        Sh.run("ip", "link", "set", Layout.BRIDGE, "up");
        // A host whose FORWARD policy drops (Docker sets one) would drop bridged node traffic when
        // br_netfilter is loaded: let the underlay through, tagged so that down removes it.
        if (Sh.tryRun("iptables", "-S", "FORWARD").stdout().contains("-P FORWARD DROP")) {
            Sh.run("iptables", "-I", "FORWARD", "-i", Layout.BRIDGE, "-o", Layout.BRIDGE, "-j", "ACCEPT",
                    "-m", "comment", "--comment", "mesh-local");
        }
    }

    private void startApiServer() throws Exception {
        Path api = Layout.apiDir();
        Files.createDirectories(api);
        Files.deleteIfExists(Layout.kubeconfig());
        Components.Spec spec = new Components.Spec("apiserver", "", Components.javaCommand("apiserver",
                "apiserver", "--state-dir", api.toString(), "--listen", "127.0.0.1," + Layout.BRIDGE_IP,
                "--port", Integer.toString(Layout.API_PORT), "--service-cidr", Layout.SERVICE_CIDR,
                "--dns-dir", Layout.dnsDir().toString()),
                Layout.logDir().resolve("apiserver.log").toString());
        components.define(spec);
        components.start(spec);
        Instant deadline = Instant.now().plusSeconds(30);
        while (!Files.exists(Layout.kubeconfig())) {
            if (components.process(spec).isEmpty()) {
                throw new IllegalStateException("the API server exited; see " + spec.log());
            }
            if (Instant.now().isAfter(deadline)) {
                throw new IllegalStateException("the API server did not come up in 30 s; see " + spec.log());
            }
            Thread.sleep(100);
        }
    }

    /** The mesh's CRDs (manifests/crds), as an operator installs them before istiod. */
    private void installCrds() throws Exception {
        Path dir = Layout.meshHome().resolve("manifests/crds");
        if (!Files.isDirectory(dir)) {
            return;
        }
        Config config = Config.fromKubeconfig(Files.readString(Layout.kubeconfig()));
        try (KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();
             var files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                try (var in = Files.newInputStream(f)) {
                    client.load(in).createOrReplace();
                }
            }
        }
    }

    /** istiod-lite in the root namespace, serving its CA on the bridge address so nodes reach it. */
    private void startIstiod() throws IOException {
        var classpath = Layout.istiodClasspath();
        if (classpath.isEmpty()) {
            out.println("istiod-lite is not built; the cluster runs without it");
            return;
        }
        Components.Spec spec = new Components.Spec("istiod", "", Components.javaCommand("istiod", classpath.get(),
                java.util.Optional.empty(), "dev.meshlite.istiod.IstiodLite", "serve",
                "--kubeconfig", Layout.kubeconfig().toString(), "--address", Layout.BRIDGE_IP,
                "--port", Integer.toString(Layout.ISTIOD_CA_PORT),
                "--metrics-port", Integer.toString(Layout.ISTIOD_METRICS_PORT)),
                Layout.logDir().resolve("istiod.log").toString());
        components.define(spec);
        components.start(spec);
    }

    private void waitForIstiod(Instant deadline) throws Exception {
        var spec = components.find("istiod", "");
        if (spec.isEmpty()) {
            return;
        }
        while (true) {
            try (java.net.Socket s = new java.net.Socket()) {
                s.connect(new java.net.InetSocketAddress(Layout.BRIDGE_IP, Layout.ISTIOD_CA_PORT), 500);
                return;
            } catch (IOException notYet) {
                if (components.process(spec.get()).isEmpty()) {
                    throw new IllegalStateException("istiod-lite exited; see " + spec.get().log());
                }
                if (Instant.now().isAfter(deadline)) {
                    throw new IllegalStateException("istiod-lite's CA port did not open in time; see " + spec.get().log());
                }
                Thread.sleep(200);
            }
        }
    }

    /**
     * Per node: its credential for istiod-lite (what a kubelet's bound token is in a real cluster),
     * then ztunnel and the CNI node agent inside the node's namespace. ztunnel connects to the
     * agent's socket; whichever starts first waits for the other.
     */
    private void dataPlane(int nodes, Instant deadline) throws Exception {
        String istiodCp = Layout.istiodClasspath().orElseThrow(() -> new IllegalStateException("istiod-lite is not built"));
        String ztunnelCp = Layout.ztunnelClasspath().orElseThrow(() -> new IllegalStateException("ztunnel is not built"));
        String cniCp = Layout.cniClasspath().orElseThrow(() -> new IllegalStateException("cni-plugin is not built"));
        writeRootCert(deadline);
        for (int index = 1; index <= nodes; index++) {
            String node = Layout.nodeName(index);
            Path nodeDir = Layout.nodeDir(node);
            Path token = nodeDir.resolve("ztunnel-token");
            Sh.Result issued = Sh.tryRun(Components.javaCommand("node-credential", istiodCp, java.util.Optional.empty(),
                    "dev.meshlite.istiod.IstiodLite", "node-credential", "--node", node,
                    "--kubeconfig", Layout.kubeconfig().toString()).toArray(String[]::new));
            if (!issued.ok() || issued.stdout().isBlank()) {
                throw new IllegalStateException("cannot issue " + node + "'s credential: " + issued.stderr());
            }
            Files.writeString(token, issued.stdout().strip() + "\n");
            Files.setPosixFilePermissions(token, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            List<String> enter = List.of("nsenter", "--net=/run/netns/" + Layout.nodeNetns(node), "--");
            Components.Spec ztunnel = new Components.Spec("ztunnel", node, concat(enter, Components.javaCommand(
                    "ztunnel@" + node, ztunnelJvmFlags(), ztunnelCp, ztunnelAotCache(), "dev.meshlite.ztunnel.Main",
                    ztunnelArgs(node, token, nodeDir))),
                    Layout.logDir().resolve("ztunnel-" + node + ".log").toString());
            Components.Spec agent = new Components.Spec("cni-agent", node, concat(enter, Components.javaCommand(
                    "cni-agent@" + node, cniCp, java.util.Optional.empty(), "dev.meshlite.cni.agent.NodeAgentMain",
                    "--node", node, "--kubeconfig", Layout.nodeKubeconfig().toString(),
                    "--socket", nodeDir.resolve("cni-agent.sock").toString(),
                    "--ztunnel-socket", nodeDir.resolve("ztunnel.sock").toString(),
                    "--cni-conf-dir", nodeDir.resolve("net.d").toString(),
                    "--cni-bin-dir", nodeDir.resolve("cni-bin").toString(),
                    "--plugin-log", nodeDir.resolve("logs/cni-plugin.log").toString())),
                    Layout.logDir().resolve("cni-agent-" + node + ".log").toString());
            for (Components.Spec spec : List.of(ztunnel, agent)) {
                components.define(spec);
                components.start(spec);
            }
        }
    }

    private String[] ztunnelArgs(String node, Path token, Path nodeDir) {
        List<String> args = new java.util.ArrayList<>(List.of("--node", node,
                "--control-plane", Layout.BRIDGE_IP + ":" + Layout.ISTIOD_CA_PORT,
                "--ca-root", Layout.meshRootCert().toString(), "--token-file", token.toString(),
                "--handoff-socket", nodeDir.resolve("ztunnel.sock").toString()));
        if (certificateTtl != null) {
            args.addAll(List.of("--certificate-ttl", certificateTtl.toString()));
        }
        return args.toArray(String[]::new);
    }

    /**
     * ztunnel's JVM: unlike the control components it carries traffic, so it keeps the full JIT
     * (C2). Memory: the heap starts at 16 MiB with a fixed 8 MiB young generation (the live set at
     * idle is ~13 MiB; every eden page is touched between collections, so eden's size is resident
     * memory; the old generation must start large enough for the AOT cache's archived objects, or
     * the JVM refuses the cache), and glibc is asked every 5 s to return what the JIT's
     * compilations freed. Code-cache unloading waits until the JIT's code has grown by half the
     * code cache (default: 15 %): the default made the warm-up's compilations trigger a full
     * collection, a 38 ms pause of every connection on the node, which then also grew the heap by
     * 7 MiB (MinHeapFreeRatio).
     * The figures behind the choice are in the README (./mesh bench). {@code MESH_ZTUNNEL_JVM_FLAGS}
     * replaces them, for comparisons. ztunnel/pom.xml trains the AOT cache with exactly these, and
     * its image runs with them ({@code ZtunnelJvmFlagsTest}): a cache trained with other heap
     * flags refuses to load and ztunnel does not start.
     */
    public static List<String> ztunnelJvmFlags() {
        String override = System.getenv("MESH_ZTUNNEL_JVM_FLAGS");
        if (override != null && !override.isBlank()) {
            return List.of(override.trim().split("\\s+"));
        }
        return ZTUNNEL_JVM_FLAGS;
    }

    /**
     * The AOT cache, trained with {@link #ZTUNNEL_JVM_FLAGS}; {@code MESH_ZTUNNEL_AOT=0} runs
     * without it (for comparisons). A cache whose flags do not match is ignored by the JVM.
     */
    static java.util.Optional<Path> ztunnelAotCache() {
        return "0".equals(System.getenv("MESH_ZTUNNEL_AOT")) ? java.util.Optional.empty() : Layout.ztunnelAotCache();
    }

    static final List<String> ZTUNNEL_JVM_FLAGS = List.of("-XX:+UseSerialGC", "-Xss512k", "-Xms16m", "-Xmx128m", "-Xmn8m",
            "-XX:MaxDirectMemorySize=128m", "-XX:ReservedCodeCacheSize=48m", "-XX:CICompilerCount=2",
            "-XX:TrimNativeHeapInterval=5000", "-XX:SweeperThreshold=50", "--enable-native-access=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow");

    /** Every ztunnel ready: configuration synced from istiod-lite and the node agent's snapshot applied. */
    private void waitForZtunnels(int nodes, Instant deadline) throws Exception {
        java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(1)).build();
        for (int index = 1; index <= nodes; index++) {
            String node = Layout.nodeName(index);
            java.net.URI ready = java.net.URI.create("http://" + Layout.nodeIp(index) + ":15021/healthz/ready");
            String last = "no answer";
            while (true) {
                try {
                    var r = http.send(java.net.http.HttpRequest.newBuilder(ready).timeout(Duration.ofSeconds(2)).build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 200) {
                        break;
                    }
                    last = r.body().strip();
                } catch (IOException e) {
                    last = e.toString();
                }
                var spec = components.find("ztunnel", node);
                if (spec.isPresent() && components.process(spec.get()).isEmpty()) {
                    throw new IllegalStateException("ztunnel on " + node + " exited; see " + spec.get().log());
                }
                if (Instant.now().isAfter(deadline)) {
                    throw new IllegalStateException("ztunnel on " + node + " not ready in time (" + last + "); see "
                            + Layout.logDir().resolve("ztunnel-" + node + ".log"));
                }
                Thread.sleep(200);
            }
        }
    }

    /** istiod-lite publishes its roots in every namespace; ztunnel verifies istiod-lite with them. */
    private void writeRootCert(Instant deadline) throws Exception {
        Config config = Config.fromKubeconfig(Files.readString(Layout.kubeconfig()));
        try (KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build()) {
            while (true) {
                var cm = client.configMaps().inNamespace("istio-system").withName("istio-ca-root-cert").get();
                String pem = cm == null || cm.getData() == null ? null : cm.getData().get("root-cert.pem");
                if (pem != null && pem.contains("BEGIN CERTIFICATE")) {
                    Files.writeString(Layout.meshRootCert(), pem);
                    return;
                }
                if (Instant.now().isAfter(deadline)) {
                    throw new IllegalStateException("istiod-lite published no root certificate in time; see "
                            + Layout.logDir().resolve("istiod.log"));
                }
                Thread.sleep(200);
            }
        }
    }

    private void node(int index, int nodes) throws IOException {
        String node = Layout.nodeName(index);
        String ns = Layout.nodeNetns(node);
        String hostVeth = "mesh-n" + index;
        if (!Sh.tryRun("ip", "netns", "exec", ns, "true").ok()) {
            Sh.run("ip", "netns", "add", ns);
        }
        if (!Sh.tryRun("ip", "link", "show", hostVeth).ok()) {
            Sh.run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", ns);
        }
        Sh.run("ip", "link", "set", hostVeth, "master", Layout.BRIDGE, "up");
        inNode(ns, "ip", "link", "set", "lo", "up");
        Sh.tryRun("ip", "netns", "exec", ns, "ip", "addr", "add", Layout.nodeIp(index) + "/" + Layout.UNDERLAY_PREFIX, "dev", "eth0");
        inNode(ns, "ip", "link", "set", "eth0", "up");
        inNode(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        // Bridged pod-to-pod traffic must pass the node's iptables, or a Service VIP whose endpoint
        // sits on the same bridge would answer from the wrong address (the hairpin case).
        Sh.tryRun("ip", "netns", "exec", ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1");
        for (int other = 1; other <= nodes; other++) {
            if (other != index) {
                Sh.run("ip", "netns", "exec", ns, "ip", "route", "replace", Layout.podCidr(other),
                        "via", Layout.nodeIp(other));
            }
        }
        // The control plane's host reaches this node's pods through the node, as a cluster's
        // network does: a pod can call the API server and istiod-lite (a proxy in dedicated mode
        // runs in its pod). The route goes with mesh0 at ./mesh down.
        Sh.run("ip", "route", "replace", Layout.podCidr(index), "via", Layout.nodeIp(index), "dev", Layout.BRIDGE);
        Path nodeDir = Layout.nodeDir(node);
        Files.createDirectories(nodeDir.resolve("net.d"));
        Files.writeString(nodeDir.resolve("net.d/10-mesh.conflist"), conflist(index, nodeDir));

        List<String> enter = List.of("nsenter", "--net=/run/netns/" + ns, "--");
        Components.Spec kubelet = new Components.Spec("kubelet", node, concat(enter, Components.javaCommand(
                "kubelet@" + node, "kubelet", "--node", node, "--node-ip", Layout.nodeIp(index),
                "--pod-cidr", Layout.podCidr(index), "--state-dir", nodeDir.toString(),
                "--kubeconfig", Layout.nodeKubeconfig().toString())),
                Layout.logDir().resolve("kubelet-" + node + ".log").toString());
        Components.Spec proxy = new Components.Spec("kube-proxy", node, concat(enter, Components.javaCommand(
                "kube-proxy@" + node, "kube-proxy", "--node", node,
                "--kubeconfig", Layout.nodeKubeconfig().toString())),
                Layout.logDir().resolve("kube-proxy-" + node + ".log").toString());
        List<Components.Spec> specs = new ArrayList<>(List.of(kubelet, proxy));
        for (Components.Spec spec : specs) {
            components.define(spec);
            components.start(spec);
        }
    }

    static String conflist(int index, Path nodeDir) {
        return """
                {
                  "cniVersion": "1.0.0",
                  "name": "mesh-pods",
                  "plugins": [
                    {
                      "type": "bridge",
                      "bridge": "cni0",
                      "isGateway": true,
                      "ipMasq": false,
                      "hairpinMode": true,
                      "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": "%s", "gateway": "%s"}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": "%s"
                      }
                    }
                  ]
                }
                """.formatted(Layout.podCidr(index), Layout.podGateway(index), nodeDir.resolve("ipam"));
    }

    private void waitForNodes(int nodes, Instant deadline) throws Exception {
        Config config = Config.fromKubeconfig(Files.readString(Layout.kubeconfig()));
        try (KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build()) {
            while (true) {
                long ready = client.nodes().list().getItems().stream().filter(Readiness::ready).count();
                if (ready >= nodes) {
                    return;
                }
                for (Components.Spec spec : components.all()) {
                    if (components.process(spec).isEmpty()) {
                        throw new IllegalStateException(spec.id() + " exited; see " + spec.log());
                    }
                }
                if (Instant.now().isAfter(deadline)) {
                    throw new IllegalStateException(ready + " of " + nodes + " nodes ready before the deadline; see "
                            + Layout.logDir());
                }
                Thread.sleep(200);
            }
        }
    }


    private static void inNode(String ns, String... argv) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(argv));
        Sh.run(cmd.toArray(String[]::new));
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }
}
