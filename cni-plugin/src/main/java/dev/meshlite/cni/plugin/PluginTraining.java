package dev.meshlite.cni.plugin;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The build's AOT training run for the plugin (cni-plugin/pom.xml, {@code -XX:AOTCacheOutput}):
 * every command the runtime sends, and the error paths, against an agent on a real Unix socket in
 * this process, without root. The cache it leaves holds the plugin's classes loaded and linked,
 * so one ADD spends its time on the ADD rather than on class loading.
 */
public final class PluginTraining {

    private static final String PREV = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/run/netns/t\"}],"
            + "\"ips\":[{\"address\":\"10.244.1.9/24\",\"interface\":0,\"gateway\":\"10.244.1.1\"}],\"dns\":{}}";

    private PluginTraining() {
    }

    public static void main(String[] args) throws Exception {
        System.getenv().size(); // the plugin reads its CNI_* there; the runs below take a map
        Path dir = Files.createTempDirectory("mesh-cni-aot-train");
        Path socket = dir.resolve("agent.sock");
        String conf = config(socket, dir, true);
        try (ServerSocketChannel agent = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            agent.bind(UnixDomainSocketAddress.of(socket));
            Thread answering = Thread.ofPlatform().daemon().start(() -> answer(agent));
            for (int round = 0; round < 5; round++) {
                run("VERSION", "shop", "");
                run("ADD", "shop", conf);
                run("ADD", "kube-system", conf); // excluded: passed through without asking
                run("ADD", "refused", conf); // the agent answers with an error
                run("CHECK", "shop", conf);
                run("DEL", "shop", conf);
                run("ADD", "shop", "not json");
                run("ADD", "shop", conf.replace("\"1.0.0\"", "\"9.9.9\""));
                run("ADD", "shop", config(socket, dir, false)); // no prevResult
                run("BOGUS", "shop", conf);
            }
            agent.close();
            answering.join(2_000);
            run("ADD", "shop", conf); // the agent is not there: try again later
            run("DEL", "shop", conf);
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static String config(Path socket, Path dir, boolean prev) {
        return "{\"cniVersion\":\"1.0.0\",\"name\":\"mesh-pods\",\"type\":\"mesh-cni\",\"agent_socket\":\"" + socket
                + "\",\"log_file\":\"" + dir.resolve("cni.log") + "\",\"exclude_namespaces\":[\"kube-system\"]"
                + (prev ? ",\"prevResult\":" + PREV : "") + "}";
    }

    private static void run(String command, String namespace, String stdin) throws IOException {
        Map<String, String> env = new HashMap<>(Map.of("CNI_COMMAND", command, "CNI_CONTAINERID", "train",
                "CNI_NETNS", "/run/netns/train", "CNI_IFNAME", "eth0", "CNI_PATH", "/opt/cni/bin",
                "CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + namespace + ";K8S_POD_NAME=p;K8S_POD_UID=u"));
        PrintStream discard = new PrintStream(OutputStream.nullOutputStream(), true, StandardCharsets.UTF_8);
        new CniPlugin(env, discard).run(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
    }

    /** A stand-in node agent: one reply line per request line, by what the request names. */
    private static void answer(ServerSocketChannel agent) {
        while (agent.isOpen()) {
            try (SocketChannel ch = agent.accept()) {
                StringBuilder in = new StringBuilder();
                ByteBuffer buf = ByteBuffer.allocate(4096);
                while (in.indexOf("\n") < 0 && ch.read(buf) >= 0) {
                    in.append(new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8));
                    buf.clear();
                }
                String reply = in.indexOf("\"refused\"") >= 0 ? "{\"error\":\"ztunnel is not connected\",\"retryable\":true}"
                        : in.indexOf("\"DEL\"") >= 0 ? "{\"result\":\"ok\"}"
                        : "{\"result\":\"captured\",\"reason\":\"namespace is ambient\"}";
                ch.write(ByteBuffer.wrap((reply + "\n").getBytes(StandardCharsets.UTF_8)));
            } catch (IOException e) {
                return; // closed: training is over
            }
        }
    }
}
