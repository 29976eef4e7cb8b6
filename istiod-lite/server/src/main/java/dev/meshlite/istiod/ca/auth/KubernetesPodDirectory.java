package dev.meshlite.istiod.ca.auth;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;

/**
 * {@link PodDirectory} by a live lookup: the pods of the identity's namespace, filtered here by
 * node, service account and phase. A live read (not an informer cache) so a pod just scheduled is
 * seen at once; the namespace bounds the read.
 */
public final class KubernetesPodDirectory implements PodDirectory {

    private final KubernetesClient client;

    public KubernetesPodDirectory(KubernetesClient client) {
        this.client = client;
    }

    @Override
    public boolean runsOnNode(String node, ServiceAccountRef sa) {
        for (Pod pod : client.pods().inNamespace(sa.namespace()).list().getItems()) {
            if (pod.getSpec() == null || !node.equals(pod.getSpec().getNodeName())) {
                continue;
            }
            String podSa = pod.getSpec().getServiceAccountName();
            if (podSa == null || podSa.isEmpty()) {
                podSa = "default";
            }
            String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
            if (podSa.equals(sa.name()) && !"Succeeded".equals(phase) && !"Failed".equals(phase)
                    && pod.getMetadata().getDeletionTimestamp() == null) {
                return true;
            }
        }
        return false;
    }
}
