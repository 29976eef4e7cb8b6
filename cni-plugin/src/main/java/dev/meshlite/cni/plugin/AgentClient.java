package dev.meshlite.cni.plugin;

import dev.meshlite.cni.json.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

/**
 * The plugin's side of the node agent's socket: one JSON request line, one JSON reply line. The
 * agent decides whether the pod is captured (it watches pods and namespaces) and does the work;
 * the plugin only waits for its answer, so a pod never starts before its capture is in place.
 */
final class AgentClient {

    /** Replies are small; anything longer is a broken agent, not a reply to wait for. */
    private static final int MAX_REPLY = 64 * 1024;

    private final Path socket;

    AgentClient(Path socket) {
        this.socket = socket;
    }

    /**
     * Sends {@code request}; returns the reply object, or throws IOException when the agent cannot
     * be reached or answers with something that is not one JSON object.
     */
    Map<String, Object> call(Map<String, Object> request) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ch.write(ByteBuffer.wrap((Json.write(request) + "\n").getBytes(StandardCharsets.UTF_8)));
            ch.shutdownOutput();
            ByteArrayOutputStream reply = new ByteArrayOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (ch.read(buf) >= 0) {
                reply.write(buf.array(), 0, buf.position());
                buf.clear();
                if (reply.size() > MAX_REPLY) {
                    throw new IOException("the agent's reply is longer than " + MAX_REPLY + " bytes");
                }
                int nl = reply.toString(StandardCharsets.UTF_8).indexOf('\n');
                if (nl >= 0) {
                    break;
                }
            }
            String line = reply.toString(StandardCharsets.UTF_8).strip();
            if (line.isEmpty()) {
                throw new IOException("the agent closed the connection without a reply");
            }
            try {
                return Json.parseObject(line);
            } catch (Json.MalformedJsonException e) {
                throw new IOException("the agent's reply is not a JSON object: " + e.getMessage());
            }
        }
    }
}
