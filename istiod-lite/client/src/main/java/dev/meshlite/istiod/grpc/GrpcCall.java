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
import io.netty.handler.codec.http2.Http2GoAwayFrame;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One call: the caller's handle on it and, for each attempt, its HTTP/2 stream's handler.
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
 *   <li>Transparent retry, once: a call whose stream the server never processed (refused with
 *       REFUSED_STREAM, or above the last stream id of its GOAWAY) or that never left this client
 *       (its stream closed before the request headers were written) is started again on a usable
 *       connection, with every message sent so far, as long as no response headers came and
 *       those messages fit in {@link #MAX_REPLAY_BYTES}. This is the race of a server that is
 *       shutting down or restarting (istiod-lite's rollout): the caller would otherwise see
 *       UNAVAILABLE for a request no server looked at and wait out its own backoff. A call that
 *       reached the server's application is never repeated.</li>
 * </ul>
 */
final class GrpcCall<Q extends MessageLite, R> implements GrpcChannel.ClientStream<Q> {

    private static final Logger log = LoggerFactory.getLogger(GrpcCall.class);
    private static final String CONTENT_TYPE = "application/grpc";

    /**
     * Sent messages kept for a retry, at most (gRPC's own per-call retry buffer is 1 MiB): the
     * control plane's requests are a CSR or a subscription, far below it.
     */
    static final int MAX_REPLAY_BYTES = 1 << 20;

    /** What a call needs of its channel, on the event loop. */
    interface Connections {
        /**
         * A usable HTTP/2 connection, being made or made; {@code retired}, when not null, is a
         * connection whose GOAWAY turned this call away and must not be used again.
         */
        Future<Channel> connection(Channel retired);

        /** The call has ended; the channel forgets it. */
        void ended(GrpcCall<?, ?> call);
    }

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
    private Connections connections;
    /** The stream of the current attempt, once open; events of earlier attempts are ignored. */
    private Attempt attempt;
    /** Messages not yet written to a stream (sent before it opened, or while a retry reconnects). */
    private final List<ByteBuf> pending = new ArrayList<>();
    /** Messages written to the current stream, kept while a retry is still possible. */
    private final List<ByteBuf> replay = new ArrayList<>();
    private long replayBytes;
    private boolean replayable = true;
    private boolean retried;
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

    /** Starts the call on a connection of {@code connections} (being made or made). */
    void start(Connections connections) {
        this.connections = connections;
        if (hasDeadline) {
            long left = deadlineNanos - System.nanoTime();
            deadlineTimer = loop.schedule(() -> end(GrpcStatus.of(GrpcStatus.Code.DEADLINE_EXCEEDED,
                    "no answer within the deadline")), Math.max(0, left), TimeUnit.NANOSECONDS);
        }
        open(connections.connection(null));
    }

    private void open(Future<Channel> connection) {
        connection.addListener(f -> {
            if (ended) {
                return;
            }
            if (!f.isSuccess()) {
                end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, GrpcChannel.describe(f.cause())));
                return;
            }
            Attempt next = new Attempt();
            attempt = next;
            new Http2StreamChannelBootstrap((Channel) f.getNow()).handler(next).open().addListener(s -> {
                if (attempt != next || ended) {
                    if (s.isSuccess()) {
                        ((Channel) s.getNow()).close();
                    }
                    return;
                }
                if (!s.isSuccess()) {
                    // The connection went away between being handed out and the stream's opening.
                    retryOrEnd(null, "cannot open a stream: " + GrpcChannel.describe(s.cause()));
                    return;
                }
                next.opened((Http2StreamChannel) s.getNow());
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
        Http2StreamChannel stream = attempt == null ? null : attempt.stream;
        if (endStream) {
            halfClosed = true;
            if (stream != null) {
                stream.writeAndFlush(new DefaultHttp2DataFrame(true));
            }
        } else if (stream == null) {
            pending.add(message);
        } else {
            writeMessage(stream, message);
            stream.flush();
        }
    }

    /** Writes {@code message} (owned) to {@code stream}, keeping a copy while a retry is possible. */
    private void writeMessage(Http2StreamChannel stream, ByteBuf message) {
        if (replayable) {
            replay.add(message.retainedDuplicate());
            replayBytes += message.readableBytes();
            if (replayBytes > MAX_REPLAY_BYTES) {
                noMoreRetry();
            }
        }
        stream.write(new DefaultHttp2DataFrame(message));
    }

    /** The server has answered (or too much was sent to repeat): whatever happens now is final. */
    private void noMoreRetry() {
        replayable = false;
        replay.forEach(ReferenceCountUtil::release);
        replay.clear();
        replayBytes = 0;
    }

    /**
     * The current attempt's stream was not processed by the server, or never left this client:
     * starts the call again once, else ends it with UNAVAILABLE and {@code reason}.
     */
    private void retryOrEnd(Channel retired, String reason) {
        if (ended) {
            return;
        }
        if (retried || !replayable) {
            end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, retried ? reason + " (after one transparent retry)" : reason));
            return;
        }
        retried = true;
        Attempt old = attempt;
        attempt = null;
        if (old != null && old.stream != null) {
            old.stream.close();
        }
        log.debug("{}: {}; starting the call again", path, reason);
        open(connections.connection(retired));
    }

    /**
     * One attempt's stream. Its events reach the call only while it is the current attempt: a
     * retried stream's late close or reset changes nothing.
     */
    private final class Attempt extends ChannelInboundHandlerAdapter {
        Http2StreamChannel stream;
        /** The request headers were handed to the connection: from here the server may have seen the call. */
        boolean headersWritten;

        /** Writes the headers, the messages of an earlier attempt, those waiting, and the half-close. */
        void opened(Http2StreamChannel s) {
            stream = s;
            s.write(new DefaultHttp2HeadersFrame(requestHeaders(), false)).addListener(f -> {
                if (f.isSuccess()) {
                    headersWritten = true;
                } else if (attempt == this) {
                    retryOrEnd(null, "cannot send the request: " + GrpcChannel.describe(f.cause()));
                }
            });
            for (ByteBuf b : replay) {
                s.write(new DefaultHttp2DataFrame(b.retainedDuplicate()));
            }
            for (ByteBuf b : pending) {
                writeMessage(s, b);
            }
            pending.clear();
            if (halfClosed) {
                s.write(new DefaultHttp2DataFrame(true));
            }
            s.flush();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (attempt != this || ended) {
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

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            try {
                if (attempt != this || ended) {
                    return;
                }
                if (evt instanceof Http2GoAwayFrame goAway) {
                    // Netty hands a GOAWAY to the streams above its last stream id only: the
                    // server did not process this one.
                    retryOrEnd(ctx.channel().parent(), "the server went away before taking the call (GOAWAY "
                            + errorName(goAway.errorCode()) + ")");
                } else if (evt instanceof Http2ResetFrame reset) {
                    Http2Error error = Http2Error.valueOf(reset.errorCode());
                    String reason = "stream reset by the server (" + errorName(reset.errorCode()) + ")";
                    if (error == Http2Error.REFUSED_STREAM) {
                        retryOrEnd(null, reason);
                        return;
                    }
                    GrpcStatus.Code code = switch (error == null ? Http2Error.INTERNAL_ERROR : error) {
                        case CANCEL -> GrpcStatus.Code.CANCELLED;
                        case ENHANCE_YOUR_CALM -> GrpcStatus.Code.RESOURCE_EXHAUSTED;
                        case INADEQUATE_SECURITY -> GrpcStatus.Code.PERMISSION_DENIED;
                        default -> GrpcStatus.Code.INTERNAL;
                    };
                    end(GrpcStatus.of(code, reason));
                }
            } finally {
                ReferenceCountUtil.release(evt);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (attempt != this) {
                return;
            }
            if (headersWritten) {
                end(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "the connection to the server closed"));
            } else {
                retryOrEnd(null, "the connection closed before the request was sent");
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (attempt == this) {
                end(GrpcStatus.of(GrpcStatus.Code.INTERNAL, GrpcChannel.describe(cause)));
            }
        }
    }

    private static String errorName(long code) {
        Http2Error error = Http2Error.valueOf(code);
        return error == null ? Long.toString(code) : error.name();
    }

    private void onHeaders(Http2Headers headers, boolean endStream) {
        CharSequence grpcStatus = headers.get("grpc-status");
        if (!responseHeaders) {
            responseHeaders = true;
            noMoreRetry();
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

    /** Ends the call with {@code status}: once; resets the stream if the server has not closed it. */
    void end(GrpcStatus status) {
        if (ended) {
            return;
        }
        ended = true;
        if (deadlineTimer != null) {
            deadlineTimer.cancel(false);
        }
        pending.forEach(ReferenceCountUtil::release);
        pending.clear();
        noMoreRetry();
        if (attempt != null && attempt.stream != null) {
            // Closing an open stream sends RST_STREAM(CANCEL); a stream the server ended just closes.
            attempt.stream.close();
        }
        if (connections != null) {
            connections.ended(this);
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
