package dev.meshlite.hbone.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A plain TCP upstream on 127.0.0.1 port 0 that echoes every byte and, after the client's FIN,
 * finishes its echo and sends its own FIN (so half-close can be observed end to end). One virtual
 * thread per connection.
 */
public final class EchoUpstream implements AutoCloseable {

    private final ServerSocket server;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final AtomicInteger accepted = new AtomicInteger();
    private final AtomicLong bytes = new AtomicLong();

    public EchoUpstream() throws IOException {
        server = new ServerSocket(0, 2048, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().name("echo-accept").start(this::acceptLoop);
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                accepted.incrementAndGet();
                open.add(s);
                Thread.ofVirtual().start(() -> echo(s));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void echo(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            byte[] buf = new byte[64 * 1024];
            for (int n; (n = in.read(buf)) >= 0; ) {
                out.write(buf, 0, n);
                bytes.addAndGet(n);
            }
            out.flush();
            s.shutdownOutput();
        } catch (IOException ignored) {
            // peer reset: nothing to echo to
        } finally {
            open.remove(s);
        }
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    public int accepted() {
        return accepted.get();
    }

    public int openConnections() {
        return open.size();
    }

    public long bytesEchoed() {
        return bytes.get();
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : open) {
            s.close();
        }
    }
}
