package dev.meshlite.istiod.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One call: its HTTP/2 stream's handler and the caller's handle on it.
 *
 * <p>Rules:
 * <ul>
 *   <li>Stream state is touched on the channel's event loop only; {@link #send}, {@link #halfClose}
 *       and {@link #cancel} may be called from any thread and hop onto it, so they keep their
 *       order. Messages sent before the stream is open wait for it.</li>
 *   <li>The call ends once, by the first of: the server's trailers, a reset, the connection's
 *       loss, the deadline, a response this client cannot accept, or {@link #cancel}. Ending it
 *       resets the stream if the server has not closed it.</li>
 *   <li>Responses are parsed and delivered on {@code callbacks}, in order (it must run tasks one
 *       at a time), and {@code onClose} comes last, exactly once. Parsing there keeps a large
 *       configuration push off the event loop.</li>
 * </ul>
 */
final class GrpcCall<Q extends MessageLite, R> extends ChannelInboundHandlerAdapter implements GrpcChannel.ClientStream<Q> {

    private static final String CONTENT_TYPE = "application/grpc";

    private final EventLoop loop;
    private final String authority;
    private final String path;
    private final Map<String, String> metadata;
    private final Parser<R> parser;
    private final GrpcChannel.Listener<R> listener;
    private final Executor callbacks;
    private final boolean hasDeadline;
    /** {@link System#nanoTime()} of the deadline, when there is one. */
    private final long deadlineNanos;
    private final MessageDeframer deframer;

    // Event loop state.
    private Http2StreamChannel stream;
    private final List<ByteBuf> waiting = new ArrayList<>();
    private boolean halfClosed;
    private boolean responseHeaders;
    private boolean ended;
    private ScheduledFuture<?> deadlineTimer;

    // Callback-executor state.
    private boolean closeDelivered;

    GrpcCall(EventLoop loop, String authority, String path, Map<String, String> metadata, Parser<R> parser,
             GrpcChannel.Listener<R> listener, Executor callbacks, java.time.Duration deadline, int maxMessageBytes) {
        this.loop = loop;
        this.authority = authority;
        this.path = path;
        this.metadata = Map.copyOf(metadata);
        this.parser = parser;
        this.listener = listener;
        this.callbacks = callbacks;
        this.hasDeadline = deadline != null;
        this.deadlineNanos = hasDeadline ? System.nanoTime() + deadline.toNanos() : 0;
        this.deframer = new MessageDeframer(maxMessageBytes);
    }

    // ---- caller side, any thread ----

    @Override
    public void send(Q message) {
        ByteBuf frame = frame(message.toByteArray());
        onLoop(() -> write(frame, false));
    }

    @Override
    public void halfClose() {
        onLoop(() -> write(Unpooled.EMPTY_BUFFER, true));
    }

    @Override
    public void cancel(String reason) {
        onLoop(() -> end(GrpcStatus.of(GrpcStatus.Code.CANCELLED, reason)));
    }

    /** Runs {@code task} on the loop; once the loop is shut down the call is over and it is dropped. */
    private void onLoop(Runnable task) {
        try {
            loop.execute(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // The channel closed with its own loop: the call ended with it.
        }
    }

    static ByteBuf frame(byte[] message) {
        byte[] prefix = {0, (byte) (message.length >>> 24), (byte) (message.length >>> 16),
                (byte) (message.length >>> 8), (byte) message.length};
        return Unpooled.wrappedBuffer(prefix, message);
    }

    // ---- event loop from here on ----

    /** Starts the call once {@code connection} (an HTTP/2 connection being made or made) is ready. */
    void start(Future<Channel> connection) {
        if (hasDeadline) {
            long left = deadlineNanos - System.nanoTime();
            deadlineTimer = loop.schedule(() -> end(GrpcStatus.of(GrpcStatus.Code.DEADLINE_EXCEEDED,
                    "no answer within the deadline")), Math.max(0, left), TimeUnit.NANOSECONDS);
        }
        connection.addListener(f -> {
            if (ended) {
                return;
            }
            if (!f.isSuccess()) {
                end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, GrpcChannel.describe(f.cause())));
                return;
            }
            new Http2StreamChannelBootstrap((Channel) f.getNow()).handler(this).open().addListener(s -> {
                if (!s.isSuccess()) {
                    end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE,
                            "cannot open a stream: " + GrpcChannel.describe(s.cause())));
                    return;
                }
                Http2StreamChannel opened = (Http2StreamChannel) s.getNow();
                if (ended) {
                    opened.close();
                    return;
                }
                stream = opened;
                opened.write(new DefaultHttp2HeadersFrame(requestHeaders(), false));
                for (ByteBuf b : waiting) {
                    opened.write(b == Unpooled.EMPTY_BUFFER ? new DefaultHttp2DataFrame(true) : new DefaultHttp2DataFrame(b));
                }
                waiting.clear();
                opened.flush();
            });
        });
    }

    private Http2Headers requestHeaders() {
        Http2Headers h = new DefaultHttp2Headers().method("POST").scheme("https").path(path).authority(authority);
        h.set("content-type", CONTENT_TYPE);
        h.set("te", "trailers");
        h.set("user-agent", "meshlite-grpc");
        if (hasDeadline) {
            h.set("grpc-timeout", timeout(deadlineNanos - System.nanoTime()));
        }
        metadata.forEach(h::set);
        return h;
    }

    /** {@code grpc-timeout}: at most 8 digits and a unit; never less than a millisecond. */
    static String timeout(long nanos) {
        long millis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos + 999_999));
        if (millis < 100_000_000L) {
            return millis + "m";
        }
        long seconds = Math.min(99_999_999L, TimeUnit.MILLISECONDS.toSeconds(millis));
        return seconds + "S";
    }

    private void write(ByteBuf message, boolean endStream) {
        if (ended || halfClosed) {
            message.release();
            return;
        }
        halfClosed = endStream;
        if (stream == null) {
            waiting.add(endStream ? Unpooled.EMPTY_BUFFER : message);
            return;
        }
        stream.writeAndFlush(endStream ? new DefaultHttp2DataFrame(true) : new DefaultHttp2DataFrame(message));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (ended) {
                return;
            }
            if (msg instanceof Http2HeadersFrame h) {
                onHeaders(h.headers(), h.isEndStream());
            } else if (msg instanceof Http2DataFrame d) {
                onData(d.content(), d.isEndStream());
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onHeaders(Http2Headers headers, boolean endStream) {
        CharSequence grpcStatus = headers.get("grpc-status");
        if (!responseHeaders) {
            responseHeaders = true;
            CharSequence status = headers.status();
            if (status == null || !"200".contentEquals(status)) {
                end(grpcStatus != null ? GrpcStatus.fromTrailer(grpcStatus, headers.get("grpc-message"))
                        : GrpcStatus.fromHttp(httpStatus(status)));
                return;
            }
            CharSequence type = headers.get("content-type");
            if (type == null || !type.toString().startsWith(CONTENT_TYPE)) {
                end(GrpcStatus.of(GrpcStatus.Code.INTERNAL,
                        "content-type: " + type + " (expected: " + CONTENT_TYPE + ")"));
                return;
            }
            if (!endStream) {
                return;
            }
            // A trailers-only response: the status is in these headers.
        } else if (!endStream) {
            end(GrpcStatus.of(GrpcStatus.Code.INTERNAL,
                    "a second HEADERS without END_STREAM (expected: trailers, ending the stream)"));
            return;
        }
        if (deframer.partial()) {
            end(GrpcStatus.of(GrpcStatus.Code.INTERNAL, "the response ended inside a message"));
        } else if (grpcStatus == null) {
            end(GrpcStatus.of(GrpcStatus.Code.INTERNAL, "trailers without grpc-status"));
        } else {
            end(GrpcStatus.fromTrailer(grpcStatus, headers.get("grpc-message")));
        }
    }

    private static int httpStatus(CharSequence status) {
        try {
            return status == null ? 0 : Integer.parseInt(status.toString());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private void onData(ByteBuf content, boolean endStream) {
        if (!responseHeaders) {
            end(GrpcStatus.of(GrpcStatus.Code.INTERNAL, "DATA before the response headers"));
            return;
        }
        try {
            deframer.add(content, this::deliver);
        } catch (GrpcException e) {
            end(e.status());
            return;
        }
        if (endStream) {
            end(GrpcStatus.of(GrpcStatus.Code.INTERNAL, "the response ended without trailers (expected: grpc-status)"));
        }
    }

    private void deliver(byte[] message) {
        callbacks.execute(() -> {
            if (closeDelivered) {
                return;
            }
            R parsed;
            try {
                parsed = parser.parseFrom(message);
            } catch (InvalidProtocolBufferException e) {
                GrpcStatus bad = GrpcStatus.of(GrpcStatus.Code.INTERNAL, "cannot parse a response: " + e.getMessage());
                deliverClose(bad);
                loop.execute(() -> end(bad));
                return;
            }
            listener.onMessage(parsed);
        });
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame reset) {
            Http2Error error = Http2Error.valueOf(reset.errorCode());
            GrpcStatus.Code code = switch (error == null ? Http2Error.INTERNAL_ERROR : error) {
                case CANCEL -> GrpcStatus.Code.CANCELLED;
                case REFUSED_STREAM -> GrpcStatus.Code.UNAVAILABLE;
                case ENHANCE_YOUR_CALM -> GrpcStatus.Code.RESOURCE_EXHAUSTED;
                case INADEQUATE_SECURITY -> GrpcStatus.Code.PERMISSION_DENIED;
                default -> GrpcStatus.Code.INTERNAL;
            };
            end(GrpcStatus.of(code, "stream reset by the server (" + (error == null ? reset.errorCode() : error) + ")"));
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "the connection to the server closed"));
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        end(GrpcStatus.of(GrpcStatus.Code.INTERNAL, GrpcChannel.describe(cause)));
    }

    /** Ends the call with {@code status}: once; resets the stream if the server has not closed it. */
    void end(GrpcStatus status) {
        if (ended) {
            return;
        }
        ended = true;
        if (deadlineTimer != null) {
            deadlineTimer.cancel(false);
        }
        waiting.forEach(ReferenceCountUtil::release);
        waiting.clear();
        if (stream != null) {
            // Closing an open stream sends RST_STREAM(CANCEL); a stream the server ended just closes.
            stream.close();
        }
        callbacks.execute(() -> deliverClose(status));
    }

    private void deliverClose(GrpcStatus status) {
        if (!closeDelivered) {
            closeDelivered = true;
            listener.onClose(status);
        }
    }
}
