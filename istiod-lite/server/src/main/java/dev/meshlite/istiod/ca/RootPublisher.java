package dev.meshlite.istiod.ca;

import dev.meshlite.istiod.lead.Leadership;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the trusted roots in every namespace as ConfigMap {@code istio-ca-root-cert}, key
 * {@code root-cert.pem} (what Istio users and tools read). During a rotation the value holds every
 * trusted root, active first. Writes are skipped when the value is already right.
 *
 * <p>Every replica watches namespaces (a read); only the leader writes, checked right before each
 * request. On gaining leadership it publishes into every namespace it knows: that catches up on
 * namespaces created while no replica could write, and on a rotation the old leader had not
 * published yet. Namespaces already right cost a read, no write.
 */
public final class RootPublisher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RootPublisher.class);

    public static final String CONFIG_MAP = "istio-ca-root-cert";
    public static final String KEY = "root-cert.pem";

    private final KubernetesClient client;
    private final Supplier<List<X509Certificate>> roots;
    private final Leadership leadership;
    private final Leadership.Listener catchUp = new Leadership.Listener() {
        @Override
        public void gained() {
            publishAll();
        }

        @Override
        public void lost() {}
    };
    private volatile SharedIndexInformer<Namespace> informer;
    private boolean started;
    private volatile boolean closed;

    public RootPublisher(KubernetesClient client, Supplier<List<X509Certificate>> roots, Leadership leadership) {
        this.client = client;
        this.roots = roots;
        this.leadership = leadership;
    }

    /**
     * Watches namespaces: publishes into each new one as it appears (when leading), and into all
     * of them whenever this replica gains leadership (now, if it leads already).
     */
    public synchronized void start() {
        if (started) {
            return;
        }
        started = true;
        informer = client.namespaces().inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Namespace ns) {
                publishQuietly(ns.getMetadata().getName());
            }

            @Override
            public void onUpdate(Namespace oldNs, Namespace newNs) {}

            @Override
            public void onDelete(Namespace ns, boolean unknownFinalState) {}
        });
        leadership.subscribe(catchUp);
    }

    /** Writes the current roots into every namespace (after a rotation or a reload); leader only. */
    public void publishAll() {
        if (closed || !leadership.isLeader()) {
            return;
        }
        SharedIndexInformer<Namespace> watching = informer;
        List<Namespace> namespaces = watching != null ? watching.getStore().list()
                : client.namespaces().list().getItems();
        for (Namespace ns : namespaces) {
            publishQuietly(ns.getMetadata().getName());
        }
    }

    /** Writes the current roots into {@code namespace} unless they are there already; leader only. */
    public void publish(String namespace) {
        if (!leadership.isLeader()) {
            return;
        }
        String pem = PemText.encodeAll(roots.get());
        ConfigMap existing = client.configMaps().inNamespace(namespace).withName(CONFIG_MAP).get();
        if (existing != null && existing.getData() != null && Objects.equals(existing.getData().get(KEY), pem)) {
            return;
        }
        ConfigMap cm = new ConfigMapBuilder()
                .withNewMetadata().withName(CONFIG_MAP).withNamespace(namespace)
                .addToLabels("istio.io/config", "true").endMetadata()
                .withData(Map.of(KEY, pem))
                .build();
        if (existing == null) {
            if (!leadership.isLeader()) {
                return;
            }
            try {
                client.configMaps().inNamespace(namespace).resource(cm).create();
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
            }
        }
        if (!leadership.isLeader()) {
            return;
        }
        client.configMaps().inNamespace(namespace).withName(CONFIG_MAP)
                .edit(c -> new ConfigMapBuilder(c).withData(Map.of(KEY, pem)).build());
    }

    private void publishQuietly(String namespace) {
        try {
            publish(namespace);
        } catch (RuntimeException e) {
            log.warn("cannot publish {} in namespace {}: {}", CONFIG_MAP, namespace, e.getMessage());
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        leadership.unsubscribe(catchUp);
        if (informer != null) {
            informer.close();
            informer = null;
        }
    }

}
