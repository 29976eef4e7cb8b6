package dev.meshlite.e2e.cluster;

import java.nio.file.Path;

/**
 * Where the local cluster keeps things and how it numbers them. Everything the cluster makes is
 * named with the {@code mesh} prefix (network namespaces {@code mesh-*}, links {@code mesh0} and
 * {@code mesh-n*}) so that {@code down} can find it again even after a crash.
 */
public final class Layout {

    public static final String BRIDGE = "mesh0";
    public static final String BRIDGE_IP = "172.30.0.1";
    public static final int UNDERLAY_PREFIX = 24;
    public static final String SERVICE_CIDR = "10.96.0.0/16";
    public static final String CLUSTER_DOMAIN = "cluster.local";
    public static final String NETNS_PREFIX = "mesh-";
    public static final int API_PORT = 6443;
    public static final int MAX_NODES = 200;

    private Layout() {
    }

    /** Cluster state (pids, logs, kubeconfigs, pod records); tmpfs, so a reboot clears it. */
    public static Path stateDir() {
        return Path.of(System.getenv().getOrDefault("MESH_STATE_DIR", "/run/mesh"));
    }

    public static Path apiDir() {
        return stateDir().resolve("apiserver");
    }

    public static Path kubeconfig() {
        return apiDir().resolve("kubeconfig");
    }

    public static Path nodeKubeconfig() {
        return apiDir().resolve("kubeconfig-nodes");
    }

    public static Path nodeDir(String node) {
        return stateDir().resolve("nodes").resolve(node);
    }

    public static Path dnsDir() {
        return stateDir().resolve("dns");
    }

    public static Path logDir() {
        return stateDir().resolve("logs");
    }

    public static String nodeName(int index) {
        return "node-" + index;
    }

    public static String nodeNetns(String node) {
        return NETNS_PREFIX + node;
    }

    public static String nodeIp(int index) {
        return "172.30.0." + (10 + index);
    }

    public static String podCidr(int index) {
        return "10.244." + index + ".0/24";
    }

    public static String podGateway(int index) {
        return "10.244." + index + ".1";
    }

    public static int nodeIndex(String node) {
        if (!node.matches("node-[0-9]+")) {
            throw new IllegalArgumentException("node " + node + " (expected: node-N)");
        }
        return Integer.parseInt(node.substring("node-".length()));
    }

    /** The repository root: {@code MESH_HOME} (set by ./mesh and by the test runs), else the working directory. */
    public static Path meshHome() {
        return Path.of(System.getenv().getOrDefault("MESH_HOME", ".")).toAbsolutePath().normalize();
    }

    /**
     * The classpath components run with: the packaged e2e jar and its libraries when they exist
     * (what the AOT cache was trained on), else this JVM's own.
     */
    public static String runtimeClasspath() {
        Path target = meshHome().resolve("e2e/target");
        Path jar = target.resolve("e2e-0.1.0-SNAPSHOT.jar");
        return java.nio.file.Files.exists(jar)
                ? jar + ":" + target.resolve("lib") + "/*"
                : System.getProperty("java.class.path");
    }

    /** The AOT cache the build trains for the components, when the packaged classpath is in use. */
    public static java.util.Optional<Path> aotCache() {
        Path target = meshHome().resolve("e2e/target");
        return java.nio.file.Files.exists(target.resolve("e2e-0.1.0-SNAPSHOT.jar"))
                ? java.util.Optional.of(target.resolve("mesh.aot")) : java.util.Optional.empty();
    }

    public static final int ISTIOD_CA_PORT = 15012;
    public static final int ISTIOD_METRICS_PORT = 15014;

    /** istiod-lite's packaged classpath, or empty when it has not been built. */
    public static java.util.Optional<String> istiodClasspath() {
        Path target = meshHome().resolve("istiod-lite/server/target");
        Path jar = target.resolve("istiod-lite-server-0.1.0-SNAPSHOT.jar");
        return java.nio.file.Files.exists(jar)
                ? java.util.Optional.of(jar + ":" + target.resolve("lib") + "/*") : java.util.Optional.empty();
    }

    /** ztunnel's packaged classpath, or empty when it has not been built. */
    public static java.util.Optional<String> ztunnelClasspath() {
        Path target = meshHome().resolve("ztunnel/target");
        Path jar = target.resolve("ztunnel-0.1.0-SNAPSHOT.jar");
        return java.nio.file.Files.exists(jar)
                ? java.util.Optional.of(jar + ":" + target.resolve("lib") + "/*") : java.util.Optional.empty();
    }

    /**
     * ztunnel's AOT cache (ztunnel/pom.xml trains it with ClusterUp.ZTUNNEL_JVM_FLAGS on
     * {@link #ztunnelClasspath()}), or empty when it was not built.
     */
    public static java.util.Optional<Path> ztunnelAotCache() {
        Path cache = meshHome().resolve("ztunnel/target/ztunnel.aot");
        return java.nio.file.Files.isReadable(cache) ? java.util.Optional.of(cache) : java.util.Optional.empty();
    }

    /** The roots that verify istiod-lite, as every namespace's istio-ca-root-cert publishes them. */
    public static Path meshRootCert() {
        return stateDir().resolve("mesh-root-cert.pem");
    }

    /** The CNI plugin and node agent's packaged classpath, or empty when it has not been built. */
    public static java.util.Optional<String> cniClasspath() {
        Path target = meshHome().resolve("cni-plugin/target");
        Path jar = target.resolve("cni-plugin-0.1.0-SNAPSHOT.jar");
        return java.nio.file.Files.exists(jar)
                ? java.util.Optional.of(jar + ":" + target.resolve("lib") + "/*") : java.util.Optional.empty();
    }
}
