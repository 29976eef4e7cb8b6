package dev.meshlite.hbone.relay;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;

/**
 * Holds what a downstream socket delivers before its tunnel exists, so none of it is lost.
 *
 * <p>With {@code AUTO_READ} off, the native transports still read when the peer half-closes
 * (epoll's RDHUP, io_uring's poll): a client that writes and shuts its write side before the
 * CONNECT is answered would otherwise have its bytes and its FIN hit an empty pipeline. This
 * handler sits on the socket from the moment it is accepted, keeps the bytes (bounded) and
 * whether input ended, and {@link StreamRelay#bridge} takes them over in order.
 */
public final class EarlyInput extends ChannelInboundHandlerAdapter {

    public static final String NAME = "hbone-early-input";
    /** More than this before the tunnel exists is not a client waiting for it: the socket closes. */
    static final int MAX_BYTES = 1 << 20;

    private final List<ByteBuf> held = new ArrayList<>();
    private int bytes;
    private boolean ended;
    private boolean taken;

    /** Puts the handler first on {@code socket}'s pipeline unless it is there already. */
    public static void install(Channel socket) {
        if (socket.pipeline().get(NAME) == null) {
            socket.pipeline().addFirst(NAME, new EarlyInput());
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (taken) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (msg instanceof ByteBuf buf) {
            bytes += buf.readableBytes();
            held.add(buf);
            if (bytes > MAX_BYTES) {
                ctx.close();
            }
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!taken && evt instanceof ChannelInputShutdownEvent) {
            ended = true;
            return; // replayed by the relay
        }
        ctx.fireUserEventTriggered(evt);
    }

    /** What was held, in order; ownership of the buffers passes to the caller. Event loop only. */
    Taken take() {
        taken = true;
        Taken t = new Taken(List.copyOf(held), ended);
        held.clear();
        return t;
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        held.forEach(ReferenceCountUtil::release);
        held.clear();
    }

    record Taken(List<ByteBuf> data, boolean inputEnded) {
    }
}
