package dev.meshlite.ztunnel.proxy;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;

/**
 * Relays bytes between two TCP sockets of the same event loop (plain passthrough, inbound
 * plaintext). Backpressure: a side is read only while the other is writable, and reading resumes
 * when it drains. Half-close is carried through: a FIN read on one side shuts the other's output,
 * and the pair closes once both directions are done (or at once on an error).
 */
public final class TcpRelay {

    public static final String HANDLER = "ztunnel-tcp-relay";

    private TcpRelay() {}

    /** Both channels must be active, have AUTO_READ off and share an event loop. */
    public static void bridge(DuplexChannel a, DuplexChannel b) {
        a.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        b.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        Side sa = new Side(b);
        Side sb = new Side(a);
        sa.other = sb;
        sb.other = sa;
        a.pipeline().addLast(HANDLER, sa);
        b.pipeline().addLast(HANDLER, sb);
        a.read();
        b.read();
    }

    private static final class Side extends ChannelInboundHandlerAdapter {
        private final DuplexChannel peer;
        private Side other;
        private boolean inputDone;
        private ChannelHandlerContext ctx;

        Side(DuplexChannel peer) {
            this.peer = peer;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!peer.isActive()) {
                ReferenceCountUtil.release(msg);
                return;
            }
            peer.write(msg).addListener(ChannelFutureListener.FIRE_EXCEPTION_ON_FAILURE);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            peer.flush();
            if (peer.isWritable()) {
                ctx.read();
            }
        }

        /** The peer drained: this side may read again. */
        void peerWritable() {
            if (!inputDone && ctx.channel().isActive()) {
                ctx.read();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                other.peerWritable();
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                inputDone = true;
                peer.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> peer.shutdownOutput());
                if (other.inputDone) {
                    closeBoth();
                }
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // The peer still gets what was written before the close, then closes too.
            peer.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            closeBoth();
        }

        private void closeBoth() {
            Channel self = ctx.channel();
            self.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            peer.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }
}
