package dev.meshlite.ztunnel.proxy.inbound;

import dev.meshlite.hbone.server.ConnectAuthorizer;
import dev.meshlite.hbone.server.ConnectDecision;
import dev.meshlite.hbone.server.ConnectRequest;
import dev.meshlite.ztunnel.metrics.AccessLog;
import dev.meshlite.ztunnel.metrics.ConnectionLabels;
import dev.meshlite.ztunnel.proxy.Dial;
import dev.meshlite.ztunnel.proxy.PodDirectory.ServedPod;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.rbac.Authorizer;
import dev.meshlite.ztunnel.rbac.Connection;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Workload;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Optional;

/**
 * Inbound HBONE (DESIGN §3): a CONNECT arriving on :15008 of a pod served here. The authority must
 * name that pod (the listener's own address) unless the pod is a waypoint; L4 authorization runs
 * before anything is dialled; the app is dialled from inside the pod's namespace with the
 * ztunnel mark, so the pod's capture rules do not send it back to ztunnel.
 *
 * <p>Runs on the stream's event loop: lookups in the immutable state only, no I/O.
 */
public final class HboneInbound implements ConnectAuthorizer {

    private final ProxyInputs inputs;

    public HboneInbound(ProxyInputs inputs) {
        this.inputs = inputs;
    }

    @Override
    public ConnectDecision decide(ConnectRequest request) {
        if (!(request.localAddress() instanceof InetSocketAddress local)) {
            return ConnectDecision.unavailable("no local address");
        }
        Optional<ServedPod> served = inputs.pods().byIp(local.getAddress());
        if (served.isEmpty()) {
            return ConnectDecision.unavailable("no pod " + local.getAddress().getHostAddress() + " on this node");
        }
        ServedPod pod = served.get();
        ProxyState state = inputs.state().get();
        Workload destination = pod.workload(state);
        InetSocketAddress authority = request.authority();
        boolean waypoint = destination.waypointFor() != null && !destination.waypointFor().isEmpty();
        if (!waypoint && !authority.getAddress().equals(local.getAddress())) {
            return ConnectDecision.unavailable("authority " + authority.getAddress().getHostAddress()
                    + " is not this pod (" + local.getAddress().getHostAddress() + ")");
        }
        InetAddress remote = request.remoteAddress() instanceof InetSocketAddress r ? r.getAddress() : null;
        Workload source = remote == null ? null : state.workloadByIp(remote).orElse(null);
        var labels = ConnectionLabels.of("destination", source, request.peer(), destination, pod.identity(), null, true);
        var entry = new AccessLog.Entry("inbound", remote == null ? null : remote.getHostAddress(),
                source == null ? null : source.workloadName(), request.peer().uri(),
                authority.getAddress().getHostAddress() + ":" + authority.getPort(), destination.workloadName(),
                pod.identity().uri(), null, "hbone");
        Authorizer.Decision decision = Authorizer.authorize(state, destination,
                new Connection(request.peer(), remote == null ? local.getAddress() : remote, authority.getAddress(),
                        authority.getPort()));
        if (decision instanceof Authorizer.Decision.Denied denied) {
            inputs.metrics().refused(labels, "DENY", entry, denied.reason());
            return ConnectDecision.deny(denied.reason());
        }
        // A waypoint dials on its own behalf; an app pod is dialled at its own address.
        InetSocketAddress upstream = waypoint ? authority : new InetSocketAddress(local.getAddress(), authority.getPort());
        return new ConnectDecision.Allow(upstream, b -> Dial.fromPod(b, pod.netns(), inputs.transport().socketChannel())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        inputs.metrics().track(labels, ch, false, entry);
                    }
                }));
    }
}
