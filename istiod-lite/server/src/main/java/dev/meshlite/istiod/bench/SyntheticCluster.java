package dev.meshlite.istiod.bench;

import dev.meshlite.istiod.model.AmbientModel;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * fabric8's API server mock in CRUD mode on loopback, filled with a synthetic ambient cluster laid
 * out by {@link BenchConfig}: every pod Running, Ready, with an IP and a node; every service with
 * a ClusterIP, selecting its namespace's pods by {@code app} label. All namespaces start ambient.
 */
final class SyntheticCluster implements AutoCloseable {

    static final String ROOT_NAMESPACE = "istio-system";
    /** Concurrent creates: the mock answers on its own event loop, so a few requests in flight fill it. */
    private static final int WRITERS = 4;

    private final BenchConfig config;
    private final KubernetesMockServer server;
    private final KubernetesClient client;

    SyntheticCluster(BenchConfig config) {
        this.config = config;
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(new ArrayList<>()), false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        client = server.createClient();
    }

    /** The driver's client (namespace flips, pod changes, node credentials). */
    KubernetesClient client() {
        return client;
    }

    /** Another client of the same API server: the control plane's, as a separate process would have. */
    KubernetesClient newClient() {
        return server.createClient();
    }

    /** Creates the root namespace, the namespaces (ambient), services and pods. */
    void populate() throws Exception {
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ROOT_NAMESPACE).endMetadata()
                .build()).create();
        for (int n = 0; n < config.namespaces(); n++) {
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(config.namespace(n))
                    .addToLabels(AmbientModel.DATAPLANE_MODE, "ambient").endMetadata().build()).create();
        }
        ExecutorService writers = Executors.newFixedThreadPool(WRITERS);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int j = 0; j < config.services(); j++) {
                int service = j;
                done.add(writers.submit(() -> createService(service)));
            }
            for (int i = 0; i < config.pods(); i++) {
                int pod = i;
                done.add(writers.submit(() -> createPod(pod)));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            writers.shutdownNow();
        }
    }

    private void createService(int j) {
        String ns = config.namespace(j % config.namespaces());
        String name = "svc-" + (j / config.namespaces());
        client.services().inNamespace(ns).resource(new ServiceBuilder()
                .withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                .withNewSpec().withClusterIP(ipv4(10, 96, j + 1)).addToSelector("app", name)
                .addNewPort().withName("http").withPort(80).withTargetPort(new IntOrString(8080)).endPort()
                .endSpec().build()).create();
    }

    private void createPod(int i) {
        int n = i % config.namespaces();
        int local = i / config.namespaces();
        int servicesHere = config.servicesIn(n);
        String ns = config.namespace(n);
        client.pods().inNamespace(ns).resource(new PodBuilder()
                .withNewMetadata().withNamespace(ns).withName(podName(i))
                .addToLabels("app", servicesHere == 0 ? "none" : "svc-" + (local % servicesHere)).endMetadata()
                .withNewSpec().withServiceAccountName("app").withNodeName(config.nodeOf(i))
                .addNewContainer().withName("app").withImage("app").addNewPort().withContainerPort(8080).endPort()
                .endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP(podIp(i)).addNewCondition().withType("Ready")
                .withStatus("True").endCondition().endStatus()
                .build()).create();
    }

    static String podName(int i) {
        return "pod-" + i;
    }

    /** Pod {@code i}'s namespace. */
    String namespaceOf(int pod) {
        return config.namespace(pod % config.namespaces());
    }

    static String podIp(int i) {
        return ipv4(10, 128, i + 1);
    }

    /** {@code a.b.0.0} plus {@code offset}. */
    private static String ipv4(int a, int b, int offset) {
        int v = (a << 24) + (b << 16) + offset;
        return ((v >>> 24) & 255) + "." + ((v >>> 16) & 255) + "." + ((v >>> 8) & 255) + "." + (v & 255);
    }

    /** Sets or removes {@code istio.io/dataplane-mode=ambient} on namespace {@code ns}. */
    void ambient(String ns, boolean on) {
        client.namespaces().withName(ns).edit(n -> {
            if (on) {
                n.getMetadata().getLabels().put(AmbientModel.DATAPLANE_MODE, "ambient");
            } else {
                n.getMetadata().getLabels().remove(AmbientModel.DATAPLANE_MODE);
            }
            return n;
        });
    }

    /** Sets pod {@code i}'s Ready condition. */
    void ready(int i, boolean ready) {
        client.pods().inNamespace(namespaceOf(i)).withName(podName(i)).edit(p -> new PodBuilder(p).editStatus()
                .editFirstCondition().withStatus(ready ? "True" : "False").endCondition().endStatus().build());
    }

    /** Pod {@code i}'s uid (assigned by the API server): its workload's resource name. */
    String uid(int i) {
        return client.pods().inNamespace(namespaceOf(i)).withName(podName(i)).get().getMetadata().getUid();
    }

    @Override
    public void close() {
        client.close();
        server.destroy();
    }
}
