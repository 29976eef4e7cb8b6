package dev.meshlite.hbone.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.meshlite.hbone.client.LocalForwarder;
import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A tunnel reset while its peer is sending at full speed leaves the other tunnels of its connection
 * alone. (iperf3 through {@code connect --listen}: when a test ended, iperf3's server reset its data
 * connection, and its idle control connection, a second tunnel on the same HTTP/2 connection, died
 * with it about one run in three.)
 *
 * <p>After our RST_STREAM the peer still delivers the DATA it had sent before it saw it: up to a
 * stream window, 4 MiB in 16 KiB frames. Each test holds one direction of the connection in a proxy
 * so that such a backlog is really in flight when the saturated tunnel is reset, then lets it
 * through. A server that answers each late frame with a RST_STREAM (as Netty does for a stream it
 * has forgotten) passes Netty's limit of 200 RST_STREAMs sent in 30 s, and closes the connection,
 * every tunnel on it included, with GOAWAY(ENHANCE_YOUR_CALM): the first test. The second test is
 * the same in the other direction; there the client's answers only cost wasted frames with our
 * server (Netty's limit on received RST_STREAMs skips streams it already closed), but a peer that
 * counted them would close the connection just the same.
 */
@Timeout(60)
class ResetUnderLoadIT {

    /** Resets per test, all well within Netty's 30 s window. */
    static final int CYCLES = 3;

    @Test
    void upstreamResetWhileTheClientSendsKeepsTheIdleTunnel() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream();
             Sink sink = new Sink(); HoldingProxy proxy = new HoldingProxy(bed.server.localAddress())) {
            LocalForwarder toEcho = forwarder(bed, proxy, echo.address());
            LocalForwarder toSink = forwarder(bed, proxy, sink.address());
            try (Socket idle = connect(toEcho)) {
                assertEchoes(idle, "before", bed);
                for (int i = 0; i < CYCLES; i++) {
                    Socket busy = connect(toSink);
                    AtomicLong written = new AtomicLong();
                    CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                        byte[] chunk = new byte[64 * 1024];
                        try (busy; OutputStream out = busy.getOutputStream()) {
                            while (true) {
                                out.write(chunk);
                                written.addAndGet(chunk.length);
                            }
                        } catch (IOException e) {
                            // the reset came back through the tunnel
                        }
                    }, r -> Thread.ofVirtual().start(r));
                    long before = sink.received();
                    Await.until(() -> sink.received() > before + (8 << 20), () -> "the sink receives");
                    // The client keeps sending into a held pipe until its stream window is used up.
                    proxy.towardServer.hold();
                    awaitStill(written::get);
                    sink.resetAll(); // the server resets the stream; its RST_STREAM reaches the client
                    writer.get(10, TimeUnit.SECONDS);
                    proxy.towardServer.release(); // the backlog reaches the server after its reset
                    awaitStill(proxy::relayed);
                }
                assertEchoes(idle, "after " + CYCLES + " resets under load", bed);
            }
            assertEquals(1, bed.serverMetrics.snapshot().connectionsOpened(), "every tunnel on one connection");
        }
    }

    @Test
    void clientResetWhileTheServerSendsKeepsTheIdleTunnel() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream();
             Flood flood = new Flood(); HoldingProxy proxy = new HoldingProxy(bed.server.localAddress())) {
            LocalForwarder toEcho = forwarder(bed, proxy, echo.address());
            LocalForwarder toFlood = forwarder(bed, proxy, flood.address());
            try (Socket idle = connect(toEcho)) {
                assertEchoes(idle, "before", bed);
                for (int i = 0; i < CYCLES; i++) {
                    int ended = flood.ended();
                    Socket busy = connect(toFlood);
                    InputStream in = busy.getInputStream();
                    byte[] buf = new byte[64 * 1024];
                    for (long got = 0; got < (8 << 20); ) {
                        int n = in.read(buf);
                        if (n < 0) {
                            throw new AssertionError("the flood ended after " + got + " bytes");
                        }
                        got += n;
                    }
                    // The server keeps sending into a held pipe until its stream window is used up.
                    proxy.towardClient.hold();
                    awaitStill(flood::sent);
                    busy.setSoLinger(true, 0);
                    busy.close(); // RST: the client resets the stream; its RST_STREAM reaches the server
                    Await.until(Duration.ofSeconds(10), () -> flood.ended() > ended,
                            () -> "the server did not reset the flood's upstream");
                    proxy.towardClient.release(); // the backlog reaches the client after its reset
                    awaitStill(proxy::relayed);
                }
                assertEchoes(idle, "after " + CYCLES + " resets under load", bed);
            }
            assertEquals(1, bed.serverMetrics.snapshot().connectionsOpened(), "every tunnel on one connection");
        }
    }

    /** A forwarder whose tunnels go through {@code proxy} to the testbed's server. */
    private static LocalForwarder forwarder(HboneTestbed bed, HoldingProxy proxy, InetSocketAddress target)
            throws InterruptedException {
        PoolKey viaProxy = new PoolKey(bed.clientId, Set.of(bed.serverId), proxy.address(), HboneTestbed.LOOPBACK);
        return bed.closeLater(LocalForwarder.start(bed.client, new InetSocketAddress(HboneTestbed.LOOPBACK, 0),
                viaProxy, target));
    }

    private static Socket connect(LocalForwarder f) throws IOException {
        Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort());
        s.setSoTimeout(10_000);
        return s;
    }

    /** Waits until {@code counter} has not moved for 300 ms. */
    private static void awaitStill(LongSupplier counter) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        long last = counter.getAsLong();
        while (System.nanoTime() < deadline) {
            Thread.sleep(300);
            long now = counter.getAsLong();
            if (now == last) {
                return;
            }
            last = now;
        }
        throw new AssertionError("still moving after 10 s: " + last);
    }

    private static void assertEchoes(Socket s, String when, HboneTestbed bed) {
        byte[] msg = ("ping " + when).getBytes(StandardCharsets.US_ASCII);
        try {
            s.getOutputStream().write(msg);
            assertEquals(new String(msg, StandardCharsets.US_ASCII),
                    new String(s.getInputStream().readNBytes(msg.length), StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new AssertionError("the idle tunnel failed " + when + " (server connections opened: "
                    + bed.serverMetrics.snapshot().connectionsOpened() + "): " + e, e);
        }
    }

    /** A TCP relay in front of {@code target}; each direction can be held (bytes wait) and released. */
    static final class HoldingProxy implements AutoCloseable {
        final Direction towardServer = new Direction();
        final Direction towardClient = new Direction();
        private final ServerSocket server;
        private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
        private final AtomicLong relayed = new AtomicLong();

        static final class Direction {
            private final AtomicBoolean held = new AtomicBoolean();

            void hold() {
                held.set(true);
            }

            void release() {
                held.set(false);
            }
        }

        HoldingProxy(InetSocketAddress target) throws IOException {
            server = new ServerSocket(0, 16, HboneTestbed.LOOPBACK);
            Thread.ofVirtual().name("holding-proxy").start(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket c = server.accept();
                        Socket u = new Socket(target.getAddress(), target.getPort());
                        sockets.add(c);
                        sockets.add(u);
                        Thread.ofVirtual().start(() -> pump(c, u, towardServer));
                        Thread.ofVirtual().start(() -> pump(u, c, towardClient));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        private void pump(Socket from, Socket to, Direction direction) {
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                byte[] buf = new byte[64 * 1024];
                for (int n; (n = in.read(buf)) >= 0; ) {
                    while (direction.held.get()) {
                        Thread.sleep(1);
                    }
                    out.write(buf, 0, n);
                    relayed.addAndGet(n);
                }
            } catch (IOException | InterruptedException ignored) {
                // either side went away
            } finally {
                close(from);
                close(to);
            }
        }

        InetSocketAddress address() {
            return (InetSocketAddress) server.getLocalSocketAddress();
        }

        /** Bytes relayed so far, both directions. */
        long relayed() {
            return relayed.get();
        }

        private static void close(Socket s) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            sockets.forEach(HoldingProxy::close);
        }
    }

    /** Reads everything it is sent; {@link #resetAll} ends every connection with a TCP RST. */
    static final class Sink implements AutoCloseable {
        private final ServerSocket server;
        private final Set<Socket> open = ConcurrentHashMap.newKeySet();
        private final AtomicLong received = new AtomicLong();

        Sink() throws IOException {
            server = new ServerSocket(0, 16, HboneTestbed.LOOPBACK);
            Thread.ofVirtual().name("sink").start(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket s = server.accept();
                        open.add(s);
                        Thread.ofVirtual().start(() -> drain(s));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        private void drain(Socket s) {
            try (InputStream in = s.getInputStream()) {
                byte[] buf = new byte[256 * 1024];
                for (int n; (n = in.read(buf)) >= 0; ) {
                    received.addAndGet(n);
                }
            } catch (IOException ignored) {
                // reset by resetAll, or by the tunnel
            } finally {
                open.remove(s);
            }
        }

        long received() {
            return received.get();
        }

        void resetAll() throws IOException {
            for (Socket s : open) {
                s.setSoLinger(true, 0);
                s.close();
            }
        }

        InetSocketAddress address() {
            return (InetSocketAddress) server.getLocalSocketAddress();
        }

        @Override
        public void close() throws IOException {
            server.close();
            resetAll();
        }
    }

    /** Writes to each connection until the connection fails. */
    static final class Flood implements AutoCloseable {
        private final ServerSocket server;
        private final AtomicLong sent = new AtomicLong();
        private final AtomicInteger ended = new AtomicInteger();

        Flood() throws IOException {
            server = new ServerSocket(0, 16, HboneTestbed.LOOPBACK);
            Thread.ofVirtual().name("flood").start(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket s = server.accept();
                        Thread.ofVirtual().start(() -> flood(s));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        private void flood(Socket s) {
            try (s; OutputStream out = s.getOutputStream()) {
                byte[] chunk = new byte[64 * 1024];
                while (true) {
                    out.write(chunk);
                    sent.addAndGet(chunk.length);
                }
            } catch (IOException ignored) {
                // the tunnel was reset: this connection is done
            } finally {
                ended.incrementAndGet();
            }
        }

        long sent() {
            return sent.get();
        }

        /** Connections whose writes failed so far. */
        int ended() {
            return ended.get();
        }

        InetSocketAddress address() {
            return (InetSocketAddress) server.getLocalSocketAddress();
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
