package dev.meshlite.e2e.apiserver;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Terminates TLS for the API server and relays the bytes to the mock server's plain listener on
 * loopback. It lets the API be served with the cluster's own certificate on each address it
 * needs (loopback for the operator, the underlay bridge for the nodes), and it is a byte relay, so
 * long-running watches and websocket upgrades pass through untouched. One virtual thread per
 * direction.
 */
final class TlsFront implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TlsFront.class);

    private final SSLServerSocket server;
    private final InetSocketAddress backend;

    TlsFront(SSLContext context, InetAddress address, int port, InetSocketAddress backend) throws IOException {
        this.server = (SSLServerSocket) context.getServerSocketFactory().createServerSocket();
        server.setReuseAddress(true);
        server.setEnabledProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
        server.bind(new InetSocketAddress(address, port), 256);
        this.backend = backend;
        Thread.ofVirtual().name("apiserver-accept-" + address.getHostAddress()).start(this::acceptLoop);
    }

    int port() {
        return server.getLocalPort();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                Thread.ofVirtual().start(() -> relay(client));
            } catch (IOException e) {
                if (!server.isClosed()) {
                    LOG.warn("accept failed", e);
                }
            }
        }
    }

    private void relay(Socket client) {
        try (client; Socket upstream = new Socket()) {
            upstream.connect(backend, 5_000);
            upstream.setTcpNoDelay(true);
            client.setTcpNoDelay(true);
            Thread up = Thread.ofVirtual().start(() -> copy(client, upstream));
            copy(upstream, client);
            up.join();
        } catch (IOException e) {
            LOG.debug("relay ended: {}", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Copies until EOF, then half-closes the destination (an SSL socket cannot, so it closes). */
    private static void copy(Socket from, Socket to) {
        byte[] buf = new byte[16 * 1024];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // the peer went away: fall through and close
        }
        try {
            if (to instanceof javax.net.ssl.SSLSocket) {
                to.close();
            } else {
                to.shutdownOutput();
            }
        } catch (SocketException e) {
            // already closed
        } catch (IOException e) {
            LOG.debug("shutdown failed: {}", e.toString());
        }
        try {
            from.close();
        } catch (IOException ignored) {
            // nothing left to release
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
