package dev.meshlite.hbone.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.BlackHoleProxy;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
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
    /** Longer than every wait of the test: only a close that does not linger ends within them. */
    static final Duration LINGER = Duration.ofMinutes(10);

    @Test
    void aPeerThatStopsAnsweringPingIsClosedAndLeavesThePool() throws Exception {
        HboneClientConfig config = HboneClientConfig.defaults().withPing(INTERVAL, TIMEOUT).withLinger(LINGER);
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

            // The peer goes silent (no FIN, no RST, and none in answer to ours): the client gives
            // up on its own and closes at once. The client lingers far longer than any wait here,
            // so a close that waited for the dead peer's FIN would leave the connection and its
            // stream open.
            proxy.freezeOpenConnections();
            Await.until(Duration.ofSeconds(20), () -> bed.client.connections(viaProxy) == 0,
                    () -> "a silent connection is still pooled");
            Await.until(() -> !stream.channel().isActive(), () -> "its stream is still open (lingering?)");
            Await.until(() -> !stream.channel().parent().isOpen(), () -> "the connection is still open (lingering?)");

            // The next open gets a fresh connection that works.
            HboneStream fresh = bed.client.open(viaProxy, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS);
            assertEquals(1, bed.client.connections(viaProxy));
            assertEquals(2, bed.serverMetrics.snapshot().connectionsOpened());
            fresh.close();
        }
    }
}
