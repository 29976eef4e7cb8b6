package dev.meshlite.istiod.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.istiod.api.xds.v1.DeltaRequest;
import dev.meshlite.istiod.api.xds.v1.DeltaResponse;
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
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;

/**
 * A gRPC server of the discovery method made directly of Netty's HTTP/2 frames, over TLS for
 * {@link TlsGrpcServer#AUTHORITY}, doing to each stream what a script says. It produces what
 * grpc-java's server cannot be made to on demand: a refused stream, a GOAWAY that leaves an open
 * stream unprocessed. Served streams answer each {@link DeltaRequest} with a
 * {@link DeltaResponse} whose nonce is the request's {@code response_nonce}, and end OK after
 * the client's half-close.
 */
final class ScriptedGrpcServer implements AutoCloseable {

    enum Action {
        SERVE,
        /** RST_STREAM(REFUSED_STREAM). */
        REFUSE,
        /** GOAWAY(NO_ERROR) with a last stream id below this stream's; the connection stays open. */
        GO_AWAY,
        /** Response headers, then RST_STREAM(REFUSED_STREAM): the server's application had the call. */
        ANSWER_THEN_REFUSE
    }

    /** What to do to a stream, once it has brought {@code afterMessages} requests (0: at its headers). */
    record Step(Action action, int afterMessages) {
        static final Step SERVE = new Step(Action.SERVE, 0);
    }

    /** A stream as the server saw it: which one overall (from 1), on which connection (from 1). */
    record Seen(int number, int connection, String authorization, String timeout, List<String> nonces) {}

    private static final AttributeKey<Integer> CONNECTION = AttributeKey.valueOf("scripted.connection");

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel listener;
    private final IntFunction<Step> script;
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger streams = new AtomicInteger();
    final List<Seen> seen = new CopyOnWriteArrayList<>();

    /** {@code script} maps a stream's number (from 1, over all connections) to its step. */
    ScriptedGrpcServer(TestCa ca, IntFunction<Step> script) throws Exception {
        this.script = script;
        TestCa.Serving serving = ca.issueServing(List.of(TlsGrpcServer.AUTHORITY));
        SslContext tls = SslContextBuilder.forServer(serving.key(), serving.chain().toArray(X509Certificate[]::new))
                .protocols("TLSv1.3")
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_2))
                .build();
        listener = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.attr(CONNECTION).set(connections.incrementAndGet());
                        ch.pipeline().addLast(tls.newHandler(ch.alloc()), Http2FrameCodecBuilder.forServer().build(),
                                new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                                    @Override
                                    protected void initChannel(Http2StreamChannel stream) {
                                        stream.pipeline().addLast(new StreamHandler());
                                    }
                                }));
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0)).syncUninterruptibly().channel();
    }

    int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    int connections() {
        return connections.get();
    }

    GrpcChannel channel(TestCa ca) {
        return GrpcChannel.create("127.0.0.1", port(), ca.bundle(), TlsGrpcServer.AUTHORITY, GrpcChannel.Settings.DEFAULTS);
    }

    @Override
    public void close() {
        listener.close().syncUninterruptibly();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private final class StreamHandler extends ChannelInboundHandlerAdapter {
        private final MessageDeframer deframer = new MessageDeframer(16 << 20);
        private Step step;
        private Seen record;
        private boolean answered;
        private boolean done;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (done) {
                    return;
                }
                if (msg instanceof Http2HeadersFrame h) {
                    int number = streams.incrementAndGet();
                    step = script.apply(number);
                    Http2Headers headers = h.headers();
                    record = new Seen(number, ctx.channel().parent().attr(CONNECTION).get(),
                            String.valueOf(headers.get("authorization")), String.valueOf(headers.get("grpc-timeout")),
                            new CopyOnWriteArrayList<>());
                    seen.add(record);
                    if (step.afterMessages() == 0) {
                        act(ctx);
                    }
                    if (h.isEndStream()) {
                        finish(ctx);
                    }
                } else if (msg instanceof Http2DataFrame d) {
                    deframer.add(d.content(), bytes -> onMessage(ctx, bytes));
                    if (d.isEndStream()) {
                        finish(ctx);
                    }
                }
            } catch (GrpcException e) {
                throw new IllegalStateException(e);
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        private void onMessage(ChannelHandlerContext ctx, byte[] bytes) {
            if (done) {
                return;
            }
            DeltaRequest request;
            try {
                request = DeltaRequest.parseFrom(bytes);
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
            }
            record.nonces().add(request.getResponseNonce());
            if (step.action() != Action.SERVE && record.nonces().size() == step.afterMessages()) {
                act(ctx);
            } else if (step.action() == Action.SERVE) {
                answerHeaders(ctx);
                ctx.writeAndFlush(new DefaultHttp2DataFrame(GrpcCall.frame(
                        DeltaResponse.newBuilder().setNonce(request.getResponseNonce()).build().toByteArray())));
            }
        }

        private void act(ChannelHandlerContext ctx) {
            switch (step.action()) {
                case SERVE -> { }
                case REFUSE -> {
                    done = true;
                    ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.REFUSED_STREAM));
                }
                case ANSWER_THEN_REFUSE -> {
                    done = true;
                    answerHeaders(ctx);
                    ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.REFUSED_STREAM));
                }
                case GO_AWAY -> {
                    done = true;
                    Channel connection = ctx.channel().parent();
                    Http2FrameCodec codec = connection.pipeline().get(Http2FrameCodec.class);
                    ChannelHandlerContext codecCtx = connection.pipeline().context(codec);
                    int streamId = ((Http2StreamChannel) ctx.channel()).stream().id();
                    codec.goAway(codecCtx, streamId - 2, Http2Error.NO_ERROR.code(), Unpooled.EMPTY_BUFFER,
                            codecCtx.newPromise());
                    codecCtx.flush();
                }
            }
        }

        private void answerHeaders(ChannelHandlerContext ctx) {
            if (!answered) {
                answered = true;
                ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                        .set("content-type", "application/grpc")));
            }
        }

        private void finish(ChannelHandlerContext ctx) {
            if (done || step.action() != Action.SERVE) {
                return;
            }
            done = true;
            answerHeaders(ctx);
            ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("grpc-status", "0"), true));
        }
    }
}
