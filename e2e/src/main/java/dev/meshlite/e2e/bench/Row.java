package dev.meshlite.e2e.bench;

/**
 * One measured configuration: a scenario at a pods-per-node count and a connection count.
 * Latencies in milliseconds; the added ones against {@code none} at the same pods and connections
 * of the same run (null without a {@code none} row). Proxy CPU is all of the scenario's proxies on
 * both nodes over the measured latency run; memory is the proxies on the server's node after the
 * load, in MiB.
 */
record Row(String scenario, int connections, int podsPerNode, double p50Ms, double p90Ms, double p99Ms, double maxMs,
           long requests, Double addedP50Ms, Double addedP90Ms, Double addedP99Ms, double throughputGbps,
           double proxyVcpuPer1000Rps, double proxyRssMibPerNode, int proxiesPerNode) {

    Row withBaseline(Row none) {
        if (none == null) {
            return this;
        }
        return new Row(scenario, connections, podsPerNode, p50Ms, p90Ms, p99Ms, maxMs, requests, p50Ms - none.p50Ms,
                p90Ms - none.p90Ms, p99Ms - none.p99Ms, throughputGbps, proxyVcpuPer1000Rps, proxyRssMibPerNode,
                proxiesPerNode);
    }

    /** Proxy memory per pod on the server's node. */
    double proxyRssMibPerPod() {
        return proxyRssMibPerNode / podsPerNode;
    }
}
