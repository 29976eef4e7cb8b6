package dev.meshlite.istiod.bench;

import java.nio.file.Path;
import java.time.Duration;

/**
 * One benchmark run's settings, built once from the command line.
 *
 * @param pods pods in the synthetic cluster, spread round-robin over the namespaces and nodes
 * @param services ClusterIP services, spread round-robin over the namespaces; each selects the pods
 *     of its namespace that carry its {@code app} label
 * @param proxies simulated ztunnels, one per node {@code node-1..node-<proxies>}
 * @param namespaces namespaces; all start ambient, and the first is the one whose label is flipped
 * @param warmupChanges label flips made first and reported apart (not in the percentiles): the
 *     JIT compiles the change path on them, as it has long done in an istiod that has been running
 * @param changes label flips measured (off, on, off, ...)
 * @param podChanges single-pod changes measured (a readiness flip each)
 * @param timeout how long one step may take before the run fails
 * @param resultsDir where {@code <UTC stamp>/control-plane.json} is written
 */
record BenchConfig(int pods, int services, int proxies, int namespaces, int warmupChanges, int changes,
        int podChanges,
        Duration timeout, Path resultsDir) {

    BenchConfig {
        require(pods, 1, "pods");
        require(services, 0, "services");
        require(proxies, 1, "proxies");
        require(namespaces, 1, "namespaces");
        require(warmupChanges, 0, "warmupChanges");
        require(changes, 1, "changes");
        require(podChanges, 1, "podChanges");
        if (namespaces > pods) {
            throw new IllegalArgumentException("namespaces: " + namespaces + " (expected: <= pods, " + pods + ")");
        }
    }

    private static void require(int value, int min, String name) {
        if (value < min) {
            throw new IllegalArgumentException(name + ": " + value + " (expected: >= " + min + ")");
        }
    }

    /** Namespace {@code n}'s name; {@code bench-0} is the one flipped. */
    String namespace(int n) {
        return "bench-" + n;
    }

    /** Pods of namespace {@code n} (pod {@code i} lives in namespace {@code i % namespaces}). */
    int podsIn(int n) {
        return pods / namespaces + (n < pods % namespaces ? 1 : 0);
    }

    /** Services of namespace {@code n} (service {@code j} lives in namespace {@code j % namespaces}). */
    int servicesIn(int n) {
        return services / namespaces + (n < services % namespaces ? 1 : 0);
    }

    /** The node of pod {@code i}: pods are spread evenly over the proxies' nodes. */
    String nodeOf(int pod) {
        return node(pod % proxies);
    }

    /** The {@code k}-th node (0-based), named {@code node-<k+1>}. */
    static String node(int k) {
        return "node-" + (k + 1);
    }
}
