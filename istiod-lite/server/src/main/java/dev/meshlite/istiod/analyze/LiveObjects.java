package dev.meshlite.istiod.analyze;

import dev.meshlite.istiod.watch.ClusterWatcher;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.net.HttpURLConnection;
import java.util.ArrayList;
import java.util.List;

/**
 * The objects the watcher's informers hold, listed once: Namespaces, Pods, Services, Nodes,
 * EndpointSlices and ServiceAccounts, and the policy and Gateway API kinds through the watcher's
 * own resource definitions. As in the watcher, a policy kind
 * the API server does not serve (CRD not installed, 404) counts as none, with a note; any other
 * failure is an error, since judging without a kind's objects could hide a problem.
 */
final class LiveObjects {

    /** Everything listed, and notes for kinds counted as none. */
    record Listed(List<HasMetadata> objects, List<String> notes) {
        Listed {
            objects = List.copyOf(objects);
            notes = List.copyOf(notes);
        }
    }

    private LiveObjects() {}

    static Listed list(KubernetesClient client) {
        List<HasMetadata> objects = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        objects.addAll(client.namespaces().list().getItems());
        objects.addAll(client.pods().inAnyNamespace().list().getItems());
        objects.addAll(client.services().inAnyNamespace().list().getItems());
        objects.addAll(client.nodes().list().getItems());
        objects.addAll(client.discovery().v1().endpointSlices().inAnyNamespace().list().getItems());
        objects.addAll(client.serviceAccounts().inAnyNamespace().list().getItems());
        for (ResourceDefinitionContext crd : List.of(ClusterWatcher.AUTHORIZATION_POLICY,
                ClusterWatcher.PEER_AUTHENTICATION, ClusterWatcher.GATEWAY, ClusterWatcher.HTTP_ROUTE)) {
            try {
                for (GenericKubernetesResource r : client.genericKubernetesResources(crd).inAnyNamespace().list()
                        .getItems()) {
                    // List items may come without kind; the custom kinds are told apart by it.
                    r.setKind(crd.getKind());
                    r.setApiVersion(crd.getGroup() + "/" + crd.getVersion());
                    objects.add(r);
                }
            } catch (KubernetesClientException e) {
                if (e.getCode() != HttpURLConnection.HTTP_NOT_FOUND) {
                    throw e;
                }
                notes.add(crd.getKind() + " (" + crd.getGroup() + "/" + crd.getVersion()
                        + ") is not served (CRD not installed?): counted as none");
            }
        }
        return new Listed(objects, notes);
    }
}
