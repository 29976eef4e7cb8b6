package dev.meshlite.ztunnel.dns;

import static dev.meshlite.ztunnel.dns.DnsMessageTest.addresses;
import static dev.meshlite.ztunnel.dns.DnsMessageTest.query;
import static dev.meshlite.ztunnel.dns.DnsMessageTest.rcode;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.ztunnel.Fixtures;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The DNS proxy on loopback with real UDP sockets: a pod's resolver (a {@link DatagramSocket}
 * sending to the proxy's UDP handler), and upstream resolvers that are {@link DatagramSocket}s
 * answering, or keeping silent, as each test needs.
 */
class DnsProxyTest {

    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    static final String BACKEND = "backend.shop.svc.cluster.local";
    static final AtomicReference<ProxyState> STATE = new AtomicReference<>(ProxyState.of(List.of(),
            List.of(Fixtures.service("backend", "shop", "10.96.0.20", Map.of(80, 8080))), List.of()));
    static EventLoopGroup group;

    final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeAll
    static void loops() {
        group = Transport.NIO.newEventLoopGroup(1, "dns-test");
    }

    @AfterAll
    static void stop() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
    }

    /** A proxy with {@code upstreams}, its UDP handler listening on loopback; returns that address. */
    DnsProxy proxy(PrometheusRegistry registry, InetSocketAddress... upstreams) throws Exception {
        DnsProxy p = DnsProxy.start(STATE::get, "cluster.local", List.of(upstreams), Transport.NIO, group, registry);
        closing.add(p);
        return p;
    }

    InetSocketAddress listen(DnsProxy p) throws Exception {
        Channel ch = new Bootstrap().group(group).channel(Transport.NIO.datagramChannel()).handler(p.udpHandler())
                .bind(new InetSocketAddress(LOOPBACK, 0)).sync().channel();
        closing.add(() -> ch.close().sync());
        return (InetSocketAddress) ch.localAddress();
    }

    /** A resolver that answers every query with {@code answer}'s address, recording what it was sent. */
    InetSocketAddress upstream(String answer, List<byte[]> received) throws Exception {
        return resolver(received, q -> DnsMessage.parseQuery(q).answer(List.of(InetAddress.ofLiteral(answer)), 60));
    }

    /** A resolver that reads and never answers. */
    InetSocketAddress silent(List<byte[]> received) throws Exception {
        return resolver(received, q -> null);
    }

    interface Answering {
        byte[] reply(byte[] query) throws Exception;
    }

    /** A UDP resolver on loopback: records each query, sends what {@code answering} makes of it (null: nothing). */
    InetSocketAddress resolver(List<byte[]> received, Answering answering) throws Exception {
        DatagramSocket s = new DatagramSocket(0, LOOPBACK);
        closing.add(s);
        Thread.ofPlatform().daemon().start(() -> {
            byte[] buf = new byte[512];
            while (!s.isClosed()) {
                try {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    s.receive(p);
                    byte[] q = java.util.Arrays.copyOf(p.getData(), p.getLength());
                    received.add(q);
                    byte[] r = answering.reply(q);
                    if (r != null) {
                        s.send(new DatagramPacket(r, r.length, p.getSocketAddress()));
                    }
                } catch (Exception e) {
                    return;
                }
            }
        });
        return (InetSocketAddress) s.getLocalSocketAddress();
    }

    /** The proxy's TCP side listening on loopback, as a pod's :15053; returns that address. */
    InetSocketAddress listenTcp(DnsProxy p) throws Exception {
        Channel ch = new ServerBootstrap().group(group).channel(Transport.NIO.serverChannel())
                .childHandler(p.tcpInitializer()).bind(new InetSocketAddress(LOOPBACK, 0)).sync().channel();
        closing.add(() -> ch.close().sync());
        return (InetSocketAddress) ch.localAddress();
    }

    /**
     * A TCP resolver on loopback: reads one length-prefixed query per connection, records it, and
     * sends what {@code answering} makes of it; on null it sends nothing and waits for the other
     * side to close, which it then records in {@code closedByPeer}.
     */
    InetSocketAddress tcpResolver(List<byte[]> received, List<Socket> closedByPeer, Answering answering) throws Exception {
        ServerSocket server = new ServerSocket(0, 16, LOOPBACK);
        closing.add(server);
        Thread.ofPlatform().daemon().start(() -> {
            while (!server.isClosed()) {
                Socket c;
                try {
                    c = server.accept();
                } catch (IOException e) {
                    return;
                }
                Thread.ofPlatform().daemon().start(() -> {
                    try (c) {
                        DataInputStream in = new DataInputStream(c.getInputStream());
                        byte[] q = in.readNBytes(in.readUnsignedShort());
                        received.add(q);
                        byte[] r = answering.reply(q);
                        if (r == null) {
                            if (in.read() < 0) {
                                closedByPeer.add(c);
                            }
                            return;
                        }
                        DataOutputStream out = new DataOutputStream(c.getOutputStream());
                        out.writeShort(r.length);
                        out.write(r);
                        out.flush();
                    } catch (Exception e) {
                        // the test ended
                    }
                });
            }
        });
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    /** A loopback address where nothing listens (connections refused). */
    static InetSocketAddress refusing() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
            return (InetSocketAddress) s.getLocalSocketAddress();
        }
    }

    /** Sends {@code query} over TCP as a pod's resolver does (length first) and returns the answer. */
    static byte[] askOverTcp(InetSocketAddress proxy, byte[] query) throws Exception {
        try (Socket s = new Socket(proxy.getAddress(), proxy.getPort())) {
            s.setSoTimeout(10_000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeShort(query.length);
            out.write(query);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] r = new byte[in.readUnsignedShort()];
            in.readFully(r);
            return r;
        }
    }

    /** Sends {@code query} as a pod's resolver does and returns the answer (fails after 10 s). */
    static byte[] ask(InetSocketAddress proxy, byte[] query) throws Exception {
        try (DatagramSocket s = new DatagramSocket(0, LOOPBACK)) {
            s.setSoTimeout(10_000);
            s.send(new DatagramPacket(query, query.length, proxy));
            byte[] buf = new byte[DnsProxy.MAX_MESSAGE];
            DatagramPacket p = new DatagramPacket(buf, buf.length);
            s.receive(p);
            return java.util.Arrays.copyOf(p.getData(), p.getLength());
        }
    }

    @Test
    void aServiceNameIsAnsweredFromTheMeshStateWithoutAskingUpstream() throws Exception {
        List<byte[]> upstreamGot = new CopyOnWriteArrayList<>();
        PrometheusRegistry registry = new PrometheusRegistry();
        InetSocketAddress at = listen(proxy(registry, upstream("192.0.2.1", upstreamGot)));

        byte[] a = ask(at, query(0x1234, BACKEND, DnsMessage.TYPE_A));
        assertEquals(0x1234, DnsMessage.idOf(a));
        assertEquals(DnsMessage.NOERROR, rcode(a));
        assertEquals(List.of(InetAddress.ofLiteral("10.96.0.20")), addresses(a));
        byte[] aaaa = ask(at, query(0x1235, BACKEND.toUpperCase(), DnsMessage.TYPE_AAAA));
        assertEquals(DnsMessage.NOERROR, rcode(aaaa), "the name exists; it has no IPv6 address");
        assertEquals(List.of(), addresses(aaaa));
        assertEquals(List.of(), upstreamGot, "nothing went upstream");
        assertEquals(2, answered(registry, "answered"));
    }

    @Test
    void otherNamesAreForwardedUnderAFreshIdAndTheAnswerComesBackUnderThePodsOwn() throws Exception {
        List<byte[]> upstreamGot = new CopyOnWriteArrayList<>();
        DnsProxy p = proxy(null, upstream("192.0.2.7", upstreamGot));
        InetSocketAddress at = listen(p);

        byte[] q = query(0x0042, "outside.example.test", DnsMessage.TYPE_A);
        byte[] r = ask(at, q);
        assertEquals(0x0042, DnsMessage.idOf(r));
        assertEquals(List.of(InetAddress.ofLiteral("192.0.2.7")), addresses(r));
        assertEquals(1, upstreamGot.size());
        byte[] sent = upstreamGot.getFirst();
        assertArrayEquals(java.util.Arrays.copyOfRange(q, 2, q.length), java.util.Arrays.copyOfRange(sent, 2, sent.length),
                "forwarded as asked but for the id");
        assertEquals(0, p.pending());
    }

    @Test
    void aSilentUpstreamIsSkippedForTheNextAndWhenNoneAnswersThePodGetsServfail() throws Exception {
        List<byte[]> silentGot = new CopyOnWriteArrayList<>();
        List<byte[]> secondGot = new CopyOnWriteArrayList<>();
        InetSocketAddress first = silent(silentGot);
        InetSocketAddress at = listen(proxy(null, first, upstream("192.0.2.8", secondGot)));
        byte[] r = ask(at, query(9, "slow.example.test", DnsMessage.TYPE_A));
        assertEquals(List.of(InetAddress.ofLiteral("192.0.2.8")), addresses(r));
        assertEquals(1, silentGot.size());
        assertEquals(1, secondGot.size());

        DnsProxy alone = proxy(null, silent(new CopyOnWriteArrayList<>()));
        byte[] failed = ask(listen(alone), query(10, "slow.example.test", DnsMessage.TYPE_A));
        assertEquals(10, DnsMessage.idOf(failed));
        assertEquals(DnsMessage.SERVFAIL, rcode(failed));
        assertEquals(0, alone.pending(), "nothing kept once answered");
    }

    @Test
    void anAnswerFromAnotherAddressThanTheUpstreamAskedIsDropped() throws Exception {
        List<byte[]> got = new CopyOnWriteArrayList<>();
        InetSocketAddress quiet = silent(got);
        DnsProxy p = proxy(null, quiet);
        InetSocketAddress at = listen(p);
        CompletableFuture<byte[]> answer = CompletableFuture.supplyAsync(() -> {
            try {
                return ask(at, query(11, "spoof.example.test", DnsMessage.TYPE_A));
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        while (got.isEmpty()) {
            Thread.sleep(10);
        }
        // The forwarded id answered by someone else: to the proxy's upstream socket, from the wrong port.
        byte[] forged = DnsMessage.parseQuery(got.getFirst()).answer(List.of(InetAddress.ofLiteral("203.0.113.66")), 60);
        InetSocketAddress proxySocket = upstreamSocketOf(p);
        try (DatagramSocket attacker = new DatagramSocket(0, LOOPBACK)) {
            attacker.send(new DatagramPacket(forged, forged.length, proxySocket));
        }
        byte[] r = answer.get(10, TimeUnit.SECONDS);
        assertEquals(DnsMessage.SERVFAIL, rcode(r), "the forged answer was not taken");
    }

    @Test
    void withoutUpstreamsUnknownClusterNamesAreNxdomainAndOthersRefused() throws Exception {
        InetSocketAddress at = listen(proxy(null));
        assertEquals(DnsMessage.NXDOMAIN, rcode(ask(at, query(1, "backend.shop.svc.cluster.local.shop.svc.cluster.local",
                DnsMessage.TYPE_A))));
        assertEquals(DnsMessage.REFUSED, rcode(ask(at, query(2, "outside.example.test", DnsMessage.TYPE_A))));
        assertEquals(List.of(InetAddress.ofLiteral("10.96.0.20")), addresses(ask(at, query(3, BACKEND, DnsMessage.TYPE_A))));
    }

    @Test
    void aMalformedQueryGetsFormerrAndAMessageWithoutHeaderNothing() throws Exception {
        List<byte[]> upstreamGot = new CopyOnWriteArrayList<>();
        InetSocketAddress at = listen(proxy(null, upstream("192.0.2.1", upstreamGot)));
        byte[] twoQuestions = query(77, BACKEND, DnsMessage.TYPE_A);
        twoQuestions[5] = 2;
        byte[] r = ask(at, twoQuestions);
        assertEquals(77, DnsMessage.idOf(r));
        assertEquals(DnsMessage.FORMERR, rcode(r));
        try (DatagramSocket s = new DatagramSocket(0, LOOPBACK)) {
            s.setSoTimeout(500);
            s.send(new DatagramPacket(new byte[3], 3, at));
            byte[] buf = new byte[64];
            boolean answered;
            try {
                s.receive(new DatagramPacket(buf, buf.length));
                answered = true;
            } catch (SocketTimeoutException expected) {
                answered = false;
            }
            assertEquals(false, answered, "three bytes are no query: no answer");
        }
        assertEquals(List.of(), upstreamGot, "nothing malformed was forwarded");
        // The proxy still serves.
        assertEquals(DnsMessage.NOERROR, rcode(ask(at, query(78, BACKEND, DnsMessage.TYPE_A))));
    }

    @Test
    void overTcpEachQueryAndAnswerCarryTheirLength() throws Exception {
        DnsProxy p = proxy(null);
        EmbeddedChannel ch = new EmbeddedChannel(p.tcpInitializer());
        byte[] q1 = query(21, BACKEND, DnsMessage.TYPE_A);
        byte[] q2 = query(22, "outside.example.test", DnsMessage.TYPE_A);
        ByteBuf in = Unpooled.buffer();
        in.writeShort(q1.length).writeBytes(q1).writeShort(q2.length).writeBytes(q2, 0, 5);
        ch.writeInbound(in);
        ch.writeInbound(Unpooled.wrappedBuffer(q2, 5, q2.length - 5)); // the second split across reads
        ByteBuf first = ch.readOutbound();
        ByteBuf second = ch.readOutbound();
        byte[] r1 = new byte[first.readUnsignedShort()];
        first.readBytes(r1);
        byte[] r2 = new byte[second.readUnsignedShort()];
        second.readBytes(r2);
        first.release();
        second.release();
        assertEquals(List.of(InetAddress.ofLiteral("10.96.0.20")), addresses(r1));
        assertEquals(22, DnsMessage.idOf(r2));
        assertEquals(DnsMessage.REFUSED, rcode(r2));
        ch.finishAndReleaseAll();
    }

    @Test
    void aLargeUdpAnswerFromUpstreamIsRelayedWhole() throws Exception {
        List<InetAddress> many = new ArrayList<>();
        for (int i = 1; i <= 200; i++) {
            many.add(InetAddress.ofLiteral("198.51." + (100 + i / 250) + "." + (i % 250)));
        }
        InetSocketAddress at = listen(proxy(null, resolver(new CopyOnWriteArrayList<>(),
                q -> DnsMessage.parseQuery(q).answer(many, 60))));
        byte[] r = ask(at, query(0x0101, "big.example.test", DnsMessage.TYPE_A));
        assertEquals(true, r.length > 2048, "larger than a default datagram read: " + r.length);
        assertEquals(many, addresses(r));
    }

    @Test
    void aQueryOverTcpIsForwardedOverTcpSoAnAnswerTooLargeForADatagramArrivesWhole() throws Exception {
        List<InetAddress> many = new ArrayList<>();
        for (int i = 1; i <= 60; i++) {
            many.add(InetAddress.ofLiteral("198.51.100." + i));
        }
        List<byte[]> got = new CopyOnWriteArrayList<>();
        PrometheusRegistry registry = new PrometheusRegistry();
        DnsProxy p = proxy(registry, tcpResolver(got, new CopyOnWriteArrayList<>(),
                q -> DnsMessage.parseQuery(q).answer(many, 60)));
        byte[] q = query(0x0777, "many.example.test", DnsMessage.TYPE_A);

        byte[] r = askOverTcp(listenTcp(p), q);
        assertEquals(true, r.length > 512, "larger than a plain DNS datagram: " + r.length);
        assertEquals(0x0777, DnsMessage.idOf(r));
        assertEquals(many, addresses(r), "every record arrived");
        assertEquals(1, got.size(), "asked once, over TCP");
        assertArrayEquals(q, got.getFirst(), "forwarded as the pod asked");
        assertEquals(1, answered(registry, "forwarded"));
    }

    @Test
    void overTcpARefusingOrSilentUpstreamIsSkippedAndWhenNoneAnswersThePodGetsServfail() throws Exception {
        List<byte[]> silentGot = new CopyOnWriteArrayList<>();
        List<Socket> silentClosed = new CopyOnWriteArrayList<>();
        InetSocketAddress silent = tcpResolver(silentGot, silentClosed, q -> null);
        List<byte[]> lastGot = new CopyOnWriteArrayList<>();
        InetSocketAddress answering = tcpResolver(lastGot, new CopyOnWriteArrayList<>(),
                q -> DnsMessage.parseQuery(q).answer(List.of(InetAddress.ofLiteral("192.0.2.9")), 60));
        PrometheusRegistry registry = new PrometheusRegistry();
        InetSocketAddress at = listenTcp(proxy(registry, refusing(), silent, answering));

        byte[] r = askOverTcp(at, query(31, "slow.example.test", DnsMessage.TYPE_A));
        assertEquals(List.of(InetAddress.ofLiteral("192.0.2.9")), addresses(r));
        assertEquals(1, silentGot.size());
        assertEquals(1, lastGot.size());
        Await.until(() -> silentClosed.size() == 1, () -> "the silent upstream's connection is still open");

        assertEquals(1, answered(registry, "forwarded"));

        PrometheusRegistry second = new PrometheusRegistry();
        InetSocketAddress none = listenTcp(proxy(second, refusing(), silent));
        byte[] failed = askOverTcp(none, query(32, "slow.example.test", DnsMessage.TYPE_A));
        assertEquals(32, DnsMessage.idOf(failed));
        assertEquals(DnsMessage.SERVFAIL, rcode(failed));
        Await.until(() -> silentClosed.size() == 2, () -> "the second silent connection is still open");
        assertEquals(1, answered(second, "servfail"));
    }

    @Test
    void aTcpUpstreamAnsweringAnotherIdIsNotTaken() throws Exception {
        InetSocketAddress forger = tcpResolver(new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>(),
                q -> DnsMessage.withId(DnsMessage.parseQuery(q).answer(List.of(InetAddress.ofLiteral("203.0.113.66")), 60),
                        DnsMessage.idOf(q) ^ 1));
        byte[] r = askOverTcp(listenTcp(proxy(null, forger)), query(40, "forged.example.test", DnsMessage.TYPE_A));
        assertEquals(DnsMessage.SERVFAIL, rcode(r));
        assertEquals(List.of(), addresses(r));
    }

    @Test
    void servicesSharingAHostnameAreAnsweredWithAllTheirAddressesOnceAndCaseDoesNotMatter() throws Exception {
        // Two namespaces' entries for one external name (as ServiceEntries may be), one VIP in both.
        Service a = new Service("db", "team-a", "db.example.internal",
                List.of(InetAddress.ofLiteral("10.96.0.31"), InetAddress.ofLiteral("10.96.0.30")), Map.of(5432, 5432),
                List.of(), null, Service.TrafficDistribution.ANY);
        Service b = new Service("db", "team-b", "db.example.internal",
                List.of(InetAddress.ofLiteral("10.96.0.30"), InetAddress.ofLiteral("10.96.0.32")), Map.of(5432, 5432),
                List.of(), null, Service.TrafficDistribution.ANY);
        ProxyState shared = ProxyState.of(List.of(), List.of(b, a), List.of());
        assertEquals(List.of(InetAddress.ofLiteral("10.96.0.31"), InetAddress.ofLiteral("10.96.0.30"),
                InetAddress.ofLiteral("10.96.0.32")), shared.addressesOf("DB.Example.Internal"), "by key, each once");
        assertEquals(List.of(), shared.addressesOf("missing.example.internal"));

        DnsProxy p = DnsProxy.start(() -> shared, "cluster.local", List.of(), Transport.NIO, group, null);
        closing.add(p);
        byte[] r = ask(listen(p), query(50, "db.EXAMPLE.internal", DnsMessage.TYPE_A));
        assertEquals(shared.addressesOf("db.example.internal"), addresses(r));
    }

    static InetSocketAddress upstreamSocketOf(DnsProxy p) {
        return new InetSocketAddress(LOOPBACK, p.upstreamSocket().getPort());
    }

    /** istio_dns_requests_total{result}. */
    static double answered(PrometheusRegistry registry, String result) {
        for (MetricSnapshot m : registry.scrape()) {
            if (m.getMetadata().getPrometheusName().equals("istio_dns_requests") && m instanceof CounterSnapshot c) {
                return c.getDataPoints().stream().filter(d -> result.equals(d.getLabels().get("result")))
                        .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue).sum();
            }
        }
        return 0;
    }
}
