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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP relay on 127.0.0.1 port 0 in front of {@code target} that can black-hole the connections
 * it carries: {@link #freezeOpenConnections()} makes every current connection swallow all bytes in
 * both directions while keeping the sockets open, even after the other side's FIN (a peer that
 * vanished without a FIN or RST, as behind a dead NAT or a paused VM). Connections accepted later relay normally.
 */
public final class BlackHoleProxy implements AutoCloseable {

    private final ServerSocket server;
    private final InetSocketAddress target;
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final AtomicLong towardClientWrites = new AtomicLong();
    private final java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);

    private final class Link {
        final Socket client;
        final Socket upstream;
        final AtomicBoolean frozen = new AtomicBoolean();

        Link(Socket client, Socket upstream) {
            this.client = client;
            this.upstream = upstream;
        }

        void pump(Socket from, Socket to, boolean towardClient) {
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                byte[] buf = new byte[64 * 1024];
                for (int n; (n = in.read(buf)) >= 0; ) {
                    if (!frozen.get()) {
                        out.write(buf, 0, n);
                        if (towardClient) {
                            towardClientWrites.incrementAndGet();
                        }
                    }
                }
                if (frozen.get()) {
                    closed.await(); // a vanished peer never sees the FIN, so never answers it
                }
            } catch (IOException ignored) {
                // either side went away
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                close();
            }
        }

        void close() {
            links.remove(this);
            try {
                client.close();
            } catch (IOException ignored) {
                // closing anyway
            }
            try {
                upstream.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    public BlackHoleProxy(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().name("blackhole-accept").start(this::acceptLoop);
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket c = server.accept();
                Socket u = new Socket(target.getAddress(), target.getPort());
                Link link = new Link(c, u);
                links.add(link);
                Thread.ofVirtual().start(() -> link.pump(c, u, false));
                Thread.ofVirtual().start(() -> link.pump(u, c, true));
            } catch (IOException e) {
                return;
            }
        }
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    /** From now on the connections open at this moment carry nothing, and are never closed by us. */
    public void freezeOpenConnections() {
        links.forEach(l -> l.frozen.set(true));
    }

    /** Writes relayed toward clients so far (a PING answer is one). */
    public long towardClientWrites() {
        return towardClientWrites.get();
    }

    public int openConnections() {
        return links.size();
    }

    @Override
    public void close() throws IOException {
        closed.countDown();
        server.close();
        links.forEach(Link::close);
    }
}
