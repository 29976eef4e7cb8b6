package dev.meshlite.hbone.server;

import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.relay.StreamRelay;
import dev.meshlite.hbone.server.ServerHandshakeHandler.PeerContext;
import dev.meshlite.hbone.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One inbound stream, from its HEADERS to an established relay.
 *
 * <p>States: {@code AWAIT_HEADERS} → (400 | 401 | 503, done) or {@code DIALING} → (503, done) or
 * 200 and the relay replaces this handler. Authorization happens before the dial; the 200 is only
 * written once the upstream connection exists. DATA that arrives while dialing is kept (bounded by
 * the stream window) and handed to the relay in order.
 */
final class ConnectStreamHandler extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(ConnectStreamHandler.class);

    private enum State { AWAIT_HEADERS, DIALING, DONE }

    private final PeerContext peer;
    private final ConnectAuthorizer authorizer;
    private final Transport transport;
    private final Duration dialTimeout;
    private final HboneMetrics metrics;
    private final List<Http2DataFrame> early = new ArrayList<>();
    private State state = State.AWAIT_HEADERS;
    private ChannelFuture dial;

    ConnectStreamHandler(PeerContext peer, ConnectAuthorizer authorizer, Transport transport,
                         Duration dialTimeout, HboneMetrics metrics) {
        this.peer = peer;
        this.authorizer = authorizer;
        this.transport = transport;
        this.dialTimeout = dialTimeout;
        this.metrics = metrics;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.read();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        switch (state) {
            case AWAIT_HEADERS -> {
                if (msg instanceof Http2HeadersFrame headers) {
                    onHeaders(ctx, headers);
                } else {
                    ReferenceCountUtil.release(msg);
                    refuse(ctx, HttpResponseStatus.BAD_REQUEST, "DATA before HEADERS");
                }
            }
            case DIALING -> {
                if (msg instanceof Http2DataFrame data) {
                    early.add(data);
                } else {
                    ReferenceCountUtil.release(msg);
                }
            }
            case DONE -> ReferenceCountUtil.release(msg);
        }
    }

    private void onHeaders(ChannelHandlerContext ctx, Http2HeadersFrame frame) {
        Http2Headers h = frame.headers();
        if (!HttpMethod.CONNECT.asciiName().contentEquals(h.method() == null ? "" : h.method())) {
            refuse(ctx, HttpResponseStatus.BAD_REQUEST, "method " + h.method() + " (expected: CONNECT)");
            return;
        }
        if (h.scheme() != null || h.path() != null || h.get(":protocol") != null) {
            refuse(ctx, HttpResponseStatus.BAD_REQUEST, "CONNECT with :scheme, :path or :protocol");
            return;
        }
        if (frame.isEndStream()) {
            refuse(ctx, HttpResponseStatus.BAD_REQUEST, "CONNECT with END_STREAM");
            return;
        }
        InetSocketAddress authority = Authority.parse(h.authority());
        if (authority == null) {
            refuse(ctx, HttpResponseStatus.BAD_REQUEST, "authority " + h.authority() + " (expected: ip:port)");
            return;
        }
        Channel parent = ctx.channel().parent();
        ConnectDecision decision;
        try {
            decision = authorizer.decide(new ConnectRequest(peer.id(), peer.certificate(), authority,
                    parent.remoteAddress(), h, parent.localAddress()));
        } catch (RuntimeException e) {
            log.warn("authorizer failed for {} -> {}", peer.id(), authority, e);
            decision = ConnectDecision.unavailable("authorizer failed: " + e);
        }
        switch (decision) {
            case ConnectDecision.Deny deny -> refuse(ctx, HttpResponseStatus.UNAUTHORIZED, deny.reason());
            case ConnectDecision.Unavailable u -> refuse(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, u.reason());
            case ConnectDecision.Allow allow -> dial(ctx, allow.upstream(), allow.dialer());
        }
    }

    private void dial(ChannelHandlerContext ctx, InetSocketAddress upstream, UnaryOperator<Bootstrap> dialer) {
        state = State.DIALING;
        // Same event loop as the stream: no cross-thread hand-off on the data path.
        Bootstrap bootstrap = new Bootstrap()
                .group(ctx.channel().eventLoop())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, dialTimeout.toMillis()))
                .handler(new ChannelInboundHandlerAdapter());
        try {
            Bootstrap shaped = dialer.apply(bootstrap);
            if (shaped.config().channelFactory() == null) { // the dialer may bring its own
                shaped.channel(transport.socketChannel());
            }
            dial = shaped.connect(upstream);
        } catch (RuntimeException e) {
            refuse(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "dial " + upstream + ": " + e);
            return;
        }
        dial.addListener((ChannelFuture f) -> {
            if (state != State.DIALING) { // stream reset or closed meanwhile
                f.channel().close();
                return;
            }
            if (!f.isSuccess()) {
                refuse(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "dial " + upstream + ": " + f.cause());
                return;
            }
            state = State.DONE;
            Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
            Http2Headers ok = new DefaultHttp2Headers().status(HttpResponseStatus.OK.codeAsText());
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(ok, false));
            metrics.streamOpened();
            stream.closeFuture().addListener(c -> metrics.streamClosed());
            ctx.pipeline().remove(this);
            List<Http2DataFrame> pending = new ArrayList<>(early);
            early.clear();
            StreamRelay.bridge(stream, (SocketChannel) f.channel(), metrics, pending);
        });
    }

    private void refuse(ChannelHandlerContext ctx, HttpResponseStatus status, String why) {
        state = State.DONE;
        releaseEarly();
        metrics.streamRefused();
        log.debug("refusing CONNECT from {} with {}: {}", peer.id(), status.code(), why);
        Http2Headers headers = new DefaultHttp2Headers().status(status.codeAsText());
        ctx.write(new DefaultHttp2HeadersFrame(headers, true));
        // A complete response was sent; NO_ERROR asks the client to stop sending (RFC 9113 §8.1).
        ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR)).addListener(f -> ctx.close());
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame) {
            abort();
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        abort();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("stream failed", cause);
        abort();
        StreamRelay.closeOnError(ctx.channel(), cause);
    }

    private void abort() {
        if (state == State.DIALING && dial != null) {
            dial.channel().close();
        }
        state = State.DONE;
        releaseEarly();
    }

    private void releaseEarly() {
        early.forEach(ReferenceCountUtil::release);
        early.clear();
    }
}
