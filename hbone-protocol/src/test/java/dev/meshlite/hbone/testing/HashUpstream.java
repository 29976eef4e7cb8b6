package dev.meshlite.hbone.testing;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An upstream for integrity tests, both directions at once. Protocol: the client sends an 8-byte
 * length N and a 8-byte seed, then any bytes, then FIN. The upstream concurrently sends N bytes of
 * {@link DataStream} with that seed and hashes everything it receives; after the client's FIN and
 * its own N bytes it sends the 32-byte SHA-256 of what it received, then FIN.
 */
public final class HashUpstream implements AutoCloseable {

    private final ServerSocket server;
    private final AtomicLong received = new AtomicLong();

    public HashUpstream() throws IOException {
        server = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().name("hash-accept").start(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread.ofVirtual().start(() -> serve(s));
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    private void serve(Socket s) {
        try (s) {
            DataInputStream in = new DataInputStream(s.getInputStream());
            OutputStream out = s.getOutputStream();
            long n = in.readLong();
            long seed = in.readLong();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    DataStream.write(out, seed, n);
                } catch (IOException ignored) {
                    // the reader side reports the failure
                }
            });
            var sha = DataStream.sha256();
            byte[] buf = new byte[256 * 1024];
            for (int r; (r = ((InputStream) in).read(buf)) >= 0; ) {
                sha.update(buf, 0, r);
                received.addAndGet(r);
            }
            writer.join();
            out.write(sha.digest());
            out.flush();
            s.shutdownOutput();
        } catch (IOException | InterruptedException ignored) {
            // a broken tunnel shows up as a wrong or missing digest at the client
        }
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    /** Payload bytes received so far, over all connections. */
    public long received() {
        return received.get();
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
