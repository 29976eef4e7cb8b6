package dev.meshlite.istiod.grpc;

import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.meshlite.hbone.tls.TrustBundle;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A gRPC client channel to one server (istiod-lite): one HTTP/2 connection over TLS 1.3 with ALPN
 * {@code h2}, the server verified against {@code roots} and for the name {@code authority}. It is
 * what a data-plane proxy needs of gRPC and no more: unary calls and bidirectional streams of
 * protobuf messages, metadata, deadlines, status.
 *
 * <p>Rules:
 * <ul>
 *   <li>The connection is made by the first call and again by the first call after it is lost
 *       (closed, failed, or told to go away). No backoff here: a call made while the server is
 *       unreachable fails with UNAVAILABLE at once and the caller retries on its own schedule
 *       (the xDS client's backoff, the certificate manager's), so a server that is back is used
 *       by the very next attempt.</li>
 *   <li>All connection and stream state lives on one event loop of the group (no locks);
 *       callers never block on it.</li>
 *   <li>A connection silent for {@code keepAliveIdle} is sent a PING; no answer within
 *       {@code keepAliveTimeout} closes it, failing its calls with UNAVAILABLE, so a server that
 *       vanished without a FIN (its node lost) is noticed and the next call dials again.</li>
 *   <li>A response message larger than {@code maxMessageBytes} fails its call with
 *       RESOURCE_EXHAUSTED and resets the stream, before the message is held in memory.</li>
 * </ul>
 */
public final class GrpcChannel implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(GrpcChannel.class);
    private static final AttributeKey<Boolean> GOAWAY = AttributeKey.valueOf("meshlite.grpc.goaway");

    /** Per-stream receive window: a large cluster's first configuration push needs no window round trips. */
    static final int STREAM_WINDOW = 1 << 20;
    static final int CONNECTION_WINDOW = 4 << 20;

    /**
     * Limits and timers. Defaults: 16 MiB messages (gRPC's own default of 4 MiB is below a large
     * cluster's first push), 10 s to connect, a PING after 30 s of silence answered within 10 s.
     */
    public record Settings(int maxMessageBytes, Duration connectTimeout, Duration keepAliveIdle,
                           Duration keepAliveTimeout) {
        public static final Settings DEFAULTS = new Settings(16 << 20, Duration.ofSeconds(10), Duration.ofSeconds(30),
                Duration.ofSeconds(10));

        public Settings {
            if (maxMessageBytes <= 0) {
                throw new IllegalArgumentException("maxMessageBytes: " + maxMessageBytes + " (expected: > 0)");
            }
            for (Duration d : new Duration[] {connectTimeout, keepAliveIdle, keepAliveTimeout}) {
                if (d.isNegative() || d.isZero()) {
                    throw new IllegalArgumentException("timer: " + d + " (expected: > 0)");
                }
            }
        }
    }

    /** What a call's responses and end are delivered to. */
    public interface Listener<R> {
        void onMessage(R message);

        /** Last, exactly once. */
        void onClose(GrpcStatus status);
    }

    /** The caller's side of a streaming call; every method may be called from any thread. */
    public interface ClientStream<Q> {
        void send(Q message);

        /** No more messages from this side; responses go on until the server ends the call. */
        void halfClose();

        /** Ends the call now; the listener's {@code onClose} says CANCELLED with {@code reason}. */
        void cancel(String reason);
    }

    private final String host;
    private final int port;
    private final String authority;
    private final SslContext tls;
    private final Settings settings;
    private final EventLoop loop;
    private final Class<? extends Channel> channelType;
    /** The group this channel made for itself, shut down by {@link #close()}; null when the caller's. */
    private final EventLoopGroup ownGroup;

    // Event loop state.
    /** The latest connection attempt: ready once TLS and HTTP/2 are set up. */
    private Promise<Channel> connection;
    /** Every connection not closed yet, the current one and any still draining after a GOAWAY. */
    private final java.util.Set<Channel> sockets = new java.util.HashSet<>();
    /** Calls started and not ended: {@link #close()} ends them itself (see there). */
    private final java.util.Set<GrpcCall<?, ?>> calls = new java.util.HashSet<>();
    private boolean closed;

    private GrpcChannel(String host, int port, TrustBundle roots, String authority, Settings settings,
                        EventLoopGroup group, Class<? extends Channel> channelType, boolean owned) {
        this.host = host;
        this.port = port;
        this.authority = authority;
        this.settings = settings;
        this.tls = clientTls(roots);
        this.loop = group.next();
        this.channelType = channelType;
        this.ownGroup = owned ? group : null;
    }

    /** A channel on one event loop thread of its own. */
    public static GrpcChannel create(String host, int port, TrustBundle roots, String authority, Settings settings) {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("grpc-client", true),
                NioIoHandler.newFactory());
        return new GrpcChannel(host, port, roots, authority, settings, group, NioSocketChannel.class, true);
    }

    /**
     * A channel on the caller's event loops (a proxy's: a loop of its own would be one more thread,
     * and its memory, for one connection). {@code channelType} must be the socket channel of
     * {@code group}'s transport. The group is not shut down by {@link #close()}.
     */
    public static GrpcChannel create(String host, int port, TrustBundle roots, String authority, Settings settings,
                                     EventLoopGroup group, Class<? extends Channel> channelType) {
        return new GrpcChannel(host, port, roots, authority, settings, group, channelType, false);
    }

    private static SslContext clientTls(TrustBundle roots) {
        try {
            // Netty's client contexts verify the server's name (endpoint identification HTTPS)
            // against the authority each handler is made for.
            return SslContextBuilder.forClient()
                    .trustManager(roots.roots().toArray(X509Certificate[]::new))
                    .protocols("TLSv1.3")
                    .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                            ApplicationProtocolNames.HTTP_2))
                    .build();
        } catch (SSLException e) {
            throw new IllegalStateException("control-plane client TLS: " + e.getMessage(), e);
        }
    }

    public String authority() {
        return authority;
    }

    /**
     * Opens a bidirectional streaming call to {@code path} ({@code /package.Service/Method});
     * {@code callbacks} must run its tasks one at a time, in order.
     */
    public <Q extends MessageLite, R> ClientStream<Q> stream(String path, Map<String, String> metadata,
            Parser<R> parser, Listener<R> listener, Executor callbacks) {
        GrpcCall<Q, R> call = new GrpcCall<>(loop, authority, path, metadata, parser, listener, callbacks, null,
                settings.maxMessageBytes());
        startOnLoop(call);
        return call;
    }

    /** A unary call: completes with the one response, or exceptionally with a {@link GrpcException}. */
    public <Q extends MessageLite, R> CompletableFuture<R> unary(String path, Q request, Map<String, String> metadata,
            Parser<R> parser, Duration deadline) {
        CompletableFuture<R> result = new CompletableFuture<>();
        Listener<R> one = new Listener<>() {
            private R response;
            private int count;

            @Override
            public void onMessage(R message) {
                response = message;
                count++;
            }

            @Override
            public void onClose(GrpcStatus status) {
                if (!status.ok()) {
                    result.completeExceptionally(new GrpcException(status));
                } else if (count != 1) {
                    result.completeExceptionally(new GrpcException(GrpcStatus.of(GrpcStatus.Code.INTERNAL,
                            count + " response messages to a unary call (expected: 1)")));
                } else {
                    result.complete(response);
                }
            }
        };
        GrpcCall<Q, R> call = new GrpcCall<>(loop, authority, path, metadata, parser, one, Runnable::run,
                deadline, settings.maxMessageBytes());
        startOnLoop(call);
        call.send(request);
        call.halfClose();
        return result;
    }

    /**
     * Ends the connection, failing open calls with UNAVAILABLE; calls made after this fail at once.
     * The calls are ended here, not left to their streams' close events: Netty delivers those as
     * later tasks, which an own loop shutting down right after may refuse, and a call would then
     * never end.
     */
    @Override
    public void close() {
        Future<?> done = loop.submit(() -> {
            closed = true;
            GrpcStatus status = GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "channel closed");
            java.util.List.copyOf(calls).forEach(c -> c.end(status));
            java.util.List.copyOf(sockets).forEach(Channel::close);
        });
        done.awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (ownGroup != null) {
            ownGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
    }

    /**
     * The server's name is resolved here, on the caller's thread (the JDK's resolver blocks, and
     * the loop may be a proxy's); the JDK caches the answer.
     */
    private void startOnLoop(GrpcCall<?, ?> call) {
        InetSocketAddress address = new InetSocketAddress(host, port);
        try {
            loop.execute(() -> {
                if (closed) {
                    call.end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "channel closed"));
                } else if (address.isUnresolved()) {
                    call.end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "cannot resolve " + host));
                } else {
                    calls.add(call);
                    call.start(new GrpcCall.Connections() {
                        @Override
                        public Future<Channel> connection(Channel retired) {
                            if (closed) {
                                return loop.newFailedFuture(new IllegalStateException("channel closed"));
                            }
                            if (retired != null) {
                                retired.attr(GOAWAY).set(true);
                            }
                            return GrpcChannel.this.connection(address);
                        }

                        @Override
                        public void ended(GrpcCall<?, ?> c) {
                            calls.remove(c);
                        }
                    });
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // This channel's own loop is gone (closed): no other thread can touch the call now.
            call.end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "channel closed"));
        }
    }

    /** True while the current connection is up and not told to go away (tests wait on it). */
    boolean connectionUsable() {
        return loop.submit(() -> connection != null && connection.isDone() && usable(connection.getNow()))
                .syncUninterruptibly().getNow();
    }

    // ---- event loop from here on ----

    private Future<Channel> connection(InetSocketAddress address) {
        if (connection != null && (!connection.isDone() || usable(connection.getNow()))) {
            return connection;
        }
        Promise<Channel> ready = loop.newPromise();
        connection = ready;
        Bootstrap b = new Bootstrap().group(loop).channel(channelType)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) settings.connectTimeout().toMillis())
                .option(ChannelOption.TCP_NODELAY, true)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast("keepalive", new IdleStateHandler(
                                settings.keepAliveIdle().toMillis(), 0, 0, TimeUnit.MILLISECONDS));
                        ch.pipeline().addLast("tls", tls.newHandler(ch.alloc(), authority, port));
                        ch.pipeline().addLast("handshake", new Handshake(ready));
                    }
                });
        ChannelFuture connect = b.connect(address);
        Channel socket = connect.channel();
        sockets.add(socket);
        socket.closeFuture().addListener(f -> sockets.remove(socket));
        connect.addListener(f -> {
            if (!f.isSuccess()) {
                ready.tryFailure(f.cause());
            }
        });
        return ready;
    }

    private static boolean usable(Channel c) {
        return c != null && c.isActive() && !Boolean.TRUE.equals(c.attr(GOAWAY).get());
    }

    /** A failure as an operator reads it: the message, with the exception's type when it has none. */
    static String describe(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root && root.getMessage() == null) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
    }

    /** Waits for TLS, checks ALPN, then replaces itself with HTTP/2 and completes the connection. */
    private final class Handshake extends ChannelInboundHandlerAdapter {
        private final Promise<Channel> ready;

        Handshake(Promise<Channel> ready) {
            this.ready = ready;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (!(evt instanceof SslHandshakeCompletionEvent done)) {
                ctx.fireUserEventTriggered(evt);
                return;
            }
            if (!done.isSuccess()) {
                fail(ctx, done.cause());
                return;
            }
            String protocol = ctx.pipeline().get(SslHandler.class).applicationProtocol();
            if (!ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                fail(ctx, new SSLException("ALPN protocol: " + protocol + " (expected: h2)"));
                return;
            }
            Http2FrameCodec codec = Http2FrameCodecBuilder.forClient()
                    .initialSettings(Http2Settings.defaultSettings().pushEnabled(false).initialWindowSize(STREAM_WINDOW))
                    .build();
            ctx.pipeline().replace(this, "h2", codec);
            ctx.pipeline().addAfter("h2", "mux", new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
            ctx.pipeline().addAfter("mux", "connection", new ConnectionWatch());
            try {
                codec.connection().local().flowController().incrementWindowSize(
                        codec.connection().connectionStream(), CONNECTION_WINDOW - Http2CodecUtil.DEFAULT_WINDOW_SIZE);
            } catch (io.netty.handler.codec.http2.Http2Exception e) {
                fail(ctx, e);
                return;
            }
            ctx.flush();
            ready.trySuccess(ctx.channel());
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            ready.tryFailure(new SSLException("connection to " + host + ":" + port + " closed during the TLS handshake"));
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(ctx, cause);
        }

        private void fail(ChannelHandlerContext ctx, Throwable cause) {
            ready.tryFailure(cause);
            ctx.close();
        }
    }

    /** The connection's own frames: GOAWAY retires it, PING answers keep it, silence probes it. */
    private final class ConnectionWatch extends ChannelInboundHandlerAdapter {
        private ScheduledFuture<?> pingTimeout;
        private long pingSeq;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2GoAwayFrame goAway) {
                    ctx.channel().attr(GOAWAY).set(true);
                    log.info("control plane {}:{} sent GOAWAY ({}); new calls use a new connection", host, port,
                            goAway.errorCode());
                } else if (msg instanceof Http2PingFrame ping && ping.ack() && pingTimeout != null) {
                    pingTimeout.cancel(false);
                    pingTimeout = null;
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent && pingTimeout == null) {
                ctx.writeAndFlush(new DefaultHttp2PingFrame(++pingSeq, false));
                pingTimeout = ctx.executor().schedule(() -> {
                    log.warn("control plane {}:{} did not answer a PING within {} ms; closing the connection",
                            host, port, settings.keepAliveTimeout().toMillis());
                    ctx.close();
                }, settings.keepAliveTimeout().toMillis(), TimeUnit.MILLISECONDS);
            } else {
                ctx.fireUserEventTriggered(evt);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (pingTimeout != null) {
                pingTimeout.cancel(false);
            }
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("control plane connection {}:{}: {}", host, port, describe(cause));
            ctx.close();
        }
    }
}
