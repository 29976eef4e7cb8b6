package dev.meshlite.cni.plugin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/** A node agent on a real Unix socket that records requests and answers as told. */
final class FakeAgent implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    final List<JsonNode> requests = new CopyOnWriteArrayList<>();
    private final ServerSocketChannel server;
    private final Path path;
    private final Thread thread;

    FakeAgent(Path path, Function<JsonNode, String> reply) throws IOException {
        this.path = path;
        Files.deleteIfExists(path);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        thread = Thread.ofVirtual().start(() -> {
            while (server.isOpen()) {
                try (SocketChannel ch = server.accept()) {
                    StringBuilder in = new StringBuilder();
                    ByteBuffer buf = ByteBuffer.allocate(4096);
                    while (in.indexOf("\n") < 0 && ch.read(buf) >= 0) {
                        in.append(new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8));
                        buf.clear();
                    }
                    JsonNode request = JSON.readTree(in.toString());
                    requests.add(request);
                    ch.write(ByteBuffer.wrap((reply.apply(request) + "\n").getBytes(StandardCharsets.UTF_8)));
                } catch (IOException e) {
                    // closed: the test is over
                }
            }
        });
    }

    @Override
    public void close() throws Exception {
        server.close();
        thread.join(5_000);
        Files.deleteIfExists(path);
    }
}
