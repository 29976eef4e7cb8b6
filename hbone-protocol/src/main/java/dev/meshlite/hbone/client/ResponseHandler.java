package dev.meshlite.hbone.client;

import dev.meshlite.hbone.metrics.HboneMetrics;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Waits for the CONNECT response. 200 completes the open with an {@link HboneStream}; anything else
 * fails it with the status and resets the stream. Frames that arrive after the 200 but before the
 * caller attached its handler are kept, in order, and handed over by {@link HboneStream}.
 *
 * <p>A stream the server never took fails the open as {@link HboneTunnelException#unprocessed()},
 * which {@link HboneClient} opens once more: refused (RST_STREAM REFUSED_STREAM), above the last
 * stream id of a GOAWAY (Netty hands the GOAWAY only to those streams; the connection is taken
 * out of the pool here at once, as this event comes before the connection's own handler sees the
 * frame), or closed before the CONNECT was written.
 */
final class ResponseHandler extends ChannelInboundHandlerAdapter {

    private final CompletableFuture<HboneStream> result;
    private final HboneMetrics metrics;
    private final String target;
    private final Runnable goAway;
    private final List<Object> afterResponse = new ArrayList<>();
    private boolean answered;
    private boolean sent;

    /** {@code goAway}: takes the stream's connection out of the pool. */
    ResponseHandler(CompletableFuture<HboneStream> result, HboneMetrics metrics, String target, Runnable goAway) {
        this.result = result;
        this.metrics = metrics;
        this.target = target;
        this.goAway = goAway;
    }

    /** The CONNECT's headers were handed to the connection: from here the server may have taken it. */
    void sent() {
        sent = true;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (answered) {
            afterResponse.add(msg);
            return;
        }
        if (!(msg instanceof Http2HeadersFrame headers)) {
            ReferenceCountUtil.release(msg);
            fail(ctx, new HboneTunnelException(0, "CONNECT " + target + ": DATA before the response"));
            return;
        }
        CharSequence status = headers.headers().status();
        int code = parseStatus(status);
        if (code >= 100 && code < 200) {
            return; // informational; keep waiting
        }
        if (code == 200 && !headers.isEndStream()) {
            answered = true;
            metrics.streamOpened();
            ctx.channel().closeFuture().addListener(f -> metrics.streamClosed());
            if (!result.complete(new HboneStream((Http2StreamChannel) ctx.channel(), this))) {
                ctx.close(); // the caller gave up (cancelled) meanwhile
            }
            return;
        }
        metrics.streamRefused();
        fail(ctx, new HboneTunnelException(code, "CONNECT " + target + " answered " + status));
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!answered && !result.isDone()) {
            ctx.read();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!answered && evt instanceof Http2GoAwayFrame away) {
            goAway.run();
            fail(ctx, HboneTunnelException.unprocessed("CONNECT " + target
                    + ": the server went away before taking it (GOAWAY " + away.errorCode() + ")", null));
        } else if (!answered && evt instanceof Http2ResetFrame reset) {
            fail(ctx, reset.errorCode() == Http2Error.REFUSED_STREAM.code()
                    ? HboneTunnelException.unprocessed("CONNECT " + target + " refused (REFUSED_STREAM)", null)
                    : new HboneTunnelException(0, "CONNECT " + target + " reset: " + reset.errorCode()));
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (!answered) {
            fail(ctx, sent
                    ? new HboneTunnelException("CONNECT " + target + ": stream closed before a response",
                            new ClosedChannelException())
                    : HboneTunnelException.unprocessed("CONNECT " + target + ": stream closed before it was sent",
                            new ClosedChannelException()));
        }
        releaseKept();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        fail(ctx, new HboneTunnelException("CONNECT " + target + " failed", cause));
    }

    private void fail(ChannelHandlerContext ctx, HboneTunnelException e) {
        answered = true;
        result.completeExceptionally(e);
        ctx.close();
    }

    /** Called on the stream's event loop when the caller takes over. */
    List<Object> takeKept() {
        List<Object> kept = new ArrayList<>(afterResponse);
        afterResponse.clear();
        return kept;
    }

    private void releaseKept() {
        afterResponse.forEach(ReferenceCountUtil::release);
        afterResponse.clear();
    }

    static List<Http2DataFrame> dataOnly(List<Object> frames) {
        List<Http2DataFrame> data = new ArrayList<>();
        for (Object o : frames) {
            if (o instanceof Http2DataFrame d) {
                data.add(d);
            } else if (o instanceof Http2HeadersFrame h && h.isEndStream()) {
                data.add(new io.netty.handler.codec.http2.DefaultHttp2DataFrame(true)); // trailers end the stream
            } else {
                ReferenceCountUtil.release(o);
            }
        }
        return data;
    }

    private static int parseStatus(CharSequence status) {
        if (status == null) {
            return 0;
        }
        try {
            return Integer.parseInt(status.toString());
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
