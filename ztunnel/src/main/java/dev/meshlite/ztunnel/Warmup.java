package dev.meshlite.ztunnel;

import dev.meshlite.hbone.tls.Der;
import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.istiod.ca.client.GrpcCertificateSource;
import dev.meshlite.ztunnel.proxy.Dial;
import dev.meshlite.ztunnel.socket.Netns;
import dev.meshlite.ztunnel.socket.SocketOptions;
import dev.meshlite.hbone.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslHandler;
import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs, once at start-up and before ztunnel reports ready, the code a node's first pod would
 * otherwise run cold (class loading, linking, first native calls), so that pod's hand-off is
 * acked as soon as a warm ztunnel would ack it. Every step is the real code path on real
 * material, and nothing it makes is used to serve a pod:
 * <ul>
 *   <li>the next certificate fetch's key and CSR ({@link GrpcCertificateSource#prepare()}; the
 *       one thing kept: the first fetch uses them);</li>
 *   <li>a listener bound the way a pod's are (setns, SO_REUSEPORT) in ztunnel's own namespace on
 *       loopback, and a marked connection to it made the way upstream sockets are;</li>
 *   <li>TLS: a throwaway self-signed SPIFFE certificate, the server and client contexts built from
 *       it as for a pod's identity, and one in-memory TLS 1.3 handshake between them.</li>
 * </ul>
 * A step that fails (no CAP_SYS_ADMIN for setns, say) is logged and skipped: warming is an
 * optimisation, never a reason not to start.
 */
final class Warmup {

    private static final Logger LOG = LoggerFactory.getLogger(Warmup.class);
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(5);

    private Warmup() {}

    /** Runs every step on the calling thread (a platform thread: setns moves the OS thread). */
    static void run(GrpcCertificateSource ca, String trustDomain, Transport transport, EventLoopGroup group) {
        long start = System.nanoTime();
        step("certificate key and CSR", ca::prepare);
        step("pod listener and marked dial", () -> listenerAndDial(transport, group));
        step("TLS contexts and handshake", () -> tls(trustDomain));
        LOG.info("warmed up the first pod's path in {} ms", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void step(String name, Step step) {
        try {
            step.run();
        } catch (Exception | LinkageError e) {
            LOG.info("warm-up step '{}' skipped: {}", name, e.toString());
        }
    }

    /** As PodProxy binds a pod's listener and Dial makes an upstream socket, in our own namespace. */
    private static void listenerAndDial(Transport transport, EventLoopGroup group) throws Exception {
        Netns here = Netns.current();
        ServerBootstrap sb = new ServerBootstrap().group(group).channel(transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 16)
                .option(EpollChannelOption.SO_REUSEPORT, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.close();
                    }
                });
        Channel listener = SocketOptions.bindIn(here, sb, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .syncUninterruptibly().channel();
        try {
            var dial = Dial.fromPod(new Bootstrap().group(group), here, transport.socketChannel())
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(listener.localAddress());
            if (!dial.await(STEP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                dial.cancel(false);
            }
            dial.channel().close().awaitUninterruptibly(STEP_TIMEOUT.toMillis());
        } finally {
            listener.close().awaitUninterruptibly(STEP_TIMEOUT.toMillis());
        }
    }

    /** Contexts as CertificateManager builds them, and a handshake between them as on :15008. */
    static void tls(String trustDomain) throws Exception {
        WorkloadCertificate material = selfSigned(new SpiffeId(trustDomain, "ztunnel-warmup", "ztunnel-warmup"));
        TrustBundle roots = TrustBundle.of(material.leaf());
        TlsContextHolder server = TlsContextHolder.forServer(material, roots, PeerVerifier.sameTrustDomain(trustDomain));
        TlsContextHolder client = TlsContextHolder.forClient(material, roots);
        handshake(client.newHandler(ByteBufAllocator.DEFAULT), server.newHandler(ByteBufAllocator.DEFAULT));
    }

    /** A throwaway self-signed P-256 certificate for {@code id}, valid for ten minutes; trusted by nothing. */
    static WorkloadCertificate selfSigned(SpiffeId id) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair key = g.generateKeyPair();
        Instant now = Instant.now();
        // X.509 v3 (RFC 5280 §4.1): issuer and subject "O=ztunnel warm-up", one extension, the SAN.
        byte[] name = Der.sequence(Der.set(Der.sequence(Der.oid("2.5.4.10"), Der.utf8String("ztunnel warm-up"))));
        byte[] san = Der.sequence(Der.oid("2.5.29.17"),
                Der.octetString(Der.sequence(Der.implicit(6, Der.ia5String(id.uri()))))); // [6] URI
        byte[] tbs = Der.sequence(
                Der.explicit(0, Der.integer(2)), // v3
                Der.integer(now.toEpochMilli()), // serial
                Der.signatureAlgorithm(key.getPrivate()),
                name,
                Der.sequence(Der.time(now.minusSeconds(60)), Der.time(now.plusSeconds(600))),
                name,
                key.getPublic().getEncoded(),
                Der.explicit(3, Der.sequence(san)));
        X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(Der.signed(tbs, key.getPrivate())));
        return new WorkloadCertificate(List.of(cert), key.getPrivate());
    }

    /** Shuttles bytes between two embedded channels until both handshakes are done (bounded). */
    private static void handshake(SslHandler clientTls, SslHandler serverTls) {
        EmbeddedChannel c = new EmbeddedChannel(clientTls);
        EmbeddedChannel s = new EmbeddedChannel(serverTls);
        try {
            for (int round = 0; round < 10 && !(clientTls.handshakeFuture().isDone()
                    && serverTls.handshakeFuture().isDone()); round++) {
                move(c, s);
                move(s, c);
            }
            if (!clientTls.handshakeFuture().isSuccess() || !serverTls.handshakeFuture().isSuccess()) {
                Throwable cause = clientTls.handshakeFuture().cause() != null ? clientTls.handshakeFuture().cause()
                        : serverTls.handshakeFuture().cause();
                throw new IllegalStateException("handshake did not complete: " + cause);
            }
        } finally {
            c.finishAndReleaseAll();
            s.finishAndReleaseAll();
        }
    }

    private static void move(EmbeddedChannel from, EmbeddedChannel to) {
        for (Object o; (o = from.readOutbound()) != null; ) {
            to.writeInbound((ByteBuf) o);
        }
    }
}
