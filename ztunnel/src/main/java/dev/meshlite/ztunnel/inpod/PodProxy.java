package dev.meshlite.ztunnel.inpod;

import dev.meshlite.cni.handoff.PodInfo;
import dev.meshlite.hbone.HboneWire;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.ztunnel.dns.DnsProxy;
import dev.meshlite.ztunnel.proxy.PodDirectory.ServedPod;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.proxy.inbound.PlaintextHandler;
import dev.meshlite.ztunnel.proxy.outbound.OutboundHandler;
import dev.meshlite.ztunnel.socket.Netns;
import dev.meshlite.ztunnel.socket.SocketOptions;
import dev.meshlite.ztunnel.state.Locality;
import dev.meshlite.ztunnel.state.PeerAuthentication;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Workload;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ReflectiveChannelFactory;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.socket.SocketChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One pod served in-pod: ztunnel's three listeners inside the pod's network namespace (outbound
 * :15001, inbound plaintext :15006, inbound HBONE :15008; and the DNS proxy's UDP and TCP :15053
 * when DNS is captured), all with SO_REUSEPORT so a restarted
 * ztunnel can bind beside the one still draining. The HBONE listener presents the pod's own
 * certificate, so it opens once that certificate is held.
 *
 * <p>Closing stops the listeners only: connections already accepted run to their end. A removed
 * pod is closed after its drain ({@link WorkloadManager}), not at once.
 */
final class PodProxy implements ServedPod {

    private static final Logger LOG = LoggerFactory.getLogger(PodProxy.class);

    private final PodInfo info;
    private final SpiffeId identity;
    private final Netns netns;
    private final InetAddress ip;
    private final List<Channel> listeners = new CopyOnWriteArrayList<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    PodProxy(PodInfo info, SpiffeId identity, Netns netns, InetAddress ip) {
        this.info = info;
        this.identity = identity;
        this.netns = netns;
        this.ip = ip;
    }

    /**
     * Binds :15001 and :15006 now (failures throw) and :15008 once the certificate arrives; the
     * returned future completes when :15008 listens (the pod is then fully served: inbound HBONE
     * and a certificate for its outbound tunnels).
     */
    java.util.concurrent.CompletableFuture<Void> start(ProxyInputs inputs, HboneServer hbone) throws Exception {
        bind(inputs, ProxyInputs.OUTBOUND_PORT, ch -> new OutboundHandler(inputs, this));
        bind(inputs, ProxyInputs.INBOUND_PLAINTEXT_PORT, ch -> new PlaintextHandler(inputs, this));
        if (inputs.dns() != null) {
            bindDns(inputs, inputs.dns());
        }
        java.util.concurrent.CompletableFuture<Void> hboneReady = new java.util.concurrent.CompletableFuture<>();
        inputs.certificates().server(identity).whenComplete((tls, e) -> {
            if (e != null) {
                LOG.warn("pod {}/{}: no certificate for {} yet, inbound HBONE closed: {}", info.namespace(),
                        info.name(), identity, e.getMessage());
                hboneReady.completeExceptionally(e);
                return;
            }
            bindHbone(hbone, tls, hboneReady);
        });
        return hboneReady;
    }

    private void bind(ProxyInputs inputs, int port, Function<Channel, ChannelHandler> handler) throws Exception {
        ServerBootstrap b = new ServerBootstrap()
                .group(inputs.group())
                .channel(inputs.transport().serverChannel())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(EpollChannelOption.SO_REUSEPORT, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(handler.apply(ch));
                    }
                });
        ChannelFuture f = SocketOptions.bindIn(netns, b, new InetSocketAddress(port)).sync();
        keep(f.channel());
    }

    /**
     * The DNS proxy's two sockets: UDP on 127.0.0.1 (where REDIRECT sends a pod's own packets, so
     * answers leave from the address conntrack expects and are rewritten back to the resolver's)
     * and TCP on every address, like the other listeners.
     */
    private void bindDns(ProxyInputs inputs, DnsProxy dns) throws Exception {
        Bootstrap udp = new Bootstrap()
                .group(inputs.group())
                .channelFactory(SocketOptions.inNamespace(netns,
                        new ReflectiveChannelFactory<>(inputs.transport().datagramChannel())))
                .option(EpollChannelOption.SO_REUSEPORT, true)
                .handler(dns.udpHandler());
        keep(udp.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), DnsProxy.PORT)).sync().channel());
        ServerBootstrap tcp = new ServerBootstrap()
                .group(inputs.group())
                .channel(inputs.transport().serverChannel())
                .option(ChannelOption.SO_BACKLOG, 128)
                .option(EpollChannelOption.SO_REUSEPORT, true)
                .childHandler(dns.tcpInitializer());
        keep(SocketOptions.bindIn(netns, tcp, new InetSocketAddress(DnsProxy.PORT)).sync().channel());
    }

    private void bindHbone(HboneServer hbone, TlsContextHolder tls, java.util.concurrent.CompletableFuture<Void> ready) {
        if (closed.get()) {
            ready.cancel(false);
            return;
        }
        try {
            hbone.listen(tls, b -> SocketOptions.bindIn(netns, b.option(EpollChannelOption.SO_REUSEPORT, true),
                    new InetSocketAddress(HboneWire.PORT))).addListener((ChannelFuture f) -> {
                        if (f.isSuccess()) {
                            keep(f.channel());
                            ready.complete(null);
                        } else {
                            LOG.error("pod {}/{}: cannot listen on :{}: {}", info.namespace(), info.name(),
                                    HboneWire.PORT, f.cause().toString());
                            ready.completeExceptionally(f.cause());
                        }
                    });
        } catch (RuntimeException e) {
            LOG.error("pod {}/{}: cannot listen on :{}: {}", info.namespace(), info.name(), HboneWire.PORT, e.toString());
            ready.completeExceptionally(e);
        }
    }

    private void keep(Channel listener) {
        listeners.add(listener);
        if (closed.get()) {
            listener.close();
        }
    }

    /** Ports listening now, for the admin endpoint. */
    List<Integer> listening() {
        return listeners.stream().filter(Channel::isActive)
                .map(c -> ((InetSocketAddress) c.localAddress()).getPort()).distinct().sorted().toList();
    }

    /**
     * Closes the listeners and the namespace's descriptor; true on the first call only, so the
     * caller that gets true releases the pod's certificate and nobody releases it twice.
     */
    boolean close() {
        if (!closed.compareAndSet(false, true)) {
            return false;
        }
        for (Channel c : listeners) {
            c.close();
        }
        netns.close();
        return true;
    }

    @Override
    public PodInfo info() {
        return info;
    }

    @Override
    public SpiffeId identity() {
        return identity;
    }

    @Override
    public Netns netns() {
        return netns;
    }

    @Override
    public InetAddress ip() {
        return ip;
    }

    @Override
    public Workload workload(ProxyState state) {
        return state.workload(info.uid())
                .orElseGet(() -> new Workload(info.uid(), info.name(), info.namespace(), List.of(ip), "", identity,
                        info.name(), "", "", true, true, Map.of(), List.of(), PeerAuthentication.DEFAULT, null, null,
                        Locality.NONE));
    }
}
