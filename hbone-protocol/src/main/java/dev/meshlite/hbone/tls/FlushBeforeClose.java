package dev.meshlite.hbone.tls;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;

/**
 * Sits right after the SslHandler and makes {@code close()} flush first.
 *
 * <p>Why: the HTTP/2 codec closes the connection from inside the write that ends its last stream
 * (graceful shutdown: "close once no stream is active"), before that write was flushed. SslHandler's
 * close shuts the engine's outbound side before it wraps what is still pending, so the final DATA
 * frame (the one with END_STREAM) was dropped and the peer saw a truncated stream. Flushing
 * everything through TLS, then closing, keeps the invariant: bytes written before close() reach the
 * peer before close_notify.
 */
public final class FlushBeforeClose extends ChannelOutboundHandlerAdapter {

    /** Pipeline name, on both client and server connections. */
    public static final String NAME = "flush-before-close";

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        if (!ctx.channel().isActive()) {
            ctx.close(promise);
            return;
        }
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f -> ctx.close(promise));
    }
}
