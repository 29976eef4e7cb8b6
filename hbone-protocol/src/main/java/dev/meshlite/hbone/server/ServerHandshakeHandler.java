package dev.meshlite.hbone.server;

import dev.meshlite.hbone.HboneCodec;
import dev.meshlite.hbone.HboneWire;
import dev.meshlite.hbone.metrics.HandshakeFailures;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.tls.SessionCheck;
import dev.meshlite.hbone.tls.SpiffeId;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.security.cert.X509Certificate;
import java.util.function.Function;

/** Waits for the TLS handshake, validates the session, then installs HTTP/2. */
final class ServerHandshakeHandler extends ChannelInboundHandlerAdapter {

    private final HboneMetrics metrics;
    private final Function<PeerContext, ChannelInitializer<Http2StreamChannel>> streams;
    private final Runnable onEstablished;

    /** The verified peer of one connection, shared by its streams. */
    record PeerContext(SpiffeId id, X509Certificate certificate) {}

    ServerHandshakeHandler(HboneMetrics metrics,
                           Function<PeerContext, ChannelInitializer<Http2StreamChannel>> streams,
                           Runnable onEstablished) {
        this.metrics = metrics;
        this.streams = streams;
        this.onEstablished = onEstablished;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (!(evt instanceof SslHandshakeCompletionEvent done)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        if (!done.isSuccess()) {
            metrics.handshakeFailed(HandshakeFailures.classify(done.cause()));
            ctx.close();
            return;
        }
        SslHandler tls = ctx.pipeline().get(SslHandler.class);
        PeerContext peer;
        try {
            SpiffeId id = SessionCheck.verify(tls);
            peer = new PeerContext(id, (X509Certificate) tls.engine().getSession().getPeerCertificates()[0]);
        } catch (Exception e) {
            metrics.handshakeFailed(HandshakeFailures.classify(e));
            ctx.close();
            return;
        }
        Http2FrameCodec codec = HboneCodec.forServer();
        ctx.pipeline().replace(this, ServerPipeline.H2, codec);
        HboneCodec.limitSentFrames(ctx.pipeline(), ServerPipeline.H2, codec);
        ctx.pipeline().addAfter(HboneCodec.SEND_FRAME_LIMIT, ServerPipeline.MUX,
                new Http2MultiplexHandler(streams.apply(peer)));
        ctx.pipeline().addAfter(ServerPipeline.MUX, ServerPipeline.ERRORS, ConnectionErrors.INSTANCE);
        // The stream window comes with SETTINGS; the connection window only grows by WINDOW_UPDATE.
        codec.connection().local().flowController().incrementWindowSize(
                codec.connection().connectionStream(),
                HboneWire.CONNECTION_WINDOW - io.netty.handler.codec.http2.Http2CodecUtil.DEFAULT_WINDOW_SIZE);
        ctx.flush();
        onEstablished.run();
    }

    /**
     * The end of an established connection's pipeline. The codec has already answered a
     * connection error (GOAWAY with its code, then close) before it passes the error on; what
     * reaches here is only logged, at debug: a peer's malformed frames are not the server's fault.
     */
    @io.netty.channel.ChannelHandler.Sharable
    static final class ConnectionErrors extends ChannelInboundHandlerAdapter {
        static final ConnectionErrors INSTANCE = new ConnectionErrors();
        private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ConnectionErrors.class);

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("connection {}: {}", ctx.channel().remoteAddress(), cause.toString());
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Handshake failures are counted from the completion event; this only closes.
        ctx.close();
    }
}
