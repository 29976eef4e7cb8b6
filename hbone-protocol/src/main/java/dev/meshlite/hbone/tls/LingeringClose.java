package dev.meshlite.hbone.tls;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * First in a connection's pipeline (next to the socket): turns {@code close()} into a lingering
 * close. What the handlers above wrote is written out (the last DATA frames, TLS close_notify),
 * the socket's write side is shut (FIN), and the socket stays open, reading and discarding, until
 * the peer closes its side too or {@code linger} has passed since {@code close()} (a peer that
 * neither reads nor closes loses what was still unsent then).
 *
 * <p>Why: a socket closed while the peer is still sending (a WINDOW_UPDATE for the data it is
 * reading, a PING) is answered by the kernel with a RST, and a RST makes the peer's kernel drop
 * whatever it had received but its application had not read yet. A server that closed right after
 * the last stream of a graceful shutdown ended thus cut the tail off that stream on the client:
 * seen as a broken transfer in {@code GracefulShutdownIT} about one run in five on a loaded
 * machine. Lingering is what HTTP servers do for the same reason (Apache's and nginx's
 * "lingering close").
 */
public final class LingeringClose extends ChannelDuplexHandler {

    /** Pipeline name, on both client and server connections. */
    public static final String NAME = "lingering-close";

    /** How long a closing connection waits for its peer's FIN. */
    public static final Duration DEFAULT_LINGER = Duration.ofSeconds(3);

    private final long lingerNanos;
    private boolean lingering;
    private boolean atOnce;

    public LingeringClose() {
        this(DEFAULT_LINGER);
    }

    public LingeringClose(Duration linger) {
        this.lingerNanos = linger.toNanos();
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        Channel ch = ctx.channel();
        if (atOnce || lingering || !(ch instanceof DuplexChannel duplex) || !ch.isActive() || duplex.isOutputShutdown()
                || duplex.isInputShutdown()) {
            ctx.close(promise);
            return;
        }
        lingering = true;
        ch.closeFuture().addListener(f -> promise.trySuccess());
        var deadline = ctx.executor().schedule(() -> ctx.close(), lingerNanos, TimeUnit.NANOSECONDS);
        ch.closeFuture().addListener(c -> deadline.cancel(false));
        ch.config().setAutoRead(true);
        ctx.read();
        // The empty write completes once everything queued before it is in the socket: only then
        // may the write side be shut, as shutting it fails whatever Netty still holds.
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) written -> {
            if (!written.isSuccess() || !ch.isActive()) {
                ctx.close();
                return;
            }
            duplex.shutdownOutput().addListener((ChannelFutureListener) fin -> {
                if (!fin.isSuccess()) {
                    ctx.close();
                }
            });
        });
    }

    /**
     * Closes the channel of {@code ctx} without lingering (also one already lingering): for a
     * connection found dead (no PING answer) or broken, where its peer will send nothing more worth
     * waiting for and lingering would only hold its streams open, unreset, for the linger time.
     * Called on the channel's event loop.
     */
    public static ChannelFuture closeAtOnce(ChannelHandlerContext ctx) {
        if (ctx.pipeline().get(LingeringClose.class) instanceof LingeringClose handler) {
            handler.atOnce = true;
        }
        return ctx.close();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (lingering) {
            ReferenceCountUtil.release(msg); // the peer's late frames: read so they are not answered with RST
            return;
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (lingering && evt instanceof ChannelInputShutdownEvent) {
            ctx.close(); // the peer's FIN: both sides are done
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }
}
