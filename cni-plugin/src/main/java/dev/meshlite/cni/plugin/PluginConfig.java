package dev.meshlite.cni.plugin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.List;

/**
 * The plugin's network configuration, as the runtime passes it on stdin: the usual CNI keys plus
 * ours ({@code agent_socket}, {@code log_file}, {@code exclude_namespaces}). Parsed whole or
 * rejected with the field that is wrong.
 */
record PluginConfig(String cniVersion, String name, JsonNode prevResult, Path agentSocket, Path logFile,
                    List<String> excludeNamespaces) {

    static final List<String> SUPPORTED_VERSIONS = List.of("0.3.0", "0.3.1", "0.4.0", "1.0.0");
    private static final ObjectMapper JSON = new ObjectMapper();

    static PluginConfig parse(String stdin) throws CniError {
        JsonNode n;
        try {
            n = JSON.readTree(stdin);
        } catch (Exception e) {
            throw new CniError(CniError.DECODING_FAILURE, "network configuration is not JSON", e.getMessage());
        }
        if (n == null || !n.isObject()) {
            throw new CniError(CniError.DECODING_FAILURE, "network configuration is not a JSON object");
        }
        String version = n.path("cniVersion").asText("");
        if (!SUPPORTED_VERSIONS.contains(version)) {
            throw new CniError(CniError.INCOMPATIBLE_VERSION, "cniVersion \"" + version + "\" is not supported",
                    "expected one of " + SUPPORTED_VERSIONS);
        }
        String name = n.path("name").asText("");
        if (name.isEmpty()) {
            throw new CniError(CniError.INVALID_CONFIG, "\"name\" is missing");
        }
        String socket = n.path("agent_socket").asText("");
        if (socket.isEmpty() || !socket.startsWith("/")) {
            throw new CniError(CniError.INVALID_CONFIG, "\"agent_socket\" must be an absolute path", "got \"" + socket + "\"");
        }
        String log = n.path("log_file").asText("/var/run/mesh/cni-plugin.log");
        List<String> exclude = new java.util.ArrayList<>(List.of("kube-system"));
        if (n.has("exclude_namespaces")) {
            if (!n.get("exclude_namespaces").isArray()) {
                throw new CniError(CniError.INVALID_CONFIG, "\"exclude_namespaces\" must be a list of namespace names");
            }
            exclude.clear();
            n.get("exclude_namespaces").forEach(e -> exclude.add(e.asText()));
        }
        JsonNode prev = n.get("prevResult");
        return new PluginConfig(version, name, prev == null || prev.isNull() ? null : prev, Path.of(socket),
                Path.of(log), List.copyOf(exclude));
    }
}
