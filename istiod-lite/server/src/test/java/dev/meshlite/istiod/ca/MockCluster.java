package dev.meshlite.istiod.ca;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;

/** fabric8's API server mock in CRUD mode on 127.0.0.1, with helpers for the objects the CA reads. */
public final class MockCluster implements AutoCloseable {

    private final KubernetesMockServer server;
    private final KubernetesClient client;

    public MockCluster() {
        this(new KubernetesCrudDispatcher(new ArrayList<>()));
    }

    /** With {@code dispatcher} answering, e.g. {@link ApiWrites} to see who wrote what. */
    public MockCluster(KubernetesCrudDispatcher dispatcher) {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        client = server.createClient();
    }

    public KubernetesClient client() {
        return client;
    }

    /**
     * A kubeconfig for this server whose requests carry {@code Bearer <token>}: the mock ignores
     * the token, {@link ApiWrites} uses it to tell replicas apart.
     */
    public Path kubeconfig(Path file, String token) throws IOException {
        Files.writeString(file, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster: {server: "%s"}
                users:
                - name: %s
                  user: {token: %s}
                contexts:
                - name: mock
                  context: {cluster: mock, user: %s}
                current-context: mock
                """.formatted(client.getMasterUrl(), token, token, token));
        return file;
    }

    /** Another client of the same API server (a second replica). */
    public KubernetesClient newClient() {
        return server.createClient();
    }

    public MockCluster namespace(String name) {
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build())
                .create();
        return this;
    }

    public MockCluster pod(String namespace, String name, String serviceAccount, String node) {
        client.pods().inNamespace(namespace).resource(new PodBuilder()
                .withNewMetadata().withName(name).withNamespace(namespace).withUid(name + "-uid").endMetadata()
                .withNewSpec().withServiceAccountName(serviceAccount).withNodeName(node)
                .addNewContainer().withName("app").withImage("app").endContainer().endSpec()
                .withNewStatus().withPhase("Running").endStatus()
                .build()).create();
        return this;
    }

    @Override
    public void close() {
        client.close();
        server.destroy();
    }
}
