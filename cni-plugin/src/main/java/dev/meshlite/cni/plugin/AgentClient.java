package dev.meshlite.cni.plugin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The plugin's side of the node agent's socket: one JSON request line, one JSON reply line. The
 * agent decides whether the pod is captured (it watches pods and namespaces) and does the work;
 * the plugin only waits for its answer, so a pod never starts before its capture is in place.
 */
final class AgentClient {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Replies are small; anything longer is a broken agent, not a reply to wait for. */
    private static final int MAX_REPLY = 64 * 1024;

    private final Path socket;

    AgentClient(Path socket) {
        this.socket = socket;
    }

    /** Sends {@code request}; returns the reply, or throws IOException when the agent cannot be reached. */
    JsonNode call(ObjectNode request) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ch.write(ByteBuffer.wrap((request.toString() + "\n").getBytes(StandardCharsets.UTF_8)));
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
            return JSON.readTree(line);
        }
    }
}
