package dev.meshlite.e2e.controllers;

import dev.meshlite.e2e.cluster.Readiness;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Binds unscheduled pods to a ready node: the one with the fewest pods of the same owner (so a
 * ReplicaSet's replicas spread over nodes, as the default topology spread does), then the fewest
 * pods, then by name; honouring a {@code nodeSelector} on {@code kubernetes.io/hostname}. One scheduler for the cluster rather
 * than each kubelet binding for itself: a single view of the spread, and no two nodes racing for
 * the same pod.
 */
final class Scheduler {

    private static final Logger LOG = LoggerFactory.getLogger(Scheduler.class);

    private final KubernetesClient client;
    private final Expectations expectations;

    Scheduler(KubernetesClient client, Expectations expectations) {
        this.client = client;
        this.expectations = expectations;
    }

    void schedule(ControllerManager.Snapshot s) {
        List<Node> ready = s.nodes().stream().filter(Readiness::ready)
                .sorted(Comparator.comparing(n -> n.getMetadata().getName())).toList();
        if (ready.isEmpty()) {
            return;
        }
        Map<String, Integer> load = new HashMap<>();
        Map<String, Integer> siblings = new HashMap<>(); // owner uid + "@" + node -> pods
        ready.forEach(n -> load.put(n.getMetadata().getName(), 0));
        for (Pod p : s.pods()) {
            String node = Optional.ofNullable(p.getSpec().getNodeName()).filter(n -> !n.isEmpty())
                    .orElse(expectations.boundTo(p.getMetadata().getUid()));
            if (node != null) {
                load.computeIfPresent(node, (k, v) -> v + 1);
                siblings.merge(owner(p) + "@" + node, 1, Integer::sum);
            }
        }
        for (Pod p : s.pods()) {
            if ((p.getSpec().getNodeName() != null && !p.getSpec().getNodeName().isEmpty())
                    || expectations.boundTo(p.getMetadata().getUid()) != null) {
                continue;
            }
            Map<String, String> selector = p.getSpec().getNodeSelector();
            Optional<String> choice = ready.stream().map(n -> n.getMetadata().getName())
                    .filter(n -> selector == null || !selector.containsKey("kubernetes.io/hostname")
                            || selector.get("kubernetes.io/hostname").equals(n))
                    .min(Comparator.comparingInt((String n) -> siblings.getOrDefault(owner(p) + "@" + n, 0))
                            .thenComparingInt(load::get));
            if (choice.isEmpty()) {
                continue;
            }
            String node = choice.get();
            client.pods().inNamespace(p.getMetadata().getNamespace()).withName(p.getMetadata().getName())
                    .edit(x -> {
                        x.getSpec().setNodeName(node);
                        return x;
                    });
            expectations.bound(p.getMetadata().getUid(), node);
            load.merge(node, 1, Integer::sum);
            siblings.merge(owner(p) + "@" + node, 1, Integer::sum);
            LOG.info("bound {}/{} to {}", p.getMetadata().getNamespace(), p.getMetadata().getName(), node);
        }
    }

    private static String owner(Pod p) {
        var refs = p.getMetadata().getOwnerReferences();
        return refs == null || refs.isEmpty() ? "pod:" + p.getMetadata().getUid() : refs.get(0).getUid();
    }

}
