package dev.meshlite.e2e.bench;

import java.util.List;

/**
 * One way of carrying the client's traffic to the server: no mesh, a stunnel mTLS pair per pod,
 * one ztunnel per node (ambient), one ztunnel per pod (dedicated, the sidecar shape). The run puts
 * a shape in place for the current pods, measures through it, and takes it away again, so every
 * shape is measured on the same pods in the same run.
 */
interface Shape {

    /** Where the client sends its HTTP load and its iperf3 stream. */
    record Target(String http, String iperf, int iperfPort) {
    }

    /** The scenario name in the results: none, stunnel, ambient, dedicated. */
    String name();

    /** Puts the shape in place for the pods; returns once traffic takes the shape's path. */
    void enter(BenchPods pods) throws Exception;

    Target target(BenchPods pods);

    /** How many proxies one request crosses: its client's and its server's; none without a mesh. */
    default int proxiesOnPath() {
        return 2;
    }

    /** The pids of this shape's proxies on {@code node} (none for no mesh). */
    List<Long> proxies(String node) throws Exception;

    /** Takes the shape away: the pods are as before {@link #enter}. */
    void exit(BenchPods pods) throws Exception;
}
