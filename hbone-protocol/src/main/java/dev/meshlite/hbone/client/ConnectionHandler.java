package dev.meshlite.hbone.client;

import dev.meshlite.hbone.tls.LingeringClose;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.TimeUnit;

/**
 * Connection-level frames of a pooled connection: the server's SETTINGS (the first one makes the
 * connection usable), PING keepalive (a PING every {@code pingInterval}; no answer for
 * {@code pingTimeout} closes the connection), and GOAWAY (the connection leaves the pool).
 */
final class ConnectionHandler extends ChannelInboundHandlerAdapter {

    private final PooledConnection connection;
    private final ConnectionPool pool;
    private final HboneClientConfig config;
    private boolean settingsSeen;
    private long lastAck;
    private long pingSeq;
    private ScheduledFuture<?> keepalive;

    ConnectionHandler(PooledConnection connection, ConnectionPool pool, HboneClientConfig config) {
        this.connection = connection;
        this.pool = pool;
        this.config = config;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof Http2SettingsFrame settings) {
                Long max = settings.settings().maxConcurrentStreams();
                long limit = max == null ? Long.MAX_VALUE : max;
                if (!settingsSeen) {
                    settingsSeen = true;
                    startKeepalive(ctx);
                    pool.established(connection, limit);
                } else if (max != null) {
                    pool.limitChanged(connection, limit);
                }
            } else if (msg instanceof Http2PingFrame ping && ping.ack()) {
                lastAck = System.nanoTime();
            } else if (msg instanceof Http2GoAwayFrame) {
                pool.draining(connection);
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void startKeepalive(ChannelHandlerContext ctx) {
        lastAck = System.nanoTime();
        long interval = config.pingInterval().toNanos();
        keepalive = ctx.executor().scheduleAtFixedRate(() -> {
            if (System.nanoTime() - lastAck > config.pingTimeout().toNanos()) {
                pool.failed(connection, new HboneTunnelException(0, "no PING answer for " + config.pingTimeout()));
                LingeringClose.closeAtOnce(ctx); // a dead peer sends no FIN to wait for
                return;
            }
            ctx.writeAndFlush(new DefaultHttp2PingFrame(++pingSeq, false));
        }, interval, interval, TimeUnit.NANOSECONDS);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (keepalive != null) {
            keepalive.cancel(false);
        }
        pool.failed(connection, new HboneTunnelException("connection to " + connection.key.destination()
                + " closed", new ClosedChannelException()));
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LingeringClose.closeAtOnce(ctx); // a broken connection: its streams are reset now
    }
}
