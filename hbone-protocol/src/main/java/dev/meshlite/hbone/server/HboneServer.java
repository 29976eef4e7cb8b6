package dev.meshlite.hbone.server;

import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.tls.FlushBeforeClose;
import dev.meshlite.hbone.tls.LingeringClose;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The HBONE server: terminates mutual TLS, accepts HTTP/2 CONNECT streams, authorizes each, dials
 * the upstream and relays.
 *
 * <p>Shutdown is graceful: the listener closes first, then every connection gets a GOAWAY (so
 * clients open no new streams here) and its open streams get until the drain deadline to finish;
 * whatever is still open then is closed.
 */
public final class HboneServer implements AutoCloseable {

    private final Channel listener;
    /** Listeners added after start ({@link #listen}), each with its own TLS material. */
    private final ChannelGroup extraListeners = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final ServerBootstrap bootstrap;
    private final HboneServerConfig config;
    private final ConnectAuthorizer authorizer;
    private final Transport transport;
    private final EventLoopGroup group;
    private final boolean ownsGroup;
    private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final HboneMetrics metrics;
    private final TlsContextHolder tls;
    private final java.util.concurrent.atomic.AtomicReference<CompletableFuture<Void>> shutdown =
            new java.util.concurrent.atomic.AtomicReference<>();

    private HboneServer(HboneServerConfig config, TlsContextHolder tls, ConnectAuthorizer authorizer,
                        HboneMetrics metrics, Transport transport, EventLoopGroup group, boolean ownsGroup)
            throws InterruptedException {
        if (config.listen() != null && tls == null) {
            throw new IllegalArgumentException("tls: null (expected: the listener's server context)");
        }
        if (tls != null && !tls.isServer()) {
            throw new IllegalArgumentException("tls: a client context (expected: TlsContextHolder.forServer)");
        }
        this.group = group;
        this.ownsGroup = ownsGroup;
        this.metrics = metrics;
        this.tls = tls;
        this.config = config;
        this.authorizer = authorizer;
        this.transport = transport;
        this.bootstrap = new ServerBootstrap()
                .group(group)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true);
        this.listener = config.listen() == null ? null
                : bootstrap.clone().childHandler(connectionInitializer(tls)).bind(config.listen()).sync().channel();
    }

    private ChannelInitializer<SocketChannel> connectionInitializer(TlsContextHolder tls) {
        return new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        connections.add(ch);
                        SslHandler ssl = tls.newHandler(ch.alloc());
                        ssl.setHandshakeTimeoutMillis(config.handshakeTimeout().toMillis());
                        ch.pipeline().addLast(LingeringClose.NAME, new LingeringClose());
                        ch.pipeline().addLast(ServerPipeline.TLS, ssl);
                        ch.pipeline().addLast(FlushBeforeClose.NAME, new FlushBeforeClose());
                        ch.pipeline().addLast(ServerPipeline.HANDSHAKE, new ServerHandshakeHandler(metrics,
                                peer -> new ChannelInitializer<Http2StreamChannel>() {
                                    @Override
                                    protected void initChannel(Http2StreamChannel stream) {
                                        stream.config().setAutoRead(false);
                                        stream.pipeline().addLast(new ConnectStreamHandler(peer, authorizer,
                                                transport, config.dialTimeout(), metrics));
                                    }
                                },
                                () -> {
                                    metrics.connectionOpened();
                                    ch.closeFuture().addListener(f -> metrics.connectionClosed());
                                }));
                    }
                };
    }

    /**
     * Adds a listener that presents {@code tls} (a proxy serving several workloads answers each
     * with that workload's certificate). {@code bind} gets a configured bootstrap and binds it,
     * e.g. from inside another network namespace; the listener closes with the server, or earlier
     * through the returned channel.
     */
    public ChannelFuture listen(TlsContextHolder tls, Function<ServerBootstrap, ChannelFuture> bind) {
        if (!tls.isServer()) {
            throw new IllegalArgumentException("tls: a client context (expected: TlsContextHolder.forServer)");
        }
        if (shutdown.get() != null) {
            throw new IllegalStateException("server is shutting down");
        }
        ChannelFuture f = bind.apply(bootstrap.clone().childHandler(connectionInitializer(tls)));
        f.addListener((ChannelFuture done) -> {
            if (done.isSuccess()) {
                extraListeners.add(done.channel());
            }
        });
        return f;
    }

    /** Starts a server on its own event loops (one per core) of the selected transport. */
    public static HboneServer start(HboneServerConfig config, TlsContextHolder tls, ConnectAuthorizer authorizer,
                                    HboneMetrics metrics) throws InterruptedException {
        Transport transport = Transport.select();
        EventLoopGroup group = transport.newEventLoopGroup(0, "hbone-server");
        try {
            return new HboneServer(config, tls, authorizer, metrics, transport, group, true);
        } catch (RuntimeException | InterruptedException e) {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw e;
        }
    }

    /** Starts a server on a shared group; {@code transport} must match the group. */
    public static HboneServer start(HboneServerConfig config, TlsContextHolder tls, ConnectAuthorizer authorizer,
                                    HboneMetrics metrics, Transport transport, EventLoopGroup group)
            throws InterruptedException {
        return new HboneServer(config, tls, authorizer, metrics, transport, group, false);
    }

    /** The configured listener's address; {@code null} when the server was started without one. */
    public InetSocketAddress localAddress() {
        return listener == null ? null : (InetSocketAddress) listener.localAddress();
    }

    public HboneMetrics metrics() {
        return metrics;
    }

    public TlsContextHolder tls() {
        return tls;
    }

    /** Accepted TCP connections still open (including those still handshaking). */
    public int openConnections() {
        return connections.size();
    }

    /**
     * Stops accepting, sends GOAWAY on every connection and lets open streams finish until
     * {@code drain} has passed; completes once every connection is closed (and the server's own
     * event loops, if it has them, are shut down). A second call returns the first call's future.
     */
    public CompletableFuture<Void> shutdown(Duration drain) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        // Idempotent: later calls (close() after shutdown(), say) share the first call's outcome;
        // repeating it would submit work to event loops that may already be gone.
        if (!shutdown.compareAndSet(null, done)) {
            return shutdown.get();
        }
        extraListeners.close();
        ChannelFuture closedListener = listener != null ? listener.close() : null;
        Runnable drainAll = () -> {
            List<CompletableFuture<Void>> closing = new ArrayList<>();
            for (Channel ch : connections) {
                CompletableFuture<Void> c = new CompletableFuture<>();
                closing.add(c);
                ch.closeFuture().addListener(f -> c.complete(null));
                ch.eventLoop().execute(() -> {
                    Http2ConnectionHandler h2 = ch.pipeline().get(Http2ConnectionHandler.class);
                    if (h2 != null) {
                        // close() on the codec sends GOAWAY(last stream id, NO_ERROR) and waits for the
                        // active streams up to this timeout.
                        h2.gracefulShutdownTimeoutMillis(drain.toMillis());
                    }
                    ch.close();
                });
            }
            CompletableFuture.allOf(closing.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
                if (ownsGroup) {
                    group.shutdownGracefully(0, 1, TimeUnit.SECONDS)
                            .addListener(f -> done.complete(null));
                } else {
                    done.complete(null);
                }
            });
        };
        if (closedListener == null) {
            drainAll.run();
        } else {
            closedListener.addListener(closed -> drainAll.run());
        }
        return done;
    }

    /** Shutdown with a 5 s drain, waiting for it. */
    @Override
    public void close() {
        shutdown(Duration.ofSeconds(5)).join();
    }
}
