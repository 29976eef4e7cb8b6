package dev.meshlite.hbone.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.testing.HboneTestbed;
import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client's one transparent retry of a CONNECT the server never took, against an HBONE server
 * made of Netty's HTTP/2 frames that refuses streams or goes away below them on cue (the race of
 * a peer ztunnel draining for a restart). Served CONNECTs are answered 200 and echoed.
 */
@Timeout(60)
class ConnectRetryIT {

    enum Action { SERVE, REFUSE, GO_AWAY, FORBID }

    /** A CONNECT as the server saw it: which one overall (from 1) and on which connection (from 1). */
    record Seen(int number, int connection, String authority) {}

    static final AttributeKey<Integer> CONNECTION = AttributeKey.valueOf("retry-it.connection");
    static final InetSocketAddress TARGET = new InetSocketAddress("10.0.0.7", 8080);

    final TestCa ca = TestCa.create(HboneTestbed.TRUST_DOMAIN);
    final SpiffeId serverId = ca.id("ns-b", "ztunnel");
    final SpiffeId clientId = ca.id("ns-a", "sleep");
    final HboneMetrics metrics = new HboneMetrics();
    final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    final List<Seen> seen = new CopyOnWriteArrayList<>();
    final AtomicInteger connections = new AtomicInteger();
    final AtomicInteger connects = new AtomicInteger();
    Channel listener;
    HboneClient client;

    void start(IntFunction<Action> script) throws Exception {
        TlsContextHolder serverTls = TlsContextHolder.forServer(ca.issue(serverId), ca.bundle(),
                PeerVerifier.sameTrustDomain(HboneTestbed.TRUST_DOMAIN));
        listener = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.attr(CONNECTION).set(connections.incrementAndGet());
                        ch.pipeline().addLast(serverTls.newHandler(ch.alloc()), Http2FrameCodecBuilder.forServer().build(),
                                new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                                    @Override
                                    protected void initChannel(Http2StreamChannel stream) {
                                        stream.pipeline().addLast(new Scripted(script));
                                    }
                                }));
                    }
                })
                .bind(new InetSocketAddress(HboneTestbed.LOOPBACK, 0)).syncUninterruptibly().channel();
        client = HboneClient.create(HboneClientConfig.defaults(),
                HboneClient.single(TlsContextHolder.forClient(ca.issue(clientId), ca.bundle())), metrics);
    }

    PoolKey key() {
        return new PoolKey(clientId, Set.of(serverId), (InetSocketAddress) listener.localAddress(), HboneTestbed.LOOPBACK);
    }

    @AfterEach
    void stop() {
        if (client != null) {
            client.close();
        }
        if (listener != null) {
            listener.close().syncUninterruptibly();
        }
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Does to each CONNECT what the script says for its number; a served one echoes its bytes. */
    final class Scripted extends ChannelInboundHandlerAdapter {
        private final IntFunction<Action> script;

        Scripted(IntFunction<Action> script) {
            this.script = script;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame h) {
                    int number = connects.incrementAndGet();
                    Channel connection = ctx.channel().parent();
                    seen.add(new Seen(number, connection.attr(CONNECTION).get(), String.valueOf(h.headers().authority())));
                    switch (script.apply(number)) {
                        case SERVE -> ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
                        case FORBID -> ctx.writeAndFlush(new DefaultHttp2HeadersFrame(
                                new DefaultHttp2Headers().status("403"), true));
                        case REFUSE -> ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.REFUSED_STREAM));
                        case GO_AWAY -> {
                            Http2FrameCodec codec = connection.pipeline().get(Http2FrameCodec.class);
                            ChannelHandlerContext codecCtx = connection.pipeline().context(codec);
                            int id = ((Http2StreamChannel) ctx.channel()).stream().id();
                            codec.goAway(codecCtx, id - 2, Http2Error.NO_ERROR.code(), Unpooled.EMPTY_BUFFER,
                                    codecCtx.newPromise());
                            codecCtx.flush();
                        }
                    }
                } else if (msg instanceof Http2DataFrame d) {
                    ctx.writeAndFlush(new DefaultHttp2DataFrame(d.content().retain(), d.isEndStream()));
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }

    static void echoes(HboneStream stream) throws Exception {
        CompletableFuture<String> back = new CompletableFuture<>();
        stream.attach(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof Http2DataFrame d) {
                    back.complete(d.content().toString(StandardCharsets.UTF_8));
                }
                ReferenceCountUtil.release(msg);
            }
        }).get(10, TimeUnit.SECONDS);
        stream.channel().writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("ping", StandardCharsets.UTF_8)));
        stream.channel().read(); // the attached handler owns reading (AUTO_READ is off)
        assertEquals("ping", back.get(10, TimeUnit.SECONDS));
        stream.close();
    }

    HboneTunnelException failure(PoolKey key) {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> client.open(key, TunnelRequest.to(TARGET)).get(10, TimeUnit.SECONDS));
        return assertInstanceOf(HboneTunnelException.class, e.getCause());
    }

    @Test
    void aRefusedConnectIsOpenedAgainOnTheSameConnection() throws Exception {
        start(n -> n == 1 ? Action.REFUSE : Action.SERVE);
        echoes(client.open(key(), TunnelRequest.to(TARGET)).get(10, TimeUnit.SECONDS));
        assertEquals(List.of(new Seen(1, 1, "10.0.0.7:8080"), new Seen(2, 1, "10.0.0.7:8080")), seen);
        assertEquals(1, metrics.snapshot().streamsRetried());
    }

    @Test
    void aConnectRefusedTwiceFailsAfterOneRetry() throws Exception {
        start(n -> Action.REFUSE);
        HboneTunnelException e = failure(key());
        assertTrue(e.unprocessed(), e.toString());
        assertEquals("CONNECT 10.0.0.7:8080 refused (REFUSED_STREAM)", e.getMessage());
        assertEquals(2, seen.size(), "one retry, no loop: " + seen);
        assertEquals(1, metrics.snapshot().streamsRetried());
    }

    @Test
    void aGoAwayBelowTheConnectMovesItToANewConnection() throws Exception {
        start(n -> n == 1 ? Action.GO_AWAY : Action.SERVE);
        echoes(client.open(key(), TunnelRequest.to(TARGET)).get(10, TimeUnit.SECONDS));
        assertEquals(List.of(1, 2), seen.stream().map(Seen::connection).toList(),
                "the retry went to a new connection, not to the one going away");
        echoes(client.open(key(), TunnelRequest.to(TARGET)).get(10, TimeUnit.SECONDS));
        assertEquals(2, seen.get(2).connection(), "later tunnels stay off the connection that went away");
        assertEquals(1, client.connections(key()), "the pool holds only the new connection");
    }

    @Test
    void anAnsweredConnectIsNotRetried() throws Exception {
        start(n -> Action.FORBID);
        HboneTunnelException e = failure(key());
        assertEquals(403, e.status());
        assertFalse(e.unprocessed(), e.toString());
        assertEquals(1, seen.size(), seen.toString());
        assertEquals(0, metrics.snapshot().streamsRetried());
    }

    @Test
    void aSocketsEarlyBytesSurviveTheRetry() throws Exception {
        start(n -> n == 1 ? Action.REFUSE : Action.SERVE);
        try (LocalForwarder f = LocalForwarder.start(client, new InetSocketAddress(HboneTestbed.LOOPBACK, 0), key(), TARGET);
             Socket s = new Socket(f.localAddress().getAddress(), f.localAddress().getPort())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            byte[] hello = "hello before any tunnel\n".getBytes(StandardCharsets.UTF_8);
            out.write(hello); // written at once: the tunnel is not open yet, and its first CONNECT is refused
            InputStream in = s.getInputStream();
            assertArrayEquals(hello, in.readNBytes(hello.length));
        }
        assertEquals(2, seen.size(), seen.toString());
        assertEquals(1, metrics.snapshot().streamsRetried());
    }
}
