package dev.meshlite.ztunnel.metrics;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Istio's TCP metrics, by the standard labels: {@code istio_tcp_connections_opened_total},
 * {@code istio_tcp_connections_closed_total}, {@code istio_tcp_sent_bytes_total} and
 * {@code istio_tcp_received_bytes_total}. Bytes are counted at the application's socket, so "sent"
 * is what the source application sent, whichever side reports. A refused connection is counted
 * as opened and closed with {@code response_flags} "DENY" (policy) or "UF" (upstream failure).
 */
public final class TcpMetrics {

    private final Counter opened;
    private final Counter closed;
    private final Counter sent;
    private final Counter received;
    private final AccessLog accessLog;
    private final java.util.concurrent.atomic.AtomicInteger active = new java.util.concurrent.atomic.AtomicInteger();

    public TcpMetrics(PrometheusRegistry registry, AccessLog accessLog) {
        this.accessLog = accessLog;
        // No exemplars: ztunnel has no trace spans to attach, and the sampler would add a thread
        // of its own to the process and a sampling check to every count.
        opened = Counter.builder().withoutExemplars().name("istio_tcp_connections_opened_total")
                .help("TCP connections opened").labelNames(ConnectionLabels.NAMES).register(registry);
        closed = Counter.builder().withoutExemplars().name("istio_tcp_connections_closed_total")
                .help("TCP connections closed").labelNames(ConnectionLabels.NAMES).register(registry);
        sent = Counter.builder().withoutExemplars().name("istio_tcp_sent_bytes_total")
                .help("bytes the source application sent").labelNames(ConnectionLabels.NAMES).register(registry);
        received = Counter.builder().withoutExemplars().name("istio_tcp_received_bytes_total")
                .help("bytes the source application received").labelNames(ConnectionLabels.NAMES).register(registry);
    }

    /**
     * Starts tracking a connection whose application side is {@code appSocket}. When {@code
     * appIsSource} the bytes read from it are "sent"; on the destination side they are "received".
     */
    public Tracked track(ConnectionLabels labels, Channel appSocket, boolean appIsSource, AccessLog.Entry entry) {
        Tracked t = new Tracked(labels, appIsSource, entry);
        active.incrementAndGet();
        opened.labelValues(labels.values("-")).inc();
        appSocket.pipeline().addFirst(Tracked.HANDLER, t.counter);
        // Finished in a later task of the socket's loop: whoever closed it (a failed tunnel, say)
        // records why in the same task, before the access-log line is written.
        appSocket.closeFuture().addListener(f -> appSocket.eventLoop().execute(() -> t.finish()));
        return t;
    }

    /** Connections tracked and not finished yet. */
    public int active() {
        return active.get();
    }

    /** A connection refused before any byte moved. */
    public void refused(ConnectionLabels labels, String flag, AccessLog.Entry entry, String reason) {
        String[] v = labels.values(flag);
        opened.labelValues(v).inc();
        closed.labelValues(v).inc();
        accessLog.log(entry.finish(0, 0, Duration.ZERO, flag + ": " + reason));
    }

    public final class Tracked {
        static final String HANDLER = "ztunnel-byte-counter";
        private final ConnectionLabels labels;
        private final boolean appIsSource;
        private final AccessLog.Entry entry;
        private final long startNanos = System.nanoTime();
        private final AtomicLong fromApp = new AtomicLong();
        private final AtomicLong toApp = new AtomicLong();
        private volatile String error;
        private volatile boolean finished;
        final ChannelDuplexHandler counter = new ChannelDuplexHandler() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                fromApp.addAndGet(size(msg));
                ctx.fireChannelRead(msg);
            }

            @Override
            public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
                toApp.addAndGet(size(msg));
                ctx.write(msg, promise);
            }
        };

        private Tracked(ConnectionLabels labels, boolean appIsSource, AccessLog.Entry entry) {
            this.labels = labels;
            this.appIsSource = appIsSource;
            this.entry = entry;
        }

        /** Why the connection ended badly, for the access log (the first reason wins). */
        public void error(String reason) {
            if (error == null) {
                error = reason;
            }
        }

        synchronized void finish() {
            if (finished) {
                return;
            }
            finished = true;
            active.decrementAndGet();
            String[] v = labels.values(error == null ? "-" : "UF");
            long srcSent = appIsSource ? fromApp.get() : toApp.get();
            long srcReceived = appIsSource ? toApp.get() : fromApp.get();
            sent.labelValues(v).inc(srcSent);
            received.labelValues(v).inc(srcReceived);
            closed.labelValues(v).inc();
            accessLog.log(entry.finish(srcSent, srcReceived, Duration.ofNanos(System.nanoTime() - startNanos), error));
        }
    }

    private static long size(Object msg) {
        if (msg instanceof ByteBuf b) {
            return b.readableBytes();
        }
        if (msg instanceof ByteBufHolder h) {
            return h.content().readableBytes();
        }
        return 0;
    }
}
