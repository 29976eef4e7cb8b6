package dev.meshlite.e2e.bench;

/**
 * One measured configuration: a scenario at a pods-per-node count and a connection count.
 * Latencies in milliseconds; the added ones against {@code none} at the same pods and connections
 * of the same run (null without a {@code none} row). Proxy CPU is all of the scenario's proxies on
 * both nodes over the measured latency run, {@code proxiesOnPath} how many of them each request
 * crosses; memory is the RSS of the proxies on the server's node in MiB: idle (in place, pods
 * enrolled, before any load) and after the latency run at {@code rateRps}.
 */
record Row(String scenario, int connections, int podsPerNode, double p50Ms, double p90Ms, double p99Ms, double maxMs,
           long requests, Double addedP50Ms, Double addedP90Ms, Double addedP99Ms, double throughputGbps,
           double proxyVcpuPer1000Rps, double proxyRssMibPerNode, int proxiesPerNode, int proxiesOnPath,
           double proxyRssIdleMibPerNode, int rateRps) {

    Row withBaseline(Row none) {
        if (none == null) {
            return this;
        }
        return new Row(scenario, connections, podsPerNode, p50Ms, p90Ms, p99Ms, maxMs, requests, p50Ms - none.p50Ms,
                p90Ms - none.p90Ms, p99Ms - none.p99Ms, throughputGbps, proxyVcpuPer1000Rps, proxyRssMibPerNode,
                proxiesPerNode, proxiesOnPath, proxyRssIdleMibPerNode, rateRps);
    }

    /**
     * Proxy CPU per 1000 req/s for each proxy a request crosses (null without proxies): the
     * published per-proxy figures (Istio's "a ztunnel uses 0.06 vCPU per 1000 req/s") count one
     * proxy, while every meshed request here crosses two, its client's and its server's.
     */
    Double proxyVcpuPer1000RpsPerProxy() {
        return proxiesOnPath == 0 ? null : proxyVcpuPer1000Rps / proxiesOnPath;
    }

    /**
     * What the load added to the proxies' memory on the server's node, per 1000 req/s of it (the
     * unit of the goal "at most 12 MiB more per 1000 req/s"); null without proxies.
     */
    Double proxyRssGrowthMibPer1000Rps() {
        return proxiesPerNode == 0 ? null : (proxyRssMibPerNode - proxyRssIdleMibPerNode) / (rateRps / 1000.0);
    }

    /** Proxy memory per pod on the server's node. */
    double proxyRssMibPerPod() {
        return proxyRssMibPerNode / podsPerNode;
    }
}
