package dev.meshlite.hbone.client;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.SocketChannel;
import java.net.InetSocketAddress;
import java.util.function.Function;

/**
 * Listens on a local TCP address and carries every accepted connection through its own HBONE
 * tunnel (the {@code connect --listen} mode of the debug tool, and the outbound half of tests and
 * benchmarks). The original client address is sent as {@code forwarded: for=}.
 */
public final class LocalForwarder implements AutoCloseable {

    private final Channel listener;

    private LocalForwarder(Channel listener) {
        this.listener = listener;
    }

    /**
     * @param route the pool key and request for one accepted connection's remote address
     */
    public static LocalForwarder start(HboneClient client, InetSocketAddress listen,
                                       Function<InetSocketAddress, Route> route) throws InterruptedException {
        // Every accepted socket goes to one loop, and HboneClient opens a pooled connection on the
        // loop that asks for it: a socket, its stream and the connection carrying it then share a
        // thread, so relaying needs no hand-off between loops (see HboneClient#callerLoop). The cost:
        // one forwarder relays on one core, which suits its use (the debug tool, tests, benchmarks).
        Channel ch = new ServerBootstrap()
                .group(client.group(), client.group().next())
                .channel(client.transport().serverChannel())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel accepted) {
                        Route r = route.apply(accepted.remoteAddress());
                        client.tunnel(r.key(), r.request(), accepted);
                    }
                })
                .bind(listen).sync().channel();
        return new LocalForwarder(ch);
    }

    /** Every connection to the same target. */
    public static LocalForwarder start(HboneClient client, InetSocketAddress listen, PoolKey key,
                                       InetSocketAddress target) throws InterruptedException {
        return start(client, listen, from -> new Route(key, TunnelRequest.to(target).withForwardedFor(from, null)));
    }

    public InetSocketAddress localAddress() {
        return (InetSocketAddress) listener.localAddress();
    }

    @Override
    public void close() {
        listener.close().syncUninterruptibly();
    }

    /** Where one accepted connection goes. */
    public record Route(PoolKey key, TunnelRequest request) {}
}
