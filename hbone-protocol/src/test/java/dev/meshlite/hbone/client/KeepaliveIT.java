package dev.meshlite.hbone.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.BlackHoleProxy;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import dev.meshlite.hbone.tls.LingeringClose;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * PING keepalive (DESIGN §4, with the intervals shortened through the client config): a peer that
 * stops answering is closed within the bounded window, at once (no lingering close), and leaves
 * the pool.
 */
@Timeout(60)
class KeepaliveIT {

    static final Duration INTERVAL = Duration.ofMillis(100);
    static final Duration TIMEOUT = Duration.ofMillis(400);

    @Test
    void aPeerThatStopsAnsweringPingIsClosedAndLeavesThePool() throws Exception {
        HboneClientConfig config = HboneClientConfig.defaults().withPing(INTERVAL, TIMEOUT);
        try (HboneTestbed bed = new HboneTestbed(config); EchoUpstream echo = new EchoUpstream();
             BlackHoleProxy proxy = new BlackHoleProxy(bed.server.localAddress())) {
            PoolKey viaProxy = new PoolKey(bed.clientId, Set.of(bed.serverId), proxy.address(), HboneTestbed.LOOPBACK);
            HboneStream stream = bed.client.open(viaProxy, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS);
            assertEquals(1, bed.client.connections(viaProxy));

            // A healthy peer: PINGs are answered again and again and the connection stays.
            long before = proxy.towardClientWrites();
            Await.until(() -> proxy.towardClientWrites() >= before + 5,
                    () -> "PING answers relayed: " + (proxy.towardClientWrites() - before));
            assertEquals(1, bed.client.connections(viaProxy), "an answering peer keeps its connection");

            // The peer goes silent (no FIN, no RST): the client gives up on its own, and closes at
            // once: a dead peer sends no FIN, so a lingering close would hold the connection and
            // its streams for the whole linger before they are reset.
            AtomicLong closedAt = new AtomicLong();
            stream.channel().parent().closeFuture().addListener(f -> closedAt.set(System.nanoTime()));
            proxy.freezeOpenConnections();
            Await.until(Duration.ofSeconds(20), () -> bed.client.connections(viaProxy) == 0,
                    () -> "a silent connection is still pooled");
            long droppedAt = System.nanoTime();
            Await.until(() -> !stream.channel().isActive(), () -> "its stream is still open");
            Await.until(() -> !stream.channel().parent().isOpen(), () -> "the connection is still open");
            long afterDrop = Duration.ofNanos(closedAt.get() - droppedAt).toMillis();
            assertTrue(afterDrop < LingeringClose.DEFAULT_LINGER.toMillis() / 2,
                    "the dead connection closed " + afterDrop + " ms after it left the pool (lingered?)");

            // The next open gets a fresh connection that works.
            HboneStream fresh = bed.client.open(viaProxy, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS);
            assertEquals(1, bed.client.connections(viaProxy));
            assertEquals(2, bed.serverMetrics.snapshot().connectionsOpened());
            fresh.close();
        }
    }
}
