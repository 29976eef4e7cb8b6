package dev.meshlite.hbone.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.metrics.HboneMetrics.HandshakeFailure;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import dev.meshlite.hbone.transport.Transport;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(180)
class PoolIT {

    @Test
    void thousandConcurrentStreamsUseCeilThousandOverHundredConnections() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream()) {
            LocalForwarder f = bed.forwarder(echo.address());
            int n = 1000;
            List<Socket> sockets = new ArrayList<>();
            try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
                List<CompletableFuture<Socket>> opening = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    int id = i;
                    opening.add(CompletableFuture.supplyAsync(() -> {
                        try {
                            Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort());
                            byte[] msg = ("hello " + id + "\n").getBytes();
                            s.getOutputStream().write(msg);
                            byte[] back = s.getInputStream().readNBytes(msg.length);
                            assertEquals(new String(msg), new String(back));
                            return s;
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }, pool));
                }
                for (CompletableFuture<Socket> o : opening) {
                    sockets.add(o.get(120, TimeUnit.SECONDS));
                }
            }
            // All 1000 tunnels are open at this moment (each echoed and none is closed).
            assertEquals(n, bed.serverMetrics.snapshot().activeStreams());
            assertEquals(10, bed.client.connections(bed.key()), "ceil(1000 / 100) connections");
            assertEquals(10, bed.serverMetrics.snapshot().connectionsOpened());
            for (Socket s : sockets) {
                s.shutdownOutput();
            }
            for (Socket s : sockets) {
                assertEquals(-1, s.getInputStream().read());
                s.close();
            }
            Await.until(() -> bed.serverMetrics.snapshot().activeStreams() == 0,
                    () -> "streams still open: " + bed.serverMetrics.snapshot());
        }
    }

    @Test
    void concurrentOpensForOneKeyShareOneHandshake() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream()) {
            List<CompletableFuture<HboneStream>> opens = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                opens.add(bed.client.open(bed.key(), TunnelRequest.to(echo.address())));
            }
            for (CompletableFuture<HboneStream> o : opens) {
                o.get(30, TimeUnit.SECONDS).close();
            }
            assertEquals(1, bed.serverMetrics.snapshot().connectionsOpened());
        }
    }

    @Test
    void aCallerOnAnEventLoopGetsAConnectionOfThatLoop() throws Exception {
        Transport transport = Transport.select();
        EventLoopGroup group = transport.newEventLoopGroup(2, "pool-loops");
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream();
             HboneClient client = clientOn(bed, transport, group)) {
            EventLoop a = group.next();
            EventLoop b = group.next();
            assertNotSame(a, b);
            List<EventLoop> callers = List.of(a, b, a, b);
            List<HboneStream> streams = new ArrayList<>();
            for (EventLoop caller : callers) {
                streams.add(openOn(caller, client, bed.key(), echo));
            }
            for (int i = 0; i < callers.size(); i++) {
                assertSame(callers.get(i), streams.get(i).channel().parent().eventLoop(),
                        "stream " + i + " rides a connection of its caller's loop");
            }
            assertSame(streams.get(0).channel().parent(), streams.get(2).channel().parent(),
                    "callers on one loop share its connection");
            assertEquals(2, client.connections(bed.key()), "one connection per calling loop");

            // A caller on no loop of ours takes any connection with room: no third connection.
            HboneStream fromTest = client.open(bed.key(), TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS);
            assertEquals(2, client.connections(bed.key()));
            assertEquals(2, bed.serverMetrics.snapshot().connectionsOpened());
            fromTest.close();
            streams.forEach(HboneStream::close);
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
    }

    /** A client of the testbed's identity on {@code group}'s loops. */
    static HboneClient clientOn(HboneTestbed bed, Transport transport, EventLoopGroup group) {
        return HboneClient.create(HboneClientConfig.defaults(), HboneClient.single(bed.clientTls), new HboneMetrics(),
                transport, group);
    }

    /** A tunnel to {@code echo} opened by a caller running on {@code loop}. */
    static HboneStream openOn(EventLoop loop, HboneClient client, PoolKey key, EchoUpstream echo) throws Exception {
        return CompletableFuture.supplyAsync(() -> client.open(key, TunnelRequest.to(echo.address())), loop)
                .thenCompose(opening -> opening).get(30, TimeUnit.SECONDS);
    }

    @Test
    void aConnectionOpenedOffLoopServesLaterCallersOfTheLoopItLivesOn() throws Exception {
        Transport transport = Transport.select();
        EventLoopGroup group = transport.newEventLoopGroup(2, "pool-loops");
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream();
             HboneClient client = clientOn(bed, transport, group)) {
            HboneStream fromTest = client.open(bed.key(), TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS);
            EventLoop its = fromTest.channel().parent().eventLoop();
            HboneStream onItsLoop = openOn(its, client, bed.key(), echo);
            assertSame(fromTest.channel().parent(), onItsLoop.channel().parent(),
                    "a caller on the loop the group chose shares the connection opened from off-loop");
            assertEquals(1, client.connections(bed.key()));
            assertEquals(1, bed.serverMetrics.snapshot().connectionsOpened());
            onItsLoop.close();
            fromTest.close();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void idleConnectionsAreClosed() throws Exception {
        var config = dev.meshlite.hbone.client.HboneClientConfig.defaults().withIdleTimeout(Duration.ofMillis(200));
        try (HboneTestbed bed = new HboneTestbed(config); EchoUpstream echo = new EchoUpstream()) {
            bed.client.open(bed.key(), TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS).close();
            Await.until(() -> bed.client.connections() == 0 && bed.server.openConnections() == 0,
                    () -> "idle connection still open: client " + bed.client.connections());
        }
    }

    @Test
    void aDeadConnectionLeavesThePoolAtOnce() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream()) {
            HboneStream s = bed.client.open(bed.key(), TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS);
            assertEquals(1, bed.client.connections());
            s.channel().parent().close(); // the connection dies (as if the peer vanished)
            Await.until(() -> bed.client.connections() == 0, () -> "dead connection still pooled");
            // The next open makes a fresh connection.
            bed.client.open(bed.key(), TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS).close();
            assertEquals(2, bed.serverMetrics.snapshot().connectionsOpened());
        }
    }

    @Test
    void aServerWithAnUnexpectedIdentityIsRefused() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream()) {
            var key = bed.key(Set.of(bed.ca.id("ns-b", "someone-else")));
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> bed.client.open(key, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS));
            assertInstanceOf(HboneTunnelException.class, e.getCause());
            assertEquals(1, bed.clientMetrics.snapshot().handshakeFailures(HandshakeFailure.IDENTITY_REJECTED));
            assertEquals(0, bed.requests.size(), "no CONNECT may be sent to an unverified server");
            assertEquals(0, bed.client.connections());
        }
    }
}
