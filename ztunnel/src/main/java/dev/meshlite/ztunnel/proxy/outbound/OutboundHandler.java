package dev.meshlite.ztunnel.proxy.outbound;

import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.ztunnel.metrics.AccessLog;
import dev.meshlite.ztunnel.metrics.ConnectionLabels;
import dev.meshlite.ztunnel.metrics.TcpMetrics;
import dev.meshlite.ztunnel.proxy.Dial;
import dev.meshlite.ztunnel.proxy.PodDirectory.ServedPod;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.socket.SocketOptions;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Workload;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DuplexChannel;
import java.net.InetSocketAddress;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One captured outbound connection of a pod (accepted on :15001 in its namespace): read where the
 * app was going, route it, then tunnel it over HBONE with the pod's own certificate, or pass it
 * through. The handler removes itself once the connection is handed to a relay.
 */
public final class OutboundHandler extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(OutboundHandler.class);

    private final ProxyInputs inputs;
    private final ServedPod pod;

    public OutboundHandler(ProxyInputs inputs, ServedPod pod) {
        this.inputs = inputs;
        this.pod = pod;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        DuplexChannel app = (DuplexChannel) ctx.channel();
        InetSocketAddress dialled;
        try {
            dialled = SocketOptions.originalDestination(app);
        } catch (RuntimeException e) {
            LOG.warn("pod {}/{}: no original destination on {}: {}", pod.info().namespace(), pod.info().name(),
                    app.remoteAddress(), e.getMessage());
            app.close();
            return;
        }
        if (dialled.equals(app.localAddress())) {
            // Dialled :15001 directly, not redirected: refuse rather than loop.
            app.close();
            return;
        }
        ctx.pipeline().remove(this);
        ProxyState state = inputs.state().get();
        Workload source = pod.workload(state);
        Route route = OutboundRouter.route(state, source, dialled, n -> ThreadLocalRandom.current().nextInt(n));
        InetSocketAddress client = (InetSocketAddress) app.remoteAddress();
        switch (route) {
            case Route.Hbone h -> tunnel(app, client, source, h);
            case Route.Passthrough p -> passthrough(app, client, source, p);
            case Route.Unreachable u -> {
                AccessLog.Entry entry = new AccessLog.Entry("outbound", str(client), source.workloadName(),
                        pod.identity().uri(), str(dialled), null, null, null, "none");
                inputs.metrics().refused(ConnectionLabels.of("source", source, pod.identity(), null, null, null, false),
                        "NR", entry, u.reason());
                app.close();
            }
        }
    }

    private void tunnel(DuplexChannel app, InetSocketAddress client, Workload source, Route.Hbone h) {
        var labels = ConnectionLabels.of("source", source, pod.identity(), h.destination(),
                h.destination() == null ? null : h.destination().identity(), h.service(), true);
        var entry = new AccessLog.Entry("outbound", str(client), source.workloadName(), pod.identity().uri(),
                str(h.authority()), h.destination() == null ? null : h.destination().workloadName(),
                h.destination() == null ? null : h.destination().identity().uri(),
                h.service() == null ? null : h.service().hostname(),
                (h.viaWaypoint() ? "waypoint " : "hbone ") + str(h.hboneAddress()));
        TcpMetrics.Tracked tracked = inputs.metrics().track(labels, app, true, entry);
        PoolKey key = new PoolKey(pod.identity(), h.expectedIdentities(), h.hboneAddress(), pod.ip());
        TunnelRequest request = TunnelRequest.to(h.authority())
                .withForwardedFor(client, h.service() == null ? null : h.service().hostname())
                .withBaggage(TunnelRequest.baggage(inputs.cluster(), source.namespace(), source.workloadName(),
                        source.canonicalName(), source.canonicalRevision()));
        // The pod's certificate is normally held since it arrived; the first connection may wait.
        inputs.certificates().client(pod.identity()).whenComplete((tls, e) -> app.eventLoop().execute(() -> {
            if (e != null) {
                tracked.error("no certificate for " + pod.identity() + ": " + e);
                app.close();
                return;
            }
            inputs.hbone().tunnel(key, request, app).whenComplete((stream, failure) -> {
                if (failure != null) {
                    tracked.error(reason(failure));
                    LOG.debug("tunnel {} -> {} failed", client, h.authority(), failure);
                }
            });
        }));
    }

    private void passthrough(DuplexChannel app, InetSocketAddress client, Workload source, Route.Passthrough p) {
        var labels = ConnectionLabels.of("source", source, pod.identity(), p.destination(), null, p.service(), false);
        var entry = new AccessLog.Entry("outbound", str(client), source.workloadName(), pod.identity().uri(),
                str(p.target()), p.destination() == null ? null : p.destination().workloadName(), null,
                p.service() == null ? null : p.service().hostname(), "passthrough");
        TcpMetrics.Tracked tracked = inputs.metrics().track(labels, app, true, entry);
        Dial.relay(app, pod.netns(), inputs.transport().socketChannel(), p.target(), tracked);
    }

    /** The failure and its causes in one line: "cannot connect to X: Connection refused". */
    static String reason(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null && sb.length() < 400; c = c.getCause()) {
            if (c instanceof java.util.concurrent.CompletionException) {
                continue;
            }
            if (!sb.isEmpty()) {
                sb.append(": ");
            }
            sb.append(c.getMessage() != null ? c.getMessage() : c.getClass().getSimpleName());
        }
        return sb.toString();
    }

    static String str(InetSocketAddress a) {
        return a == null ? null : a.getAddress().getHostAddress() + ":" + a.getPort();
    }
}
