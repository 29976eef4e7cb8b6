package dev.meshlite.hbone.client;

import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.relay.StreamRelay;
import io.netty.channel.ChannelHandler;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * An established tunnel (the server answered 200). Its channel does not auto-read; hand it to
 * {@link #bridge} to relay a TCP socket over it, or {@link #attach} a handler of your own.
 * Exactly one of the two must be called, or {@link #close}.
 */
public final class HboneStream {

    private final Http2StreamChannel channel;
    private final ResponseHandler response;

    HboneStream(Http2StreamChannel channel, ResponseHandler response) {
        this.channel = channel;
        this.response = response;
    }

    public Http2StreamChannel channel() {
        return channel;
    }

    /** Relays {@code socket} over this stream (backpressure and half-close, see StreamRelay). */
    public void bridge(DuplexChannel socket, HboneMetrics metrics) {
        channel.eventLoop().execute(() -> {
            List<Object> kept = takeOver();
            StreamRelay.bridge(channel, socket, metrics, ResponseHandler.dataOnly(kept));
        });
    }

    /**
     * Puts {@code handler} in place of the response handler and replays, in order, the frames that
     * arrived after the 200. The handler then owns reading ({@code AUTO_READ} is off).
     */
    public CompletableFuture<Void> attach(ChannelHandler handler) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        channel.eventLoop().execute(() -> {
            List<Object> kept = takeOver();
            channel.pipeline().addLast(handler);
            kept.forEach(channel.pipeline()::fireChannelRead);
            if (!kept.isEmpty()) {
                channel.pipeline().fireChannelReadComplete();
            }
            done.complete(null);
        });
        return done;
    }

    /** Resets the stream. */
    public void close() {
        channel.close();
    }

    private List<Object> takeOver() {
        List<Object> kept = response.takeKept();
        if (channel.pipeline().context(response) != null) {
            channel.pipeline().remove(response);
        }
        return kept;
    }
}
