package dev.meshlite.hbone.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.client.HboneTunnelException;
import dev.meshlite.hbone.client.LocalForwarder;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.DataStream;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import dev.meshlite.hbone.testing.RawH2Connection;
import dev.meshlite.hbone.testing.RawH2Connection.Frame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code shutdown(drain)}: GOAWAY first, open streams finish within the drain, new streams go
 * elsewhere or are refused cleanly, and whatever is still open at the deadline is reset.
 */
@Timeout(90)
class GracefulShutdownIT {

    static final Duration LONG_DRAIN = Duration.ofSeconds(60);

    @Test
    void anOpenStreamFinishesItsTransferAfterGoAwayAndANewStreamIsRefusedCleanly() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream()) {
            LocalForwarder f = bed.forwarder(echo.address());
            try (Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort())) {
                s.setSoTimeout(30_000);
                MessageDigest sent = DataStream.sha256();
                MessageDigest got = DataStream.sha256();
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                byte[] first = chunk(1, 1 << 20);
                out.write(first);
                sent.update(first);
                got.update(in.readNBytes(first.length));
                int requestsBefore = bed.requests.size();

                CompletableFuture<Void> done = bed.server.shutdown(LONG_DRAIN);
                // GOAWAY reached the client: the connection left its pool.
                Await.until(() -> bed.client.connections() == 0, () -> "client never saw GOAWAY");

                // A new stream cannot use the draining connection, and the listener is gone.
                ExecutionException refused = assertThrows(ExecutionException.class,
                        () -> bed.client.open(bed.key(), TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS));
                assertInstanceOf(HboneTunnelException.class, refused.getCause());
                assertEquals(requestsBefore, bed.requests.size(), "no CONNECT reached the draining server");

                // The open stream still carries a full transfer, half-close included.
                CompletableFuture<byte[]> rest = CompletableFuture.supplyAsync(() -> {
                    try {
                        byte[] more = chunk(2, 8 << 20);
                        out.write(more);
                        s.shutdownOutput();
                        return more;
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, r -> Thread.ofVirtual().start(r));
                byte[] echoed;
                try {
                    echoed = in.readAllBytes();
                } catch (SocketException e) {
                    throw new AssertionError("stream broken after GOAWAY: server " + bed.serverMetrics.snapshot() + " conns " + bed.server.openConnections()
                        + " echo open " + echo.openConnections() + " echoed " + echo.bytesEchoed() + " done " + done.isDone()
                        + " client " + bed.clientMetrics.snapshot(), e);
                }
                byte[] more = rest.get(30, TimeUnit.SECONDS);
                sent.update(more);
                got.update(echoed);
                assertEquals(more.length, echoed.length, "the whole reply after GOAWAY");
                assertArrayEquals(sent.digest(), got.digest());
                // The last stream ended: the connection closes well before the drain deadline.
                done.get(30, TimeUnit.SECONDS);
                assertEquals(0, bed.server.openConnections());
            }
        }
    }

    @Test
    void streamsStillOpenAtTheDeadlineAreReset() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream()) {
            LocalForwarder f = bed.forwarder(echo.address());
            try (Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort())) {
                s.setSoTimeout(30_000);
                s.getOutputStream().write("ping".getBytes());
                assertEquals("ping", new String(s.getInputStream().readNBytes(4)));
                // The stream stays open (no FIN) past a short drain.
                bed.server.shutdown(Duration.ofMillis(300)).get(30, TimeUnit.SECONDS);
                assertEquals(0, bed.server.openConnections());
                // The client application learns of a reset, not of a clean end.
                SocketException reset = assertThrows(SocketException.class, () -> s.getInputStream().read());
                assertTrue(reset.getMessage().toLowerCase().contains("reset"), reset.getMessage());
                Await.until(() -> echo.openConnections() == 0, () -> "upstream connection left open");
                Await.until(() -> bed.serverMetrics.snapshot().activeStreams() == 0,
                        () -> "server streams: " + bed.serverMetrics.snapshot());
            }
        }
    }

    @Test
    void onTheWireGoAwayNamesTheLastStreamAndALaterStreamIsNotProcessed() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream()) {
            var cert = bed.ca.issue(bed.clientId);
            try (RawH2Connection raw = RawH2Connection.connect(bed.server.localAddress(), cert.leaf(),
                    cert.privateKey())) {
                raw.preface();
                raw.headers(1, connect(echo.address()), false);
                assertEquals(200, raw.awaitStatus(1));
                CompletableFuture<Void> done = bed.server.shutdown(LONG_DRAIN);

                Frame goAway = next(raw, RawH2Connection.GOAWAY);
                assertNotNull(goAway, "GOAWAY before the connection closed");
                assertEquals(0, goAway.errorCode(), "NO_ERROR");
                assertEquals(1, ByteBuffer.wrap(goAway.payload()).getInt() & 0x7fffffff, "last stream id");

                // Stream 3 is above the last stream id: the server must not act on it. The PING
                // answer proves the server has read the HEADERS before we look.
                int requests = bed.requests.size();
                raw.headers(3, connect(echo.address()), false);
                raw.frame(RawH2Connection.PING, 0, 0, new byte[8]);
                for (Frame fr; (fr = raw.read()) != null; ) {
                    if (fr.type() == RawH2Connection.PING && (fr.flags() & RawH2Connection.ACK) != 0) {
                        break;
                    }
                    assertFalse(fr.type() == RawH2Connection.HEADERS && fr.streamId() == 3,
                            "stream 3 must not be answered");
                }
                assertEquals(requests, bed.requests.size(), "stream 3 reached the authorizer");

                // Stream 1 finishes normally: echo, END_STREAM both ways, then the connection closes.
                raw.frame(RawH2Connection.DATA, RawH2Connection.END_STREAM, 1, "last words".getBytes());
                ByteArrayOutputStream echoed = new ByteArrayOutputStream();
                boolean ended = false;
                for (Frame fr; !ended && (fr = raw.read()) != null; ) {
                    if (fr.type() == RawH2Connection.DATA && fr.streamId() == 1) {
                        echoed.writeBytes(fr.payload());
                        ended = (fr.flags() & RawH2Connection.END_STREAM) != 0;
                    }
                }
                assertTrue(ended, "stream 1 ended with END_STREAM");
                assertEquals("last words", echoed.toString());
                assertTrue(raw.awaitClose(), "the server closes the drained connection");
                done.get(30, TimeUnit.SECONDS);
            }
        }
    }

    private static Frame next(RawH2Connection raw, int type) throws Exception {
        for (Frame f; (f = raw.read()) != null; ) {
            if (f.type() == type) {
                return f;
            }
        }
        return null;
    }

    private static Http2Headers connect(InetSocketAddress target) {
        return new DefaultHttp2Headers().method("CONNECT")
                .authority(target.getAddress().getHostAddress() + ":" + target.getPort());
    }

    private static byte[] chunk(long seed, int n) {
        byte[] b = new byte[n];
        new java.util.SplittableRandom(seed).nextBytes(b);
        return b;
    }
}
