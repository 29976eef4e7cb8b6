package dev.meshlite.hbone.it;

import static dev.meshlite.hbone.it.ExternalProcess.assumeTool;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.client.HboneClientConfig;
import dev.meshlite.hbone.client.HboneTunnelException;
import dev.meshlite.hbone.client.LocalForwarder;
import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.server.ConnectAuthorizer;
import dev.meshlite.hbone.server.ConnectRequest;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.server.HboneServerConfig;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our HBONE against HTTP/2 stacks we did not write (DESIGN §8, interop tier), with certificates
 * from the {@code openssl} CLI: Node's {@code http2} module as client and as server, and our client
 * tunnelling through {@code nghttpx --http2-proxy} (client certificates verified) to tinyproxy.
 */
@Timeout(90)
class InteropIT {

    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    @TempDir
    static Path tmp;
    static OpensslPki pki;
    static EchoUpstream echo;
    final List<AutoCloseable> started = new ArrayList<>();

    @BeforeAll
    static void pki() throws Exception {
        assumeTool("openssl", "openssl");
        pki = new OpensslPki(tmp.resolve("pki"));
        echo = new EchoUpstream();
    }

    @AfterAll
    static void stopEcho() throws Exception {
        if (echo != null) {
            echo.close();
        }
    }

    @AfterEach
    void stopStarted() throws Exception {
        for (AutoCloseable c : started.reversed()) {
            c.close();
        }
        started.clear();
    }

    private <T extends AutoCloseable> T track(T c) {
        started.add(c);
        return c;
    }

    private static Path resource(String name) throws Exception {
        return Path.of(InteropIT.class.getResource("/interop/" + name).toURI());
    }

    private static String hostPort(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    private static byte[] payload(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Writes {@code data}, half-closes, reads {@code data.length} bytes back (and EOF if {@code untilEof}). */
    private static byte[] roundTrip(InetSocketAddress via, byte[] data, boolean untilEof) throws Exception {
        try (Socket s = new Socket(via.getAddress(), via.getPort())) {
            s.setSoTimeout(20_000);
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    s.getOutputStream().write(data);
                    s.getOutputStream().flush();
                    if (untilEof) {
                        s.shutdownOutput();
                    }
                } catch (Exception ignored) {
                    // the read side reports the failure
                }
            });
            InputStream in = s.getInputStream();
            byte[] got = in.readNBytes(data.length);
            if (untilEof) {
                assertEquals(-1, in.read(), "the upstream's FIN must come through after the echo");
            }
            writer.join();
            return got;
        }
    }

    private HboneClient client(OpensslPki.Leaf leaf) {
        TlsContextHolder tls = TlsContextHolder.forClient(leaf.load(), pki.bundle());
        return track(HboneClient.create(HboneClientConfig.defaults(), HboneClient.single(tls), new HboneMetrics()));
    }

    /** Node's http2 module as the HBONE client, our server terminating the tunnel. */
    @Test
    void nodeClientThroughOurServer() throws Exception {
        assumeTool("node", "nodejs");
        OpensslPki.Leaf serverLeaf = pki.issue("ns-b", "hbone-server");
        OpensslPki.Leaf nodeLeaf = pki.issue("ns-a", "node-client");
        TlsContextHolder tls = TlsContextHolder.forServer(serverLeaf.load(), pki.bundle(),
                PeerVerifier.sameTrustDomain("cluster.local"));
        List<ConnectRequest> seen = new CopyOnWriteArrayList<>();
        ConnectAuthorizer dial = ConnectAuthorizer.dialAuthority();
        HboneServer server = HboneServer.start(HboneServerConfig.defaults(new InetSocketAddress(LOOPBACK, 0)), tls,
                r -> {
                    seen.add(r);
                    return dial.decide(r);
                }, new HboneMetrics());
        track(() -> server.shutdown(Duration.ofSeconds(2)).join());

        String text = "hello from node " + System.nanoTime();
        ExternalProcess node = track(ExternalProcess.start(tmp, "node-client", List.of("node",
                resource("hbone-client.js").toString(), Integer.toString(server.localAddress().getPort()),
                hostPort(echo.address()), nodeLeaf.cert().toString(), nodeLeaf.key().toString(),
                pki.caCert.toString(), text)));
        assertEquals(0, node.awaitExit(Duration.ofSeconds(30)), node.output());
        String out = node.output().strip();
        assertTrue(out.contains("\"status\":200"), out);
        assertTrue(out.contains("\"alpn\":\"h2\""), out);
        assertTrue(out.contains("\"echo\":\"" + text + "\""), out);
        assertTrue(out.contains("URI:" + serverLeaf.id().uri()), "node saw our server's SPIFFE id: " + out);
        assertEquals(1, seen.size());
        assertEquals(nodeLeaf.id(), seen.getFirst().peer(), "our server extracted the openssl-issued client id");
        assertEquals(echo.address(), seen.getFirst().authority());
    }

    /** Node's http2 module as the HBONE server, our pooled client opening the tunnel. */
    @Test
    void ourClientThroughNodeServer() throws Exception {
        assumeTool("node", "nodejs");
        OpensslPki.Leaf nodeLeaf = pki.issue("ns-b", "node-server");
        OpensslPki.Leaf clientLeaf = pki.issue("ns-a", "hbone-client");
        int port = ExternalProcess.freePort();
        ExternalProcess node = track(ExternalProcess.start(tmp, "node-server", List.of("node",
                resource("hbone-server.js").toString(), Integer.toString(port), nodeLeaf.cert().toString(),
                nodeLeaf.key().toString(), pki.caCert.toString()))).awaitListening(port);
        InetSocketAddress nodeAddress = new InetSocketAddress(LOOPBACK, port);
        HboneClient client = client(clientLeaf);

        PoolKey key = new PoolKey(clientLeaf.id(), Set.of(nodeLeaf.id()), nodeAddress, LOOPBACK);
        LocalForwarder forwarder = track(LocalForwarder.start(client, new InetSocketAddress(LOOPBACK, 0), key,
                echo.address()));
        // Several tunnels: each half-closes its upload while Node (64 KiB windows) is still
        // answering, which once cut the answer short on epoll (StreamRelay.SocketSide#resumeReading).
        for (int i = 0; i < 5; i++) {
            byte[] data = payload(3 << 20, i + 1);
            assertArrayEquals(data, roundTrip(forwarder.localAddress(), data, true), "tunnel " + i);
        }
        Await.until(() -> node.output().contains("PEER URI:" + clientLeaf.id().uri()),
                () -> "node did not see our client's SPIFFE id:\n" + node.output());

        // The same server under a different expected identity: our client must refuse it.
        PoolKey wrong = new PoolKey(clientLeaf.id(), Set.of(new SpiffeId("cluster.local", "ns-b", "someone-else")),
                nodeAddress, LOOPBACK);
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> client.open(wrong, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS));
        assertInstanceOf(HboneTunnelException.class, e.getCause());
        assertTrue(e.getCause().getMessage().contains(nodeLeaf.id().uri())
                        || String.valueOf(e.getCause().getCause()).contains(nodeLeaf.id().uri()),
                "the refusal names the identity the server presented: " + e.getCause());
    }

    /** Our client through nghttpx --http2-proxy (client certificates verified), tinyproxy behind it. */
    @Test
    void ourClientThroughNghttpxAndTinyproxy() throws Exception {
        assumeTool("nghttpx", "nghttp2-proxy");
        assumeTool("tinyproxy", "tinyproxy");
        OpensslPki.Leaf proxyLeaf = pki.issue("ns-b", "nghttpx");
        OpensslPki.Leaf clientLeaf = pki.issue("ns-a", "hbone-client-2");
        Path dir = Files.createDirectories(tmp.resolve("proxies"));

        int tinyPort = ExternalProcess.freePort();
        Path conf = dir.resolve("tinyproxy.conf");
        Files.writeString(conf, String.join("\n",
                "Port " + tinyPort,
                "Listen 127.0.0.1",
                "Allow 127.0.0.1",
                "ConnectPort " + echo.address().getPort(),
                "LogLevel Warning",
                "MaxClients 16",
                "Timeout 60",
                ""));
        track(ExternalProcess.start(dir, "tinyproxy", List.of("tinyproxy", "-d", "-c", conf.toString())))
                .awaitListening(tinyPort);

        int frontPort = ExternalProcess.freePort();
        track(ExternalProcess.start(dir, "nghttpx", List.of("nghttpx", "--conf=/dev/null", "--http2-proxy",
                "--frontend=127.0.0.1," + frontPort, "--backend=127.0.0.1," + tinyPort,
                "--verify-client", "--verify-client-cacert=" + pki.caCert,
                "--npn-list=h2", "--tls-min-proto-version=TLSv1.3", "--no-ocsp", "--workers=1", "-L", "WARN",
                "--pid-file=" + dir.resolve("nghttpx.pid"),
                proxyLeaf.key().toString(), proxyLeaf.cert().toString()))).awaitListening(frontPort);

        HboneClient client = client(clientLeaf);
        PoolKey key = new PoolKey(clientLeaf.id(), Set.of(proxyLeaf.id()), new InetSocketAddress(LOOPBACK, frontPort),
                LOOPBACK);
        LocalForwarder forwarder = track(LocalForwarder.start(client, new InetSocketAddress(LOOPBACK, 0), key,
                echo.address()));
        for (int i = 0; i < 3; i++) {
            byte[] data = payload(256 << 10, 10 + i);
            assertArrayEquals(data, roundTrip(forwarder.localAddress(), data, false), "tunnel " + i);
        }
        assertEquals(1, client.connections(key), "three tunnels shared one connection to nghttpx");

        // A client certificate from another CA is refused by nghttpx's client verification.
        OpensslPki foreign = new OpensslPki(tmp.resolve("foreign-pki"));
        OpensslPki.Leaf stranger = foreign.issue("ns-a", "hbone-client-2");
        TlsContextHolder strangerTls = TlsContextHolder.forClient(stranger.load(), pki.bundle());
        HboneClient strangerClient = track(HboneClient.create(HboneClientConfig.defaults(),
                HboneClient.single(strangerTls), new HboneMetrics()));
        ExecutionException e = assertThrows(ExecutionException.class, () -> strangerClient.open(
                new PoolKey(stranger.id(), Set.of(proxyLeaf.id()), new InetSocketAddress(LOOPBACK, frontPort),
                        LOOPBACK), TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS));
        assertInstanceOf(HboneTunnelException.class, e.getCause());
    }
}
