package dev.meshlite.istiod.ca;

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
 */
public final class RootPublisher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RootPublisher.class);

    public static final String CONFIG_MAP = "istio-ca-root-cert";
    public static final String KEY = "root-cert.pem";

    private final KubernetesClient client;
    private final Supplier<List<X509Certificate>> roots;
    private SharedIndexInformer<Namespace> informer;

    public RootPublisher(KubernetesClient client, Supplier<List<X509Certificate>> roots) {
        this.client = client;
        this.roots = roots;
    }

    /** Publishes into every existing namespace now, and into each new one as it appears. */
    public synchronized void start() {
        if (informer != null) {
            return;
        }
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
    }

    /** Writes the current roots into every namespace (after a rotation or a reload). */
    public void publishAll() {
        for (Namespace ns : client.namespaces().list().getItems()) {
            publishQuietly(ns.getMetadata().getName());
        }
    }

    public void publish(String namespace) {
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
            try {
                client.configMaps().inNamespace(namespace).resource(cm).create();
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
            }
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
        if (informer != null) {
            informer.close();
            informer = null;
        }
    }

}
