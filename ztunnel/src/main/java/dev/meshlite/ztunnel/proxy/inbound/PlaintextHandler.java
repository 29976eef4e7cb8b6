package dev.meshlite.ztunnel.proxy.inbound;

import dev.meshlite.ztunnel.metrics.AccessLog;
import dev.meshlite.ztunnel.metrics.ConnectionLabels;
import dev.meshlite.ztunnel.metrics.TcpMetrics;
import dev.meshlite.ztunnel.proxy.Dial;
import dev.meshlite.ztunnel.proxy.PodDirectory.ServedPod;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.rbac.Authorizer;
import dev.meshlite.ztunnel.rbac.Connection;
import dev.meshlite.ztunnel.socket.SocketOptions;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Workload;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DuplexChannel;
import java.net.InetSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Inbound plaintext (DESIGN §3): a connection from outside the mesh, redirected to :15006 in the
 * pod's namespace. Refused under STRICT peer authentication for its port; otherwise authorized
 * with no identity (so identity-based ALLOW rules cannot match it) and relayed to the app.
 */
public final class PlaintextHandler extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(PlaintextHandler.class);

    private final ProxyInputs inputs;
    private final ServedPod pod;

    public PlaintextHandler(ProxyInputs inputs, ServedPod pod) {
        this.inputs = inputs;
        this.pod = pod;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        DuplexChannel client = (DuplexChannel) ctx.channel();
        ctx.pipeline().remove(this);
        InetSocketAddress dialled;
        try {
            dialled = SocketOptions.originalDestination(client);
        } catch (RuntimeException e) {
            LOG.warn("pod {}/{}: no original destination on {}: {}", pod.info().namespace(), pod.info().name(),
                    client.remoteAddress(), e.getMessage());
            client.close();
            return;
        }
        InetSocketAddress remote = (InetSocketAddress) client.remoteAddress();
        if (dialled.equals(client.localAddress())) {
            client.close();
            return;
        }
        ProxyState state = inputs.state().get();
        Workload destination = pod.workload(state);
        Workload source = state.workloadByIp(remote.getAddress()).orElse(null);
        var labels = ConnectionLabels.of("destination", source, null, destination, pod.identity(), null, false);
        var entry = new AccessLog.Entry("inbound", remote.getAddress().getHostAddress() + ":" + remote.getPort(),
                source == null ? null : source.workloadName(), null,
                dialled.getAddress().getHostAddress() + ":" + dialled.getPort(), destination.workloadName(),
                pod.identity().uri(), null, "plaintext");
        if (!destination.peerAuthentication().allowsPlaintext(dialled.getPort())) {
            inputs.metrics().refused(labels, "DENY", entry, "STRICT peer authentication refuses plaintext");
            client.close();
            return;
        }
        Authorizer.Decision decision = Authorizer.authorize(state, destination,
                new Connection(null, remote.getAddress(), dialled.getAddress(), dialled.getPort()));
        if (decision instanceof Authorizer.Decision.Denied denied) {
            inputs.metrics().refused(labels, "DENY", entry, denied.reason());
            client.close();
            return;
        }
        TcpMetrics.Tracked tracked = inputs.metrics().track(labels, client, true, entry);
        InetSocketAddress app = new InetSocketAddress(pod.ip(), dialled.getPort());
        Dial.relay(client, pod.netns(), inputs.transport().socketChannel(), app, tracked);
    }
}
