package dev.meshlite.e2e.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-pod proxies of a sidecar-shaped scenario (one stunnel, or one dedicated ztunnel, per
 * pod), each started inside its pod's namespace: which node each runs on, for /proc sampling, and
 * stopping them all.
 */
final class PodProcesses {

    private record Running(Process process, String node) {
    }

    private final Map<String, Running> byPod = new LinkedHashMap<>();

    void start(BenchPods.BenchPod pod, List<String> command, Path log) throws java.io.IOException {
        byPod.put(pod.name(), new Running(InNetns.start(pod.netns(), command, log), pod.node()));
    }

    Process of(String pod) {
        return byPod.get(pod).process();
    }

    /** The live proxies on {@code node}, by pid. */
    List<Long> pids(String node) {
        List<Long> pids = new ArrayList<>();
        byPod.values().forEach(r -> {
            if (node.equals(r.node()) && r.process().isAlive()) {
                pids.add(r.process().pid());
            }
        });
        return pids;
    }

    void stopAll() throws InterruptedException {
        InNetns.stopAll(byPod.values().stream().map(Running::process).toList());
        byPod.clear();
    }
}
