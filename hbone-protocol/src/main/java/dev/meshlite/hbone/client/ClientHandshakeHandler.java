package dev.meshlite.hbone.client;

import dev.meshlite.hbone.HboneCodec;
import dev.meshlite.hbone.HboneWire;
import dev.meshlite.hbone.metrics.HandshakeFailures;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SessionCheck;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;

/**
 * Client side of the handshake: nothing is sent over HTTP/2 before the server proved one of the
 * expected identities.
 */
final class ClientHandshakeHandler extends ChannelInboundHandlerAdapter {

    private final PooledConnection connection;
    private final ConnectionPool pool;
    private final HboneMetrics metrics;
    private final HboneClientConfig config;

    ClientHandshakeHandler(PooledConnection connection, ConnectionPool pool, HboneMetrics metrics,
                           HboneClientConfig config) {
        this.connection = connection;
        this.pool = pool;
        this.metrics = metrics;
        this.config = config;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (!(evt instanceof SslHandshakeCompletionEvent done)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        if (!done.isSuccess()) {
            fail(ctx, done.cause());
            return;
        }
        try {
            PeerVerifier.oneOf(connection.key.expectedDestinations())
                    .verify(SessionCheck.verify(ctx.pipeline().get(SslHandler.class)));
        } catch (Exception e) {
            fail(ctx, e);
            return;
        }
        Http2FrameCodec codec = HboneCodec.forClient();
        ctx.pipeline().replace(this, ClientPipeline.H2, codec);
        HboneCodec.limitSentFrames(ctx.pipeline(), ClientPipeline.H2, codec);
        ctx.pipeline().addAfter(HboneCodec.SEND_FRAME_LIMIT, ClientPipeline.MUX,
                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
        ctx.pipeline().addAfter(ClientPipeline.MUX, ClientPipeline.CONNECTION,
                new ConnectionHandler(connection, pool, config));
        codec.connection().local().flowController().incrementWindowSize(codec.connection().connectionStream(),
                HboneWire.CONNECTION_WINDOW - Http2CodecUtil.DEFAULT_WINDOW_SIZE);
        ctx.flush();
        metrics.connectionOpened();
        ctx.channel().closeFuture().addListener(f -> metrics.connectionClosed());
    }

    private void fail(ChannelHandlerContext ctx, Throwable cause) {
        metrics.handshakeFailed(HandshakeFailures.classify(cause));
        pool.failed(connection, new HboneTunnelException("handshake with " + connection.key.destination()
                + " failed: " + cause.getMessage(), cause));
        ctx.close();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
