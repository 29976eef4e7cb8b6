package dev.meshlite.ztunnel.proxy;

import dev.meshlite.ztunnel.socket.Netns;
import dev.meshlite.ztunnel.socket.SocketOptions;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelOption;
import io.netty.channel.ReflectiveChannelFactory;
import io.netty.channel.socket.SocketChannel;

/**
 * How ztunnel's own sockets for a pod are made: created inside the pod's network namespace (so
 * they leave with the pod's IP and routes) and marked, so the pod's capture rules let them pass
 * instead of redirecting them back to ztunnel.
 */
public final class Dial {

    private Dial() {}

    public static Bootstrap fromPod(Bootstrap b, Netns ns, Class<? extends SocketChannel> channel) {
        return b.channelFactory(SocketOptions.inNamespace(ns,
                        SocketOptions.marked(ProxyInputs.SOCKET_MARK, new ReflectiveChannelFactory<>(channel))))
                .option(ChannelOption.TCP_NODELAY, true);
    }
}
