package dev.meshlite.hbone.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.meshlite.hbone.client.LocalForwarder;
import dev.meshlite.hbone.testing.DataStream;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HashUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import java.io.DataOutputStream;
import java.io.InputStream;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Byte integrity and half-close through client, pooled connection, server and upstream. */
@Timeout(240)
class TransferIT {

    /** Bytes each way; see the report for why this size. */
    static final long LARGE = Long.getLong("hbone.test.transferBytes", 1L << 30);

    static HboneTestbed bed;

    @BeforeAll
    static void start() throws Exception {
        bed = new HboneTestbed();
    }

    @AfterAll
    static void stop() throws Exception {
        bed.close();
    }

    @Test
    void largeTransferIsIntactBothWaysAtOnce() throws Exception {
        HashUpstream upstream = bed.closeLater(new HashUpstream());
        LocalForwarder f = bed.forwarder(upstream.address());
        long seedUp = 11;
        long seedDown = 12;
        try (Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort())) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeLong(LARGE);
            out.writeLong(seedDown);
            CompletableFuture<byte[]> sent = CompletableFuture.supplyAsync(() -> {
                try {
                    byte[] digest = DataStream.write(out, seedUp, LARGE);
                    s.shutdownOutput();
                    return digest;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, r -> Thread.ofVirtual().start(r));
            InputStream in = s.getInputStream();
            byte[] down = DataStream.read(in, LARGE);
            byte[] upstreamSaw = in.readNBytes(32);
            assertEquals(-1, in.read(), "the upstream's FIN ends the stream");
            assertArrayEquals(DataStream.expected(seedDown, LARGE), down, "upstream -> client bytes");
            assertArrayEquals(sent.join(), upstreamSaw, "client -> upstream bytes");
        }
    }

    @Test
    void halfCloseCarriesTheWholeReplyAfterTheClientShutsItsWriteSide() throws Exception {
        EchoUpstream echo = bed.closeLater(new EchoUpstream());
        LocalForwarder f = bed.forwarder(echo.address());
        long size = 16L << 20; // larger than the stream window, so the reply is still flowing at FIN
        try (Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort())) {
            CompletableFuture<byte[]> sent = CompletableFuture.supplyAsync(() -> {
                try {
                    byte[] digest = DataStream.write(s.getOutputStream(), 7, size);
                    s.shutdownOutput();
                    return digest;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, r -> Thread.ofVirtual().start(r));
            DataStream.Result got = DataStream.readAll(s.getInputStream());
            assertEquals(size, got.bytes());
            assertArrayEquals(sent.join(), got.sha256());
        }
    }

    @Test
    void serverClosesFirstAndTheClientStillSendsItsRest() throws Exception {
        // The upstream answers immediately and closes its side; the client keeps sending after that.
        try (var upstream = new java.net.ServerSocket(0, 1, HboneTestbed.LOOPBACK)) {
            LocalForwarder f = bed.forwarder((java.net.InetSocketAddress) upstream.getLocalSocketAddress());
            try (Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort())) {
                s.setSoTimeout(20_000);
                CompletableFuture<DataStream.Result> upstreamSide = CompletableFuture.supplyAsync(() -> {
                    try (Socket u = upstream.accept()) {
                        u.getOutputStream().write("bye".getBytes());
                        u.shutdownOutput();
                        return DataStream.readAll(u.getInputStream());
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, r -> Thread.ofVirtual().start(r));
                try {
                    assertEquals("bye", new String(s.getInputStream().readAllBytes()));
                } catch (java.net.SocketTimeoutException e) {
                    throw new AssertionError("no EOF: server " + bed.serverMetrics.snapshot() + " client "
                            + bed.clientMetrics.snapshot(), e);
                }
                byte[] digest = DataStream.write(s.getOutputStream(), 3, 1 << 20);
                s.shutdownOutput();
                DataStream.Result r = upstreamSide.join();
                assertEquals(1 << 20, r.bytes());
                assertArrayEquals(digest, r.sha256());
            }
        }
    }

    @Test
    void bytesAndFinSentBeforeTheTunnelExistsAllArrive() throws Exception {
        // The client writes and shuts its write side at once: both reach the forwarder before the
        // CONNECT is answered. Native transports read at the FIN even with AUTO_READ off.
        EchoUpstream echo = bed.closeLater(new EchoUpstream());
        LocalForwarder f = bed.forwarder(echo.address());
        for (int size : new int[] {1, 1000, 52 * 1024, 300 * 1024}) {
            try (Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort())) {
                s.setSoTimeout(20_000);
                byte[] digest = DataStream.write(s.getOutputStream(), size, size);
                s.shutdownOutput();
                DataStream.Result got = DataStream.readAll(s.getInputStream());
                assertEquals(size, got.bytes(), "bytes echoed for a " + size + "-byte early write");
                assertArrayEquals(digest, got.sha256());
            }
        }
    }
}
