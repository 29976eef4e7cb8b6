package dev.meshlite.e2e.apiserver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.Buffer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.Headers;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.util.Optional;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thin layer in front of fabric8's CRUD dispatcher that makes it answer like an API server to
 * kubectl and to informers: discovery documents, merge and strategic-merge patches (with
 * {@code null} removing a key rather than storing it), ClusterIP allocation on Service create, and
 * custom resources that appear when their CRD is created. Everything else goes to the CRUD store.
 */
final class ApiDispatcher extends Dispatcher {

    private static final Logger LOG = LoggerFactory.getLogger(ApiDispatcher.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern GROUP_VERSION = Pattern.compile("^/apis/([^/]+)/([^/]+)$");
    private static final Pattern GROUP = Pattern.compile("^/apis/([^/]+)$");
    private static final Pattern SERVICES = Pattern.compile("^/api/v1/namespaces/([^/]+)/services$");

    private final KubernetesCrudDispatcher crud;
    private final ApiResources resources;
    private final ServiceIpAllocator serviceIps;
    private final Runnable onMutation;
    private final Supplier<String> version;

    ApiDispatcher(KubernetesCrudDispatcher crud, ApiResources resources, ServiceIpAllocator serviceIps,
                  Runnable onMutation, Supplier<String> version) {
        this.crud = crud;
        this.resources = resources;
        this.serviceIps = serviceIps;
        this.onMutation = onMutation;
        this.version = version;
    }

    @Override
    public MockResponse dispatch(RecordedRequest request) {
        try {
            MockResponse response = route(request);
            if (!"GET".equals(request.getMethod()) && response.code() < 300) {
                onMutation.run();
            }
            return response;
        } catch (RuntimeException | IOException e) {
            LOG.warn("{} {} failed", request.getMethod(), request.getPath(), e);
            return status(500, "InternalError", String.valueOf(e.getMessage()));
        }
    }

    private MockResponse route(RecordedRequest request) throws IOException {
        String path = withoutQuery(request.getPath());
        String method = request.getMethod();
        if ("GET".equals(method)) {
            Optional<String> discovery = discovery(path);
            if (discovery.isPresent()) {
                return json(200, discovery.get());
            }
            if (path.equals("/openapi/v3")) {
                return json(200, resources.openApiIndex());
            }
            if (path.startsWith("/openapi/v3/")) {
                Optional<String> doc = resources.openApi(path.substring("/openapi/v3/".length()));
                if (doc.isPresent()) {
                    return json(200, doc.get());
                }
            }
            if (path.startsWith("/openapi/")) {
                return status(404, "NotFound", "the local API server publishes no OpenAPI schema");
            }
            if (path.equals("/healthz") || path.equals("/readyz") || path.equals("/livez")) {
                return new MockResponse().setResponseCode(200).setBody("ok");
            }
            if (TableView.wanted(request.getHeader("Accept")) && !request.getPath().contains("watch=")) {
                MockResponse plain = crud.dispatch(request);
                if (plain.code() != 200) {
                    return plain;
                }
                return json(200, TableView.of(JSON.readTree(plain.getBody().readUtf8()), kindOf(path),
                        java.time.Instant.now()));
            }
        }
        if ("PATCH".equals(method) && isMergePatch(request.getHeader("Content-Type"))) {
            return mergePatch(request, path);
        }
        if ("POST".equals(method)) {
            Matcher svc = SERVICES.matcher(path);
            if (svc.matches()) {
                return createService(request, path);
            }
            if (path.equals("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")) {
                MockResponse created = crud.dispatch(request);
                if (created.code() < 300) {
                    registerCustomResource(JSON.readTree(request.getUtf8Body()));
                }
                return created;
            }
        }
        return crud.dispatch(request);
    }

    private Optional<String> discovery(String path) {
        if (path.equals("/version")) {
            return Optional.of(version.get());
        }
        if (path.equals("/api")) {
            return Optional.of(resources.coreVersions());
        }
        if (path.equals("/apis")) {
            return Optional.of(resources.groupList());
        }
        if (path.equals("/api/v1")) {
            return resources.resourceList("", "v1");
        }
        Matcher gv = GROUP_VERSION.matcher(path);
        if (gv.matches()) {
            return resources.resourceList(gv.group(1), gv.group(2));
        }
        Matcher g = GROUP.matcher(path);
        if (g.matches()) {
            return resources.group(g.group(1));
        }
        return Optional.empty();
    }

    /** Applies a merge or strategic-merge patch as read-modify-write through the CRUD store. */
    private MockResponse mergePatch(RecordedRequest request, String path) throws IOException {
        String objectPath = path.endsWith("/status") ? path.substring(0, path.length() - "/status".length()) : path;
        MockResponse current = crud.handleGet(objectPath);
        if (current.code() != 200) {
            return current;
        }
        JsonNode patch;
        try {
            patch = JSON.readTree(request.getUtf8Body());
        } catch (IOException e) {
            return status(400, "BadRequest", "patch body is not JSON: " + e.getMessage());
        }
        if (patch == null || !patch.isObject()) {
            return status(400, "BadRequest", "patch body must be a JSON object");
        }
        JsonNode object = JSON.readTree(current.getBody().readUtf8());
        JsonNode patchedRv = patch.path("metadata").path("resourceVersion");
        if (!patchedRv.isMissingNode() && !patchedRv.asText().equals(object.path("metadata").path("resourceVersion").asText())) {
            return status(409, "Conflict", "the object has been modified; please apply your changes to the latest version");
        }
        JsonNode patched = MergePatch.apply(object, patch);
        return crud.dispatch(new RecordedRequest("HTTP/1.1", HttpMethod.PUT, objectPath,
                jsonHeaders(), new Buffer().writeUtf8(patched.toString())));
    }

    private MockResponse createService(RecordedRequest request, String path) throws IOException {
        JsonNode body;
        try {
            body = JSON.readTree(request.getUtf8Body());
        } catch (IOException e) {
            return status(400, "BadRequest", "Service is not JSON: " + e.getMessage());
        }
        ObjectNode spec = body.path("spec").isObject() ? (ObjectNode) body.get("spec") : ((ObjectNode) body).putObject("spec");
        String type = spec.path("type").asText("ClusterIP");
        String requested = spec.path("clusterIP").asText("");
        if (!type.equals("ExternalName") && !requested.equals("None")) {
            String ip;
            try {
                ip = requested.isEmpty() ? serviceIps.allocate() : serviceIps.reserve(requested);
            } catch (IllegalArgumentException | IllegalStateException e) {
                return status(422, "Invalid", "spec.clusterIP: " + e.getMessage());
            }
            spec.put("clusterIP", ip);
            spec.putArray("clusterIPs").add(ip);
            spec.put("type", type);
        }
        MockResponse created = crud.dispatch(new RecordedRequest("HTTP/1.1", HttpMethod.POST, path,
                jsonHeaders(), new Buffer().writeUtf8(body.toString())));
        if (created.code() >= 300 && requested.isEmpty() && spec.has("clusterIP")) {
            serviceIps.release(spec.get("clusterIP").asText());
        }
        return created;
    }

    void registerCustomResource(JsonNode crd) {
        JsonNode spec = crd.path("spec");
        String group = spec.path("group").asText();
        String kind = spec.path("names").path("kind").asText();
        String plural = spec.path("names").path("plural").asText();
        boolean namespaced = !"Cluster".equals(spec.path("scope").asText("Namespaced"));
        for (JsonNode v : spec.path("versions")) {
            String version = v.path("name").asText();
            java.util.List<String> shortNames = new java.util.ArrayList<>();
            spec.path("names").path("shortNames").forEach(s -> shortNames.add(s.asText()));
            crud.expectCustomResource(new CustomResourceDefinitionContext.Builder()
                    .withGroup(group).withVersion(version).withPlural(plural).withKind(kind)
                    .withScope(namespaced ? "Namespaced" : "Cluster").build());
            if (resources.add(new ApiResource(group, version, plural, kind.toLowerCase(), kind, namespaced,
                    shortNames))) {
                LOG.info("serving custom resource {}/{} {}", group, version, plural);
            }
        }
    }

    /** The kind a resource path names ({@code /api/v1/namespaces/x/pods[/name]} is Pod), or empty. */
    private String kindOf(String path) {
        String[] parts = path.split("/");
        boolean core = path.startsWith("/api/");
        int base = core ? 3 : 4; // past "", "api", "v1"  or  "", "apis", group, version
        if (parts.length <= base) {
            return "";
        }
        String group = core ? "" : parts[2];
        String version = core ? parts[2] : parts[3];
        int i = base;
        if (parts.length > i + 1 && parts[i].equals("namespaces") && parts.length > i + 2) {
            i += 2;
        }
        return resources.find(group, version, parts[i]).map(ApiResource::kind).orElse("");
    }

    private static boolean isMergePatch(String contentType) {
        return contentType != null && (contentType.startsWith("application/merge-patch+json")
                || contentType.startsWith("application/strategic-merge-patch+json"));
    }

    private static String withoutQuery(String path) {
        int q = path.indexOf('?');
        return q < 0 ? path : path.substring(0, q);
    }

    private static Headers jsonHeaders() {
        return Headers.builder().add("Content-Type", "application/json").build();
    }

    private static MockResponse json(int code, String body) {
        return new MockResponse().setResponseCode(code).setHeader("Content-Type", "application/json").setBody(body);
    }

    static MockResponse status(int code, String reason, String message) {
        ObjectNode s = JSON.createObjectNode().put("kind", "Status").put("apiVersion", "v1")
                .put("status", "Failure").put("message", message).put("reason", reason).put("code", code);
        s.putObject("metadata");
        return json(code, s.toString());
    }
}
