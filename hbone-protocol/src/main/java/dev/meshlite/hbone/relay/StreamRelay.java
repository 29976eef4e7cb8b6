package dev.meshlite.hbone.relay;

import dev.meshlite.hbone.metrics.HboneMetrics;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.List;

/**
 * Relays bytes between an established HBONE stream and a TCP socket, both ways.
 *
 * <p>Rules:
 * <ul>
 *   <li><b>Backpressure.</b> Neither channel auto-reads. A side reads again only when the other side
 *       is writable; the other side's writability change triggers the read that was held back. On
 *       the HTTP/2 side writability follows the peer's flow-control window, so a slow TCP reader
 *       stops window updates, which stops the remote sender.
 *   <li><b>Half-close.</b> END_STREAM from the stream becomes a TCP FIN once every byte before it
 *       has been written; a TCP FIN becomes an empty DATA frame with END_STREAM. The socket is
 *       therefore configured with {@link ChannelOption#ALLOW_HALF_CLOSURE}.
 *   <li><b>Teardown.</b> A stream that closed cleanly (both END_STREAMs) closes the socket after
 *       its pending writes. A stream that was reset, or died with its connection before its
 *       END_STREAM, aborts the socket with a TCP RST (SO_LINGER 0): a FIN would tell the
 *       application the peer finished, when the bytes were in fact cut off. A socket that closed
 *       without a FIN, or failed, resets the stream.
 * </ul>
 * The two channels may live on different event loops (a client's accepted socket and a pooled
 * connection): each handler keeps only its own channel's state and reaches the other side only
 * through Netty's thread-safe channel operations, or (resuming the socket's reads) by a task on
 * the socket's loop.
 */
public final class StreamRelay {

    /** Handler name in both pipelines. */
    public static final String HANDLER = "hbone-relay";

    private StreamRelay() {}

    /**
     * Starts relaying. Both channels must have {@code AUTO_READ} off; the response headers (200)
     * must already be exchanged. {@code early} are DATA frames the stream delivered before the
     * relay began; ownership passes to the relay.
     */
    public static void bridge(Http2StreamChannel stream, DuplexChannel socket, HboneMetrics metrics,
                              List<Http2DataFrame> early) {
        socket.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        socket.config().setAutoRead(false);
        stream.config().setAutoRead(false);
        SocketSide socketSide = new SocketSide(socket, stream, metrics);
        StreamSide streamSide = new StreamSide(socket, socketSide, metrics);
        stream.pipeline().addLast(HANDLER, streamSide);
        socket.pipeline().addLast(HANDLER, socketSide);
        stream.eventLoop().execute(() -> streamSide.start(stream, early));
        socket.eventLoop().execute(() -> {
            // Bytes and a FIN that came before the tunnel go first, in order (EarlyInput keeps
            // holding anything that arrives until it is removed here, on the socket's loop).
            EarlyInput held = (EarlyInput) socket.pipeline().get(EarlyInput.NAME);
            boolean ended = false;
            if (held != null) {
                EarlyInput.Taken taken = held.take();
                socket.pipeline().remove(held);
                ChannelHandlerContext ctx = socket.pipeline().context(socketSide);
                if (ctx != null) {
                    taken.data().forEach(buf -> socketSide.channelRead(ctx, buf));
                    stream.flush();
                } else {
                    taken.data().forEach(ReferenceCountUtil::release);
                }
                ended = taken.inputEnded();
                if (ended) {
                    socketSide.inputEnded();
                }
            }
            if (socket.isActive()) {
                if (!ended) {
                    socket.read();
                }
            } else {
                stream.close();
            }
        });
    }

    public static void bridge(Http2StreamChannel stream, DuplexChannel socket, HboneMetrics metrics) {
        bridge(stream, socket, metrics, List.of());
    }

    /** On the stream's pipeline: stream to socket. */
    private static final class StreamSide extends ChannelInboundHandlerAdapter {
        private final DuplexChannel socket;
        private final SocketSide socketSide;
        private final HboneMetrics metrics;
        private boolean remoteEnded;
        private boolean reset;

        StreamSide(DuplexChannel socket, SocketSide socketSide, HboneMetrics metrics) {
            this.socket = socket;
            this.socketSide = socketSide;
            this.metrics = metrics;
        }

        void start(Http2StreamChannel stream, List<Http2DataFrame> early) {
            ChannelHandlerContext ctx = stream.pipeline().context(this);
            if (ctx == null) { // channel already torn down
                early.forEach(ReferenceCountUtil::release);
                abort(socket);
                return;
            }
            for (Http2DataFrame frame : early) {
                channelRead(ctx, frame);
            }
            if (!early.isEmpty()) {
                socket.flush();
            }
            if (!stream.isActive()) {
                channelInactive(ctx);
                return;
            }
            ctx.read();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2DataFrame data) {
                ByteBuf content = data.content();
                int n = content.readableBytes();
                if (n > 0) {
                    metrics.bytesOutOfTunnel(n);
                    socket.write(content.retain());
                }
                boolean end = data.isEndStream();
                data.release();
                if (end) {
                    remoteEnded();
                }
            } else if (msg instanceof Http2HeadersFrame headers) { // trailers
                if (headers.isEndStream()) {
                    remoteEnded();
                }
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        private void remoteEnded() {
            if (remoteEnded) {
                return;
            }
            remoteEnded = true;
            // shutdownOutput fails pending writes, so it must wait until all of them are flushed.
            socket.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
                if (f.isSuccess()) {
                    socket.shutdownOutput();
                }
            });
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            socket.flush();
            // After END_STREAM nothing but the end-of-stream can arrive: reading it lets the child
            // channel observe its own closure.
            if (remoteEnded || socket.isWritable()) {
                ctx.read();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                socketSide.resumeReading();
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame) {
                reset = true;
                abort(socket);
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (remoteEnded && !reset) {
                socket.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            } else {
                abort(socket);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            reset = true;
            closeOnError(ctx.channel(), cause);
            abort(socket);
        }
    }

    /**
     * Ends an HTTP/2 stream after {@code cause}. A stream error the codec detected on the peer's
     * frames (a zero WINDOW_UPDATE, a bad PRIORITY...) is answered with RST_STREAM carrying that
     * error's code (RFC 9113 §5.4.2); anything else closes the stream, which resets it with CANCEL.
     */
    public static void closeOnError(Channel stream, Throwable cause) {
        // Http2MultiplexHandler hands a child the StreamException itself (then force-closes it).
        Http2Error error = cause instanceof Http2FrameStreamException e ? e.error()
                : cause instanceof Http2Exception.StreamException e ? e.error() : null;
        if (error != null && stream.isActive()) {
            stream.writeAndFlush(new DefaultHttp2ResetFrame(error)).addListener(ChannelFutureListener.CLOSE);
        } else {
            stream.close();
        }
    }

    /** Closes with a TCP RST: unsent bytes are dropped and the peer reads "connection reset". */
    static void abort(DuplexChannel socket) {
        if (socket.isOpen()) {
            try {
                socket.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException e) {
                // already closing: a plain close is all that is left
            }
        }
        socket.close();
    }

    /** On the socket's pipeline: socket to stream. */
    private static final class SocketSide extends ChannelInboundHandlerAdapter {
        private final DuplexChannel socket;
        private final Http2StreamChannel stream;
        private final HboneMetrics metrics;
        private boolean inputShutdown;

        SocketSide(DuplexChannel socket, Http2StreamChannel stream, HboneMetrics metrics) {
            this.socket = socket;
            this.stream = stream;
            this.metrics = metrics;
        }

        /**
         * The stream can take more: read the socket again, unless its input has ended. Reading a
         * socket after its FIN is not harmless: on epoll, re-arming EPOLLIN on a socket whose input
         * is shut fails (epoll_ctl ENOENT), and that error closed the socket while the other
         * direction was still delivering, cutting the response short (seen with a client that
         * half-closes while a slow-windowed server, Node's http2, is still answering).
         */
        void resumeReading() {
            if (socket.eventLoop().inEventLoop()) {
                if (!inputShutdown && socket.isActive()) {
                    socket.read();
                }
            } else {
                socket.eventLoop().execute(this::resumeReading);
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf buf) {
                int n = buf.readableBytes();
                if (n == 0) {
                    buf.release();
                    return;
                }
                metrics.bytesIntoTunnel(n);
                stream.write(new DefaultHttp2DataFrame(buf, false));
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            stream.flush();
            if (!inputShutdown && stream.isWritable()) {
                ctx.read();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                stream.read();
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                inputEnded();
            }
            ctx.fireUserEventTriggered(evt);
        }

        /** The socket's FIN: END_STREAM on the tunnel, once. */
        void inputEnded() {
            if (!inputShutdown) {
                inputShutdown = true;
                stream.writeAndFlush(new DefaultHttp2DataFrame(true));
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // Clean end: the stream closes by itself once both END_STREAMs are through; this close is
            // then a no-op. Otherwise (no FIN seen, or the stream is still receiving), reset it.
            stream.eventLoop().execute(() -> {
                if (stream.isActive()) {
                    stream.close();
                }
            });
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** True if {@code ch} carries a relay handler. */
    public static boolean isBridged(Channel ch) {
        return ch.pipeline().get(HANDLER) != null;
    }
}
