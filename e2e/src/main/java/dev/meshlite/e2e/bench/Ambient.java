package dev.meshlite.e2e.bench;

import dev.meshlite.e2e.cluster.Components;
import dev.meshlite.e2e.cluster.Layout;
import java.util.List;

/**
 * Ambient L4: the namespace labelled {@code istio.io/dataplane-mode=ambient}, enrolled live by the
 * CNI node agent, every pod's traffic through its node's ztunnel and HBONE between the nodes.
 */
final class Ambient implements Shape {

    @Override
    public String name() {
        return "ambient";
    }

    @Override
    public void enter(BenchPods pods) throws Exception {
        pods.labelAmbient(true);
        pods.awaitRedirection(true);
        Hbone.awaitMutualTls(pods, Layout.nodeNetns(BenchPods.SERVER_NODE));
    }

    @Override
    public Target target(BenchPods pods) {
        return new Target(pods.serviceVip() + ":80", pods.serverPod().ip(), Load.IPERF_PORT);
    }

    @Override
    public List<Long> proxies(String node) throws Exception {
        Components components = new Components(Layout.stateDir());
        var spec = components.find("ztunnel", node).orElseThrow(() -> new BenchFailure("no ztunnel on " + node));
        return List.of(components.process(spec).orElseThrow(() -> new BenchFailure("ztunnel on " + node + " is not running"))
                .pid());
    }

    @Override
    public void exit(BenchPods pods) throws Exception {
        pods.labelAmbient(false);
        pods.awaitRedirection(false);
    }
}
