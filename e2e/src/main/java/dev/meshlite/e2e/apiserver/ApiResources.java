package dev.meshlite.e2e.apiserver;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The resources the local API server knows, and the discovery documents built from them
 * ({@code /api}, {@code /apis}, {@code /api/v1}, {@code /apis/GROUP/VERSION}). Custom resources
 * join the table when their CustomResourceDefinition is created.
 */
public final class ApiResources {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> VERBS =
            List.of("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch");

    private final List<ApiResource> resources = new CopyOnWriteArrayList<>();

    public static ApiResources builtIn() {
        ApiResources r = new ApiResources();
        r.add("", "v1", "namespaces", "Namespace", false, "ns");
        r.add("", "v1", "pods", "Pod", true, "po");
        r.add("", "v1", "services", "Service", true, "svc");
        r.add("", "v1", "endpoints", "Endpoints", true, "ep");
        r.add("", "v1", "serviceaccounts", "ServiceAccount", true, "sa");
        r.add("", "v1", "configmaps", "ConfigMap", true, "cm");
        r.add("", "v1", "secrets", "Secret", true);
        r.add("", "v1", "nodes", "Node", false, "no");
        r.add("", "v1", "events", "Event", true, "ev");
        r.add("apps", "v1", "deployments", "Deployment", true, "deploy");
        r.add("apps", "v1", "replicasets", "ReplicaSet", true, "rs");
        r.add("apps", "v1", "daemonsets", "DaemonSet", true, "ds");
        r.add("apps", "v1", "statefulsets", "StatefulSet", true, "sts");
        r.add("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true);
        r.add("coordination.k8s.io", "v1", "leases", "Lease", true);
        r.add("events.k8s.io", "v1", "events", "Event", true, "ev");
        r.add("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, "pdb");
        r.add("rbac.authorization.k8s.io", "v1", "roles", "Role", true);
        r.add("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true);
        r.add("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false);
        r.add("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false);
        r.add("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false,
                "crd", "crds");
        r.add("security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy", true, "ap");
        r.add("security.istio.io", "v1", "peerauthentications", "PeerAuthentication", true, "pa");
        r.add("security.istio.io", "v1", "requestauthentications", "RequestAuthentication", true, "ra");
        r.add("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", false, "gc");
        r.add("gateway.networking.k8s.io", "v1", "gateways", "Gateway", true, "gtw");
        r.add("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", true);
        return r;
    }

    private void add(String group, String version, String plural, String kind, boolean namespaced,
                     String... shortNames) {
        add(new ApiResource(group, version, plural, kind.toLowerCase(), kind, namespaced, List.of(shortNames)));
    }

    /** Adds a resource unless one with the same group, version and plural is known already. */
    public boolean add(ApiResource resource) {
        if (find(resource.group(), resource.version(), resource.plural()).isPresent()) {
            return false;
        }
        resources.add(resource);
        return true;
    }

    public List<ApiResource> all() {
        return List.copyOf(resources);
    }

    public Optional<ApiResource> find(String group, String version, String plural) {
        return resources.stream()
                .filter(r -> r.group().equals(group) && r.version().equals(version) && r.plural().equals(plural))
                .findFirst();
    }

    public Optional<ApiResource> byKind(String apiVersion, String kind) {
        return resources.stream()
                .filter(r -> r.groupVersion().equals(apiVersion) && r.kind().equals(kind))
                .findFirst();
    }

    /** {@code GET /api}. */
    public String coreVersions() {
        ObjectNode root = JSON.createObjectNode().put("kind", "APIVersions");
        root.putArray("versions").add("v1");
        root.putArray("serverAddressByClientCIDRs");
        return root.toString();
    }

    /** {@code GET /apis}. */
    public String groupList() {
        Map<String, Set<String>> groups = new LinkedHashMap<>();
        for (ApiResource r : resources) {
            if (!r.group().isEmpty()) {
                groups.computeIfAbsent(r.group(), g -> new LinkedHashSet<>()).add(r.version());
            }
        }
        ObjectNode root = JSON.createObjectNode().put("kind", "APIGroupList").put("apiVersion", "v1");
        ArrayNode list = root.putArray("groups");
        groups.forEach((group, versions) -> {
            ObjectNode g = list.addObject().put("name", group);
            ArrayNode vs = g.putArray("versions");
            for (String v : versions) {
                vs.addObject().put("groupVersion", group + "/" + v).put("version", v);
            }
            String preferred = versions.iterator().next();
            g.putObject("preferredVersion").put("groupVersion", group + "/" + preferred).put("version", preferred);
        });
        return root.toString();
    }

    /** {@code GET /apis/GROUP} (the group's versions), empty when the group is unknown. */
    public Optional<String> group(String group) {
        List<String> versions = new ArrayList<>();
        for (ApiResource r : resources) {
            if (r.group().equals(group) && !versions.contains(r.version())) {
                versions.add(r.version());
            }
        }
        if (versions.isEmpty()) {
            return Optional.empty();
        }
        ObjectNode g = JSON.createObjectNode().put("kind", "APIGroup").put("apiVersion", "v1").put("name", group);
        ArrayNode vs = g.putArray("versions");
        versions.forEach(v -> vs.addObject().put("groupVersion", group + "/" + v).put("version", v));
        g.putObject("preferredVersion").put("groupVersion", group + "/" + versions.get(0)).put("version", versions.get(0));
        return Optional.of(g.toString());
    }

    /** {@code GET /api/v1} or {@code GET /apis/GROUP/VERSION}, empty when unknown. */
    public Optional<String> resourceList(String group, String version) {
        List<ApiResource> matching = resources.stream()
                .filter(r -> r.group().equals(group) && r.version().equals(version)).toList();
        if (matching.isEmpty()) {
            return Optional.empty();
        }
        ObjectNode root = JSON.createObjectNode().put("kind", "APIResourceList").put("apiVersion", "v1")
                .put("groupVersion", group.isEmpty() ? version : group + "/" + version);
        ArrayNode list = root.putArray("resources");
        for (ApiResource r : matching) {
            ObjectNode n = list.addObject().put("name", r.plural()).put("singularName", r.singular())
                    .put("namespaced", r.namespaced()).put("kind", r.kind());
            ArrayNode verbs = n.putArray("verbs");
            VERBS.forEach(verbs::add);
            if (!r.shortNames().isEmpty()) {
                ArrayNode sn = n.putArray("shortNames");
                r.shortNames().forEach(sn::add);
            }
            if (r.kind().equals("Pod") || r.kind().equals("Deployment") || r.kind().equals("ReplicaSet")
                    || r.kind().equals("Namespace") || r.kind().equals("Node") || r.kind().equals("Service")) {
                list.addObject().put("name", r.plural() + "/status").put("singularName", "")
                        .put("namespaced", r.namespaced()).put("kind", r.kind())
                        .putArray("verbs").add("get").add("patch").add("update");
            }
        }
        return Optional.of(root.toString());
    }

    /** {@code GET /openapi/v3}: one entry per group-version. */
    public String openApiIndex() {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode paths = root.putObject("paths");
        for (ApiResource r : resources) {
            String key = r.group().isEmpty() ? "api/" + r.version() : "apis/" + r.group() + "/" + r.version();
            paths.putObject(key).put("serverRelativeURL", "/openapi/v3/" + key);
        }
        return root.toString();
    }

    /**
     * {@code GET /openapi/v3/api/v1} and the like. No schemas are published; each resource's patch
     * operation declares the {@code fieldValidation} parameter, which tells kubectl to leave
     * validation to the server instead of failing for want of a schema.
     */
    public Optional<String> openApi(String groupVersionPath) {
        List<ApiResource> matching = resources.stream().filter(r -> (r.group().isEmpty()
                ? "api/" + r.version() : "apis/" + r.group() + "/" + r.version()).equals(groupVersionPath)).toList();
        if (matching.isEmpty()) {
            return Optional.empty();
        }
        ObjectNode root = JSON.createObjectNode().put("openapi", "3.0.0");
        root.putObject("info").put("title", "Kubernetes").put("version", "v1.32.0");
        ObjectNode paths = root.putObject("paths");
        for (ApiResource r : matching) {
            String path = r.collectionPath(r.namespaced() ? "{namespace}" : null) + "/{name}";
            ObjectNode patch = paths.putObject(path).putObject("patch");
            patch.put("x-kubernetes-action", "patch");
            patch.putObject("x-kubernetes-group-version-kind").put("group", r.group())
                    .put("version", r.version()).put("kind", r.kind());
            patch.putArray("parameters").addObject().put("name", "fieldValidation").put("in", "query")
                    .putObject("schema").put("type", "string");
        }
        root.putObject("components").putObject("schemas");
        return Optional.of(root.toString());
    }
}
