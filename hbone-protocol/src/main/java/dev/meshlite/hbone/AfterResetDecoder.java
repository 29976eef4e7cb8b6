package dev.meshlite.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.DecoratingHttp2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Stream;
import java.util.List;

/**
 * Ignores, without answering, the frames a peer sent on a stream before our RST_STREAM for it
 * reached the peer. RFC 9113 §5.1 ("closed"): such frames cannot be withdrawn, and an endpoint MUST
 * ignore frames it receives on closed streams after it has sent a RST_STREAM.
 *
 * <p>Netty forgets a stream once it is closed, so a late frame looks like a frame for an unknown
 * stream. For DATA the decoder still returns the bytes to the connection window, then throws a
 * STREAM_CLOSED stream error, and the codec answers that error with a RST_STREAM. That means one
 * RST_STREAM per late frame. A tunnel reset while its peer sends at full speed has up to a stream
 * window of DATA in flight: 4 MiB in our 16 KiB frames is 256 frames. Netty's server codec allows
 * 200 RST_STREAMs sent in 30 s (the MadeYouReset limit; STREAM_CLOSED counts, CANCEL does not). Past
 * that it closes the connection with GOAWAY(ENHANCE_YOUR_CALM), and every other tunnel on the
 * connection dies. iperf3 through {@code connect --listen} showed this: its server resets the data
 * connection at the end of a test, and the idle control connection died with it.
 *
 * <p>This decoder keeps the ids of the last {@value #REMEMBERED} streams that closed by our
 * RST_STREAM. For those streams it drops the STREAM_CLOSED error (flow control has already been
 * accounted). Anything else is still the codec's to answer: a frame on a stream that ended normally
 * or that we have forgotten, and every connection error. Both flood limits stay in force, and we
 * send nothing more because of these frames. Event loop only, like the codec.
 */
final class AfterResetDecoder extends DecoratingHttp2ConnectionDecoder {

    /** Every stream of a full connection reset at once, twice over. */
    static final int REMEMBERED = 2 * HboneWire.MAX_CONCURRENT_STREAMS;

    /** Ring of stream ids we reset, newest at {@code next - 1}; 0 (never a stream) when unused. */
    private final int[] resetByUs = new int[REMEMBERED];
    private int next;

    AfterResetDecoder(Http2ConnectionDecoder delegate) {
        super(delegate);
        delegate.connection().addListener(new Http2ConnectionAdapter() {
            @Override
            public void onStreamClosed(Http2Stream stream) {
                if (stream.isResetSent()) {
                    resetByUs[next] = stream.id();
                    next = (next + 1) % REMEMBERED;
                }
            }
        });
    }

    @Override
    public void decodeFrame(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Http2Exception {
        // The frame reader has consumed the offending frame before its listener throws, so returning
        // here goes on with the next frame, just as the codec does after answering the error.
        try {
            super.decodeFrame(ctx, in, out);
        } catch (Http2Exception.StreamException e) {
            if (!isLateFrameAfterOurReset(e)) {
                throw e;
            }
        }
    }

    private boolean isLateFrameAfterOurReset(Http2Exception.StreamException e) {
        if (e.error() != Http2Error.STREAM_CLOSED || connection().stream(e.streamId()) != null) {
            return false;
        }
        for (int id : resetByUs) {
            if (id == e.streamId()) {
                return true;
            }
        }
        return false;
    }
}
