package dev.meshlite.e2e.controllers;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.apps.ReplicaSetBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.security.SecureRandom;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Deployments → ReplicaSets → Pods, owner-based garbage collection and default ServiceAccounts. */
final class Workloads {

    private static final Logger LOG = LoggerFactory.getLogger(Workloads.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String HASH_LABEL = "pod-template-hash";
    private static final char[] SUFFIX = "bcdfghjklmnpqrstvwxz2456789".toCharArray();
    private static final SecureRandom RANDOM = new SecureRandom();

    private final KubernetesClient client;
    private final Expectations expectations;

    Workloads(KubernetesClient client, Expectations expectations) {
        this.client = client;
        this.expectations = expectations;
    }

    static void ensureDefaultServiceAccounts(KubernetesClient client, ControllerManager.Snapshot s) {
        Set<String> have = s.serviceAccounts().stream().filter(sa -> sa.getMetadata().getName().equals("default"))
                .map(sa -> sa.getMetadata().getNamespace()).collect(Collectors.toSet());
        for (Namespace ns : s.namespaces()) {
            String name = ns.getMetadata().getName();
            if (!have.contains(name)) {
                try {
                    client.serviceAccounts().inNamespace(name).resource(new ServiceAccountBuilder()
                            .withNewMetadata().withName("default").withNamespace(name).endMetadata().build()).create();
                } catch (KubernetesClientException e) {
                    if (e.getCode() != 409) {
                        throw e;
                    }
                }
            }
        }
    }

    /** Deletes what lost its owner or its namespace, as the API server's GC and namespace controller do. */
    void collectGarbage(ControllerManager.Snapshot s) {
        Set<String> namespaces = s.namespaces().stream().map(n -> n.getMetadata().getName()).collect(Collectors.toSet());
        Set<String> deploymentUids = s.deployments().stream().map(d -> d.getMetadata().getUid()).collect(Collectors.toSet());
        Set<String> rsUids = s.replicaSets().stream().map(r -> r.getMetadata().getUid()).collect(Collectors.toSet());
        for (ReplicaSet rs : s.replicaSets()) {
            if (orphaned(rs, "Deployment", deploymentUids) || !namespaces.contains(rs.getMetadata().getNamespace())) {
                client.apps().replicaSets().inNamespace(rs.getMetadata().getNamespace())
                        .withName(rs.getMetadata().getName()).delete();
            }
        }
        for (Pod p : s.pods()) {
            if ((orphaned(p, "ReplicaSet", rsUids) || !namespaces.contains(p.getMetadata().getNamespace()))
                    && !expectations.isBeingDeleted(p)) {
                expectations.deleted("gc", Expectations.key(p));
                client.pods().inNamespace(p.getMetadata().getNamespace()).withName(p.getMetadata().getName()).delete();
            }
        }
        for (var list : List.of(s.deployments(), s.services(), s.slices(), s.serviceAccounts())) {
            for (HasMetadata o : list) {
                if (!namespaces.contains(o.getMetadata().getNamespace())) {
                    client.resource(o).delete();
                }
            }
        }
    }

    private static boolean orphaned(HasMetadata o, String ownerKind, Set<String> liveOwners) {
        var refs = o.getMetadata().getOwnerReferences();
        if (refs == null) {
            return false;
        }
        return refs.stream().anyMatch(r -> ownerKind.equals(r.getKind()) && !liveOwners.contains(r.getUid()));
    }

    void reconcileDeployments(ControllerManager.Snapshot s) {
        for (Deployment d : s.deployments()) {
            String ns = d.getMetadata().getNamespace();
            int desired = Objects.requireNonNullElse(d.getSpec().getReplicas(), 1);
            String hash = templateHash(d.getSpec().getTemplate());
            String rsName = d.getMetadata().getName() + "-" + hash;
            List<ReplicaSet> owned = s.replicaSets().stream()
                    .filter(rs -> ControllerManager.ownedBy(rs, d.getMetadata().getUid())).toList();
            ReplicaSet current = owned.stream().filter(rs -> rs.getMetadata().getName().equals(rsName)).findFirst().orElse(null);
            if (current == null) {
                createReplicaSet(d, rsName, hash, desired);
                continue;
            }
            if (!Objects.equals(current.getSpec().getReplicas(), desired)) {
                scale(current, desired);
            }
            int newReady = readyOf(current);
            // Rolling: old ReplicaSets shrink as the new one's pods become ready.
            for (ReplicaSet old : owned) {
                if (old != current) {
                    int target = Math.max(0, desired - newReady);
                    int now = Objects.requireNonNullElse(old.getSpec().getReplicas(), 0);
                    if (now > target) {
                        scale(old, target);
                    } else if (now == 0 && replicasOf(old) == 0 && newReady >= desired) {
                        client.apps().replicaSets().inNamespace(ns).withName(old.getMetadata().getName()).delete();
                    }
                }
            }
            int total = owned.stream().mapToInt(Workloads::replicasOf).sum();
            int ready = owned.stream().mapToInt(Workloads::readyOf).sum();
            var st = d.getStatus();
            if (st == null || !Objects.equals(st.getReplicas(), total) || !Objects.equals(st.getReadyReplicas(), ready)
                    || !Objects.equals(st.getUpdatedReplicas(), replicasOf(current))
                    || !Objects.equals(st.getObservedGeneration(), d.getMetadata().getGeneration())) {
                client.apps().deployments().inNamespace(ns).withName(d.getMetadata().getName()).editStatus(x -> {
                    x.setStatus(new io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder()
                            .withReplicas(total).withReadyReplicas(ready).withAvailableReplicas(ready)
                            .withUpdatedReplicas(replicasOf(current)).withObservedGeneration(d.getMetadata().getGeneration())
                            .build());
                    return x;
                });
            }
        }
    }

    private void createReplicaSet(Deployment d, String name, String hash, int replicas) {
        PodTemplateSpec template = d.getSpec().getTemplate();
        Map<String, String> labels = new HashMap<>(template.getMetadata().getLabels());
        labels.put(HASH_LABEL, hash);
        LabelSelector selector = new io.fabric8.kubernetes.api.model.LabelSelectorBuilder()
                .withMatchLabels(new HashMap<>(d.getSpec().getSelector().getMatchLabels()))
                .addToMatchLabels(HASH_LABEL, hash).build();
        PodTemplateSpec podTemplate = new io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder(template)
                .editMetadata().withLabels(labels).endMetadata().build();
        ReplicaSet rs = new ReplicaSetBuilder()
                .withNewMetadata().withName(name).withNamespace(d.getMetadata().getNamespace()).withLabels(labels)
                .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("apps/v1").withKind("Deployment")
                        .withName(d.getMetadata().getName()).withUid(d.getMetadata().getUid()).withController(true)
                        .withBlockOwnerDeletion(true).build())
                .endMetadata()
                .withNewSpec().withReplicas(replicas).withSelector(selector).withTemplate(podTemplate).endSpec()
                .build();
        try {
            client.apps().replicaSets().inNamespace(d.getMetadata().getNamespace()).resource(rs).create();
            LOG.info("deployment {}/{}: created replica set {}", d.getMetadata().getNamespace(), d.getMetadata().getName(), name);
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) {
                throw e;
            }
        }
    }

    private void scale(ReplicaSet rs, int replicas) {
        client.apps().replicaSets().inNamespace(rs.getMetadata().getNamespace()).withName(rs.getMetadata().getName())
                .edit(x -> {
                    x.getSpec().setReplicas(replicas);
                    return x;
                });
    }

    void reconcileReplicaSets(ControllerManager.Snapshot s) {
        for (ReplicaSet rs : s.replicaSets()) {
            String uid = rs.getMetadata().getUid();
            String ns = rs.getMetadata().getNamespace();
            List<Pod> active = s.pods().stream()
                    .filter(p -> ControllerManager.ownedBy(p, uid) && !expectations.isBeingDeleted(p)
                            && !"Succeeded".equals(phase(p)) && !"Failed".equals(phase(p)))
                    .toList();
            int desired = Objects.requireNonNullElse(rs.getSpec().getReplicas(), 1);
            long have = active.size() + expectations.pendingCreates(uid);
            for (long i = have; i < desired; i++) {
                Pod pod = newPod(rs);
                expectations.created(uid, ns + "/" + pod.getMetadata().getName());
                client.pods().inNamespace(ns).resource(pod).create();
            }
            if (active.size() > desired && expectations.pendingCreates(uid) == 0) {
                // Remove the least useful first: unscheduled, then not ready, then the newest.
                List<Pod> victims = active.stream().sorted(Comparator
                                .comparing((Pod p) -> p.getSpec().getNodeName() != null)
                                .thenComparing(ControllerManager::isReady)
                                .thenComparing((Pod p) -> p.getMetadata().getCreationTimestamp(), Comparator.reverseOrder()))
                        .limit(active.size() - desired).toList();
                for (Pod p : victims) {
                    expectations.deleted(uid, Expectations.key(p));
                    client.pods().inNamespace(ns).withName(p.getMetadata().getName()).delete();
                }
            }
            int ready = (int) active.stream().filter(ControllerManager::isReady).count();
            var st = rs.getStatus();
            if (st == null || !Objects.equals(st.getReplicas(), active.size()) || !Objects.equals(st.getReadyReplicas(), ready)) {
                client.apps().replicaSets().inNamespace(ns).withName(rs.getMetadata().getName()).editStatus(x -> {
                    x.setStatus(new io.fabric8.kubernetes.api.model.apps.ReplicaSetStatusBuilder()
                            .withReplicas(active.size()).withReadyReplicas(ready).withAvailableReplicas(ready)
                            .withObservedGeneration(rs.getMetadata().getGeneration()).build());
                    return x;
                });
            }
        }
    }

    private static Pod newPod(ReplicaSet rs) {
        PodTemplateSpec t = rs.getSpec().getTemplate();
        StringBuilder suffix = new StringBuilder();
        for (int i = 0; i < 5; i++) {
            suffix.append(SUFFIX[RANDOM.nextInt(SUFFIX.length)]);
        }
        return new PodBuilder()
                .withMetadata(new ObjectMetaBuilder(t.getMetadata())
                        .withName(rs.getMetadata().getName() + "-" + suffix)
                        .withNamespace(rs.getMetadata().getNamespace())
                        .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("apps/v1").withKind("ReplicaSet")
                                .withName(rs.getMetadata().getName()).withUid(rs.getMetadata().getUid())
                                .withController(true).withBlockOwnerDeletion(true).build())
                        .build())
                .withSpec(t.getSpec())
                .build();
    }

    private static String phase(Pod p) {
        return p.getStatus() == null ? null : p.getStatus().getPhase();
    }

    private static int replicasOf(ReplicaSet rs) {
        return rs.getStatus() == null || rs.getStatus().getReplicas() == null ? 0 : rs.getStatus().getReplicas();
    }

    private static int readyOf(ReplicaSet rs) {
        return rs.getStatus() == null || rs.getStatus().getReadyReplicas() == null ? 0 : rs.getStatus().getReadyReplicas();
    }

    /** A stable 10-character name-safe hash of the pod template, as Deployments label their pods. */
    static String templateHash(PodTemplateSpec template) {
        try {
            byte[] json = JSON.writeValueAsBytes(template);
            int h = 0x811c9dc5;
            for (byte b : json) {
                h ^= b & 0xff;
                h *= 0x01000193;
            }
            StringBuilder out = new StringBuilder();
            long v = Integer.toUnsignedLong(h) * 2654435761L;
            for (int i = 0; i < 10; i++) {
                out.append(SUFFIX[(int) Long.remainderUnsigned(v, SUFFIX.length)]);
                v = Long.divideUnsigned(v, SUFFIX.length) ^ (h * 31L + i);
            }
            return out.toString();
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
