package dev.meshlite.ztunnel.admin;

import dev.meshlite.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP/1.1 listener for ztunnel's own endpoints (admin, metrics, readiness), on the proxy's
 * event loops rather than threads of its own: a loop only parses a request and writes the answer;
 * the answer is made on the caller's executor (ztunnel's one admin thread), so a large dump never
 * holds a loop that carries pods' traffic.
 *
 * <p>Bounds, since :15020 and :15021 listen on every address of the node: at most
 * {@value #MAX_CONNECTIONS} connections (one more is closed at once), a request of at most
 * {@value #MAX_REQUEST_BYTES} bytes (413 otherwise; a head over 8 KiB gets 431), reading paused
 * while a request is answered (what a client pipelines waits in its socket, beyond the requests of
 * one read), and a connection idle for {@value #IDLE_SECONDS} s is closed. A request that is not
 * HTTP gets 400 and the connection is closed.
 *
 * <p>The executor must run its tasks one at a time, in order (a single thread): that keeps the
 * answers to pipelined requests in their order.
 *
 * <p>Pipeline, in order: {@code idle} ({@link IdleStateHandler}), {@code http}
 * ({@link HttpServerCodec}), {@code aggregate} ({@link HttpObjectAggregator}), {@code endpoint}
 * (the routes).
 */
final class HttpEndpoints implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(HttpEndpoints.class);

    static final int MAX_CONNECTIONS = 64;
    static final int MAX_REQUEST_BYTES = 16 * 1024;
    static final int IDLE_SECONDS = 60;

    /** What a handler sees of a request: the body is not kept (no endpoint takes one). */
    record Request(HttpMethod method, String path, Map<String, List<String>> parameters, String accept) {

        /** The one value of a query parameter, or null when absent. */
        String parameter(String name) {
            List<String> values = parameters.get(name);
            return values == null || values.isEmpty() ? null : values.getLast();
        }
    }

    record Response(int status, String contentType, byte[] body) {

        static Response text(int status, String body) {
            return new Response(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
        }

        static Response json(int status, String body) {
            return new Response(status, "application/json", body.getBytes(StandardCharsets.UTF_8));
        }
    }

    @FunctionalInterface
    interface Handler {
        Response handle(Request request) throws Exception;
    }

    private final Channel server;
    private final Set<Channel> accepted;

    private HttpEndpoints(Channel server, Set<Channel> accepted) {
        this.server = server;
        this.accepted = accepted;
    }

    /**
     * Listens on {@code address}; {@code routes} by exact path. An unknown path gets 404 and the
     * list of paths; a handler's exception gets 500 with its message.
     */
    static HttpEndpoints bind(InetSocketAddress address, Transport transport, EventLoopGroup group, Executor executor,
                              Map<String, Handler> routes) throws InterruptedException {
        String index = "endpoints: " + String.join(" ", routes.keySet().stream().sorted().toList()) + "\n";
        Set<Channel> accepted = ConcurrentHashMap.newKeySet();
        Channel channel = new ServerBootstrap()
                .group(group)
                .channel(transport.serverChannel())
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        // added before the count is read: two loops accepting at once cannot both pass the bound
                        accepted.add(ch);
                        if (accepted.size() > MAX_CONNECTIONS) {
                            accepted.remove(ch);
                            LOG.debug("{}: over {} connections, {} closed", address, MAX_CONNECTIONS, ch.remoteAddress());
                            ch.close();
                            return;
                        }
                        ch.closeFuture().addListener(f -> accepted.remove(ch));
                        ch.pipeline()
                                .addLast("idle", new IdleStateHandler(0, 0, IDLE_SECONDS, TimeUnit.SECONDS))
                                .addLast("http", new HttpServerCodec())
                                .addLast("aggregate", new HttpObjectAggregator(MAX_REQUEST_BYTES))
                                .addLast("endpoint", new EndpointHandler(routes, index, executor));
                    }
                })
                .bind(address).sync().channel();
        return new HttpEndpoints(channel, accepted);
    }

    InetSocketAddress localAddress() {
        return (InetSocketAddress) server.localAddress();
    }

    /** Stops listening and closes the connections open to it (a scraper's keep-alive one, say). */
    @Override
    public void close() {
        server.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        for (Channel ch : List.copyOf(accepted)) {
            ch.close();
        }
    }

    /** Routes requests to the executor; reading is off from a request until its answer is written. */
    private static final class EndpointHandler extends SimpleChannelInboundHandler<FullHttpRequest> {

        private final Map<String, Handler> routes;
        private final String index;
        private final Executor executor;

        EndpointHandler(Map<String, Handler> routes, String index, Executor executor) {
            this.routes = routes;
            this.index = index;
            this.executor = executor;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest message) {
            if (!message.decoderResult().isSuccess()) {
                Throwable cause = message.decoderResult().cause();
                boolean tooLarge = cause instanceof io.netty.handler.codec.TooLongFrameException;
                write(ctx, Response.text(tooLarge ? 431 : 400, (tooLarge ? "request head too large" : "bad request: "
                        + cause.getMessage()) + "\n"), false, false);
                return;
            }
            QueryStringDecoder uri = new QueryStringDecoder(message.uri());
            boolean keepAlive = HttpUtil.isKeepAlive(message);
            boolean head = HttpMethod.HEAD.equals(message.method());
            Request request = new Request(head ? HttpMethod.GET : message.method(), uri.path(), uri.parameters(),
                    message.headers().get(HttpHeaderNames.ACCEPT));
            Handler handler = routes.get(uri.path());
            if (handler == null) {
                write(ctx, Response.text(404, index), keepAlive, head);
                return;
            }
            ctx.channel().config().setAutoRead(false);
            try {
                executor.execute(() -> {
                    Response response;
                    try {
                        response = handler.handle(request);
                    } catch (Exception | LinkageError e) {
                        LOG.warn("{} {}: {}", request.method(), request.path(), e.toString());
                        response = Response.text(500, "error: " + e.getMessage() + "\n");
                    }
                    write(ctx, response, keepAlive, head);
                });
            } catch (RejectedExecutionException closing) {
                write(ctx, Response.text(503, "shutting down\n"), false, head);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("{}: {}", ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
            if (event instanceof IdleStateEvent) {
                ctx.close();
                return;
            }
            super.userEventTriggered(ctx, event);
        }

        /** From any thread; reading resumes once the answer is written, unless the connection closes. */
        private static void write(ChannelHandlerContext ctx, Response response, boolean keepAlive, boolean head) {
            FullHttpResponse reply = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.valueOf(response.status()),
                    head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(response.body()));
            reply.headers().set(HttpHeaderNames.CONTENT_TYPE, response.contentType());
            reply.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, response.body().length);
            if (keepAlive) {
                reply.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                ctx.writeAndFlush(reply).addListener((ChannelFutureListener) f -> {
                    if (f.isSuccess()) {
                        f.channel().config().setAutoRead(true);
                    } else {
                        f.channel().close();
                    }
                });
            } else {
                reply.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                ctx.writeAndFlush(reply).addListener(ChannelFutureListener.CLOSE);
            }
        }
    }
}
