package dev.meshlite.e2e.bench;

import java.util.List;

/** The baseline: the namespace not enrolled, kube-proxy's DNAT and plaintext pod to pod. */
final class NoMesh implements Shape {

    @Override
    public int proxiesOnPath() {
        return 0;
    }

    @Override
    public String name() {
        return "none";
    }

    @Override
    public void enter(BenchPods pods) {
        // nothing: the pods start out of the mesh and every other shape gives them back that way
    }

    @Override
    public Target target(BenchPods pods) {
        return new Target(pods.serviceVip() + ":80", pods.serverPod().ip(), Load.IPERF_PORT);
    }

    @Override
    public List<Long> proxies(String node) {
        return List.of();
    }

    @Override
    public void exit(BenchPods pods) {
    }
}
