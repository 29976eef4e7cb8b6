package dev.meshlite.e2e.apiserver;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.Buffer;
import io.fabric8.mockwebserver.http.Headers;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local cluster's Kubernetes API: fabric8's mock server in CRUD mode behind
 * {@link ApiDispatcher}, served over TLS by {@link TlsFront} on each listen address, with its
 * objects kept by {@link ApiStore}. Writes {@code kubeconfig} (for the operator, loopback) and
 * {@code kubeconfig-nodes} (for processes inside the node namespaces, the bridge address).
 */
public final class ApiServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ApiServer.class);
    /** The mock server logs every request through java.util.logging; kept referenced so the level sticks. */
    private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

    static {
        MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    public record Config(Path stateDir, List<String> listen, int port, String serviceCidr) {
        public Config {
            if (listen.isEmpty()) {
                throw new IllegalArgumentException("listen: " + listen + " (expected: at least one address)");
            }
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port: " + port + " (expected: 0-65535)");
            }
        }
    }

    private final KubernetesMockServer mock;
    private final ApiStore store;
    private final List<TlsFront> fronts = new ArrayList<>();

    private ApiServer(KubernetesMockServer mock, ApiStore store) {
        this.mock = mock;
        this.store = store;
    }

    public static ApiServer start(Config config) throws IOException, GeneralSecurityException {
        Files.createDirectories(config.stateDir());
        KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher(new ArrayList<>());
        ApiResources resources = ApiResources.builtIn();
        ServiceIpAllocator ips = new ServiceIpAllocator(config.serviceCidr());
        ApiStore store = new ApiStore(config.stateDir().resolve("store.json"), crud);
        String version = new ObjectMapper().createObjectNode().put("major", "1").put("minor", "32")
                .put("gitVersion", "v1.32.0-mesh-local").put("platform", "linux/amd64").toString();
        ApiDispatcher dispatcher = new ApiDispatcher(crud, resources, ips, store::markDirty, () -> version);
        for (var r : resources.all()) {
            if (r.group().endsWith("istio.io") || r.group().startsWith("gateway.networking")) {
                dispatcher.registerCustomResource(crdFor(r));
            }
        }
        KubernetesMockServer mock = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                dispatcher, false);
        mock.init(InetAddress.getLoopbackAddress(), 0);
        ApiServer server = new ApiServer(mock, store);
        int restored = store.restore(dispatcher, resources);
        if (restored == 0) {
            for (String ns : List.of("default", "kube-system", "istio-system", "kube-public")) {
                dispatcher.dispatch(new RecordedRequest("HTTP/1.1", HttpMethod.POST, "/api/v1/namespaces",
                        Headers.builder().add("Content-Type", "application/json").build(), new Buffer().writeUtf8(
                                "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" + ns + "\"}}")));
            }
        }
        store.start();
        ClusterCa ca = ClusterCa.create(config.listen());
        var tls = ca.serverContext();
        InetSocketAddress backend = new InetSocketAddress(InetAddress.getLoopbackAddress(), mock.getPort());
        int port = config.port();
        for (String address : config.listen()) {
            TlsFront front = new TlsFront(tls, InetAddress.ofLiteral(address), port, backend);
            port = front.port();
            server.fronts.add(front);
        }
        Files.writeString(config.stateDir().resolve("ca.crt"), ca.caPem());
        ca.writeKubeconfig(config.stateDir().resolve("kubeconfig"),
                "https://" + config.listen().get(0) + ":" + port);
        String nodeAddress = config.listen().get(config.listen().size() - 1);
        ca.writeKubeconfig(config.stateDir().resolve("kubeconfig-nodes"), "https://" + nodeAddress + ":" + port);
        LOG.info("API server on {} port {} ({} objects restored)", config.listen(), port, restored);
        return server;
    }

    public int port() {
        return fronts.get(0).port();
    }

    private static com.fasterxml.jackson.databind.JsonNode crdFor(ApiResource r) {
        var json = new ObjectMapper().createObjectNode();
        var spec = json.putObject("spec");
        spec.put("group", r.group()).put("scope", r.namespaced() ? "Namespaced" : "Cluster");
        spec.putObject("names").put("kind", r.kind()).put("plural", r.plural());
        spec.putArray("versions").addObject().put("name", r.version());
        return json;
    }

    @Override
    public void close() {
        for (TlsFront f : fronts) {
            try {
                f.close();
            } catch (IOException e) {
                LOG.debug("closing a listener: {}", e.toString());
            }
        }
        store.close();
        try {
            mock.destroy();
        } catch (IllegalStateException e) {
            // The mock's watch listeners can hold its event loop while their sockets close, and its
            // shutdown then times out; the objects are saved already and the process is leaving.
            LOG.debug("mock server shutdown: {}", e.toString());
        }
    }
}
