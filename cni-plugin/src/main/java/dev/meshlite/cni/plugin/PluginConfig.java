package dev.meshlite.cni.plugin;

import dev.meshlite.cni.json.Json;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The plugin's network configuration, as the runtime passes it on stdin: the usual CNI keys plus
 * ours ({@code agent_socket}, {@code log_file}, {@code exclude_namespaces}). Parsed whole or
 * rejected with the field that is wrong. {@code prevResult} is kept as read (see {@link Json}),
 * to be passed through unchanged.
 */
record PluginConfig(String cniVersion, String name, Map<String, Object> prevResult, Path agentSocket, Path logFile,
                    List<String> excludeNamespaces) {

    static final List<String> SUPPORTED_VERSIONS = List.of("0.3.0", "0.3.1", "0.4.0", "1.0.0");

    static PluginConfig parse(String stdin) throws CniError {
        Map<String, Object> n;
        try {
            n = Json.parseObject(stdin);
        } catch (Json.MalformedJsonException e) {
            throw new CniError(CniError.DECODING_FAILURE, "network configuration is not a JSON object", e.getMessage());
        }
        String version = Json.text(n, "cniVersion", "");
        if (!SUPPORTED_VERSIONS.contains(version)) {
            throw new CniError(CniError.INCOMPATIBLE_VERSION, "cniVersion \"" + version + "\" is not supported",
                    "expected one of " + SUPPORTED_VERSIONS);
        }
        String name = Json.text(n, "name", "");
        if (name.isEmpty()) {
            throw new CniError(CniError.INVALID_CONFIG, "\"name\" is missing");
        }
        String socket = Json.text(n, "agent_socket", "");
        if (socket.isEmpty() || !socket.startsWith("/")) {
            throw new CniError(CniError.INVALID_CONFIG, "\"agent_socket\" must be an absolute path", "got \"" + socket + "\"");
        }
        String log = Json.text(n, "log_file", "/var/run/mesh/cni-plugin.log");
        List<String> exclude = new ArrayList<>(List.of("kube-system"));
        if (n.containsKey("exclude_namespaces")) {
            if (!(n.get("exclude_namespaces") instanceof List<?> names)) {
                throw new CniError(CniError.INVALID_CONFIG, "\"exclude_namespaces\" must be a list of namespace names");
            }
            exclude.clear();
            names.forEach(e -> exclude.add(Json.text(e, "")));
        }
        Object prev = n.get("prevResult");
        if (prev != null && !(prev instanceof Map)) {
            throw new CniError(CniError.INVALID_CONFIG, "\"prevResult\" must be a JSON object", "got a JSON " + Json.kind(prev));
        }
        return new PluginConfig(version, name, Json.object(n, "prevResult"), Path.of(socket), Path.of(log),
                List.copyOf(exclude));
    }
}
