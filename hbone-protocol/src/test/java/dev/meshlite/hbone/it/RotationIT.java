package dev.meshlite.hbone.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.meshlite.hbone.client.HboneStream;
import dev.meshlite.hbone.client.LocalForwarder;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.server.ConnectRequest;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.DataStream;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import io.netty.handler.ssl.SslHandler;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Certificate rotation on both sides while tunnels carry traffic (DESIGN §6: root rotation keeps
 * old and new roots trusted while it happens). Open streams keep the material they were
 * handshaken with; new connections present the new certificates.
 */
@Timeout(120)
class RotationIT {

    static final int STREAMS = 4;
    /** Each stream has echoed this much before the rotation, and sends as much again after it. */
    static final long PHASE = 2L << 20;

    @Test
    void rotatingBothSidesMidTrafficBreaksNoStreamAndNewConnectionsUseTheNewCertificates() throws Exception {
        try (HboneTestbed bed = new HboneTestbed(); EchoUpstream echo = new EchoUpstream()) {
            LocalForwarder f = bed.forwarder(echo.address());
            BigInteger oldServerSerial = bed.serverTls.certificate().leaf().getSerialNumber();
            AtomicBoolean rotated = new AtomicBoolean();
            List<Socket> sockets = new ArrayList<>();
            List<CompletableFuture<byte[]>> sent = new ArrayList<>();
            List<CompletableFuture<DataStream.Result>> received = new ArrayList<>();
            List<AtomicLong> sentBytes = new ArrayList<>();
            for (int i = 0; i < STREAMS; i++) {
                Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort());
                s.setSoTimeout(60_000);
                sockets.add(s);
                AtomicLong count = new AtomicLong();
                sentBytes.add(count);
                long seed = 100 + i;
                sent.add(async(() -> writeAcrossRotation(s, seed, rotated, count)));
                received.add(async(() -> DataStream.readAll(s.getInputStream())));
            }
            Await.until(() -> echo.bytesEchoed() >= STREAMS * PHASE,
                    () -> "traffic before rotation: echoed " + echo.bytesEchoed());
            assertEquals(1, bed.client.connections(), "all streams share one connection");

            // The new material: a new root, and leaves under an intermediate of it.
            TestCa next = TestCa.create(HboneTestbed.TRUST_DOMAIN).intermediate();
            TrustBundle both = bed.ca.bundle().with(next.bundle());
            WorkloadCertificate newServer = next.issue(bed.serverId);
            WorkloadCertificate newClient = next.issue(bed.clientId);
            bed.serverTls.rotate(newServer, both);
            bed.clientTls.rotate(newClient, both);
            rotated.set(true);

            // A new connection (another pool key) handshakes with the new certificates both ways.
            var otherKey = bed.key(Set.of(bed.serverId, bed.ca.id("ns-b", "other")));
            HboneStream fresh = bed.client.open(otherKey, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS);
            X509Certificate serverSeen = peerLeaf(fresh);
            assertEquals(newServer.leaf().getSerialNumber(), serverSeen.getSerialNumber(),
                    "the new connection's server certificate");
            assertEquals(2, peerChainLength(fresh), "leaf + intermediate");
            ConnectRequest last = bed.requests.getLast();
            assertEquals(newClient.leaf().getSerialNumber(), last.peerCertificate().getSerialNumber(),
                    "the client certificate the server saw on the new connection");
            fresh.close();
            assertEquals(2, bed.serverMetrics.snapshot().connectionsOpened());

            for (int i = 0; i < STREAMS; i++) {
                byte[] digest = sent.get(i).get(60, TimeUnit.SECONDS);
                DataStream.Result back = received.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(sentBytes.get(i).get(), back.bytes(), "stream " + i + " echoed every byte");
                assertArrayEquals(digest, back.sha256(), "stream " + i + " intact across the rotation");
                sockets.get(i).close();
            }
            // The old connection was never replaced: it still presents the old server certificate.
            HboneStream again = bed.client.open(bed.key(), TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS);
            assertEquals(oldServerSerial, peerLeaf(again).getSerialNumber());
            assertNotEquals(oldServerSerial, newServer.leaf().getSerialNumber());
            again.close();
        }
    }

    /** Writes until the rotation happened and {@link #PHASE} more bytes went out, then FIN. */
    private static byte[] writeAcrossRotation(Socket s, long seed, AtomicBoolean rotated, AtomicLong count)
            throws Exception {
        MessageDigest sha = DataStream.sha256();
        SplittableRandom random = new SplittableRandom(seed);
        byte[] chunk = new byte[64 * 1024];
        OutputStream out = s.getOutputStream();
        long afterRotation = -1;
        while (afterRotation < 0 || count.get() - afterRotation < PHASE) {
            random.nextBytes(chunk);
            sha.update(chunk);
            out.write(chunk);
            count.addAndGet(chunk.length);
            if (afterRotation < 0 && rotated.get()) {
                afterRotation = count.get();
            }
        }
        out.flush();
        s.shutdownOutput();
        return sha.digest();
    }

    private static X509Certificate peerLeaf(HboneStream stream) throws Exception {
        return (X509Certificate) ssl(stream).engine().getSession().getPeerCertificates()[0];
    }

    private static int peerChainLength(HboneStream stream) throws Exception {
        return ssl(stream).engine().getSession().getPeerCertificates().length;
    }

    private static SslHandler ssl(HboneStream stream) {
        return stream.channel().parent().pipeline().get(SslHandler.class);
    }

    interface Body<T> {
        T run() throws Exception;
    }

    static <T> CompletableFuture<T> async(Body<T> body) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return body.run();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, r -> Thread.ofVirtual().start(r));
    }
}
