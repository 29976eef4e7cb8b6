package dev.meshlite.ztunnel.proxy;

import dev.meshlite.ztunnel.socket.Netns;
import dev.meshlite.ztunnel.socket.SocketOptions;
import io.netty.bootstrap.Bootstrap;
import dev.meshlite.ztunnel.metrics.TcpMetrics;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ReflectiveChannelFactory;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import java.net.InetSocketAddress;

/**
 * How ztunnel's own sockets for a pod are made: created inside the pod's network namespace (so
 * they leave with the pod's IP and routes) and marked, so the pod's capture rules let them pass
 * instead of redirecting them back to ztunnel.
 */
public final class Dial {

    private Dial() {}

    /**
     * Dials {@code target} from the pod's namespace on {@code downstream}'s loop and relays the two
     * plainly ({@link TcpRelay}); a failed dial closes {@code downstream} and is recorded on
     * {@code tracked}.
     */
    public static void relay(DuplexChannel downstream, Netns ns, Class<? extends SocketChannel> channel,
                             InetSocketAddress target, TcpMetrics.Tracked tracked) {
        fromPod(new Bootstrap().group(downstream.eventLoop()), ns, channel)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(target).addListener((ChannelFuture f) -> {
                    if (!f.isSuccess()) {
                        tracked.error("connect " + target.getAddress().getHostAddress() + ":" + target.getPort()
                                + ": " + f.cause().getMessage());
                        downstream.close();
                    } else if (!downstream.isActive()) {
                        f.channel().close();
                    } else {
                        TcpRelay.bridge(downstream, (DuplexChannel) f.channel());
                    }
                });
    }

    public static Bootstrap fromPod(Bootstrap b, Netns ns, Class<? extends SocketChannel> channel) {
        return b.channelFactory(SocketOptions.inNamespace(ns,
                        SocketOptions.marked(ProxyInputs.SOCKET_MARK, new ReflectiveChannelFactory<>(channel))))
                .option(ChannelOption.TCP_NODELAY, true);
    }
}
