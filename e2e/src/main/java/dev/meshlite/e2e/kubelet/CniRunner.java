package dev.meshlite.e2e.kubelet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.meshlite.e2e.cluster.Sh;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Runs the node's CNI chain as a container runtime does (CNI spec 1.0): the {@code loopback}
 * plugin, then each plugin of the node's conflist in order with the previous result as
 * {@code prevResult}; DEL runs the chain in reverse with the cached result. Plugins are found on
 * {@code CNI_PATH}; configuration goes on stdin and the CNI_* variables in the environment.
 */
final class CniRunner {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Identifies one pod sandbox to the plugins. */
    record Sandbox(String containerId, String netnsPath, String namespace, String name, String uid) {
        String cniArgs() {
            return "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + namespace + ";K8S_POD_NAME=" + name
                    + ";K8S_POD_INFRA_CONTAINER_ID=" + containerId + ";K8S_POD_UID=" + uid;
        }
    }

    private final Path confDir;
    private final List<Path> binDirs;

    CniRunner(Path confDir, List<Path> binDirs) {
        this.confDir = confDir;
        this.binDirs = binDirs;
    }

    /** Runs ADD through the chain and returns the final result (JSON); undoes what it did on failure. */
    String add(Sandbox sandbox) throws IOException {
        JsonNode conflist = conflist();
        run("ADD", loopbackConfig(conflist), sandbox, "lo");
        List<JsonNode> plugins = new ArrayList<>();
        conflist.path("plugins").forEach(plugins::add);
        JsonNode prev = null;
        for (int i = 0; i < plugins.size(); i++) {
            ObjectNode conf = pluginConfig(conflist, plugins.get(i), prev);
            try {
                prev = JSON.readTree(run("ADD", conf, sandbox, "eth0"));
            } catch (CniException e) {
                del(sandbox, prev == null ? null : prev.toString());
                throw e;
            }
        }
        if (prev == null) {
            throw new CniException("CNI config " + confDir + " has no plugins");
        }
        return prev.toString();
    }

    /** Runs DEL through the chain in reverse; collects errors rather than stopping at the first. */
    void del(Sandbox sandbox, String cachedResult) throws IOException {
        JsonNode conflist = conflist();
        List<JsonNode> plugins = new ArrayList<>();
        conflist.path("plugins").forEach(plugins::add);
        JsonNode prev = cachedResult == null ? null : JSON.readTree(cachedResult);
        List<String> errors = new ArrayList<>();
        for (int i = plugins.size() - 1; i >= 0; i--) {
            try {
                run("DEL", pluginConfig(conflist, plugins.get(i), prev), sandbox, "eth0");
            } catch (CniException e) {
                errors.add(e.getMessage());
            }
        }
        if (!errors.isEmpty()) {
            throw new CniException(String.join("; ", errors));
        }
    }

    /** The pod's IPv4 address (without prefix) from a CNI result. */
    static Optional<String> podIp(String result) throws IOException {
        for (JsonNode ip : JSON.readTree(result).path("ips")) {
            String address = ip.path("address").asText();
            if (address.contains(".")) {
                return Optional.of(address.substring(0, address.indexOf('/')));
            }
        }
        return Optional.empty();
    }

    private JsonNode conflist() throws IOException {
        try (Stream<Path> files = Files.list(confDir)) {
            Path file = files.filter(p -> p.toString().endsWith(".conflist")).sorted().findFirst()
                    .orElseThrow(() -> new CniException("no .conflist in " + confDir));
            JsonNode conf = JSON.readTree(file.toFile());
            if (!conf.path("plugins").isArray() || conf.path("plugins").isEmpty()) {
                throw new CniException(file + ": \"plugins\" (expected: a non-empty list)");
            }
            return conf;
        }
    }

    private static ObjectNode loopbackConfig(JsonNode conflist) {
        return JSON.createObjectNode().put("cniVersion", conflist.path("cniVersion").asText("1.0.0"))
                .put("name", "cni-loopback").put("type", "loopback");
    }

    private static ObjectNode pluginConfig(JsonNode conflist, JsonNode plugin, JsonNode prev) {
        ObjectNode conf = plugin.deepCopy();
        conf.put("cniVersion", conflist.path("cniVersion").asText("1.0.0"));
        conf.put("name", conflist.path("name").asText());
        if (prev != null) {
            conf.set("prevResult", prev);
        }
        return conf;
    }

    private String run(String command, ObjectNode conf, Sandbox sandbox, String ifName) {
        String type = conf.path("type").asText();
        Path binary = binDirs.stream().map(d -> d.resolve(type)).filter(Files::isExecutable).findFirst()
                .orElseThrow(() -> new CniException("CNI plugin " + type + " not found in " + binDirs));
        Map<String, String> env = new HashMap<>();
        env.put("CNI_COMMAND", command);
        env.put("CNI_CONTAINERID", sandbox.containerId());
        env.put("CNI_NETNS", sandbox.netnsPath());
        env.put("CNI_IFNAME", ifName);
        env.put("CNI_ARGS", sandbox.cniArgs());
        env.put("CNI_PATH", String.join(":", binDirs.stream().map(Path::toString).toList()));
        Sh.Result r = Sh.exec(List.of(binary.toString()), conf.toString(), env);
        if (!r.ok()) {
            String msg = r.stdout().strip();
            try {
                JsonNode err = JSON.readTree(msg);
                msg = err.path("msg").asText(msg) + (err.has("details") ? ": " + err.path("details").asText() : "")
                        + " (code " + err.path("code").asInt() + ")";
            } catch (IOException | RuntimeException notJson) {
                msg = msg.isEmpty() ? r.stderr().strip() : msg;
            }
            throw new CniException(type + " " + command + " failed: " + msg);
        }
        return r.stdout().isBlank() ? "{}" : r.stdout();
    }

    /** A plugin failed; the message carries the plugin's own error. */
    static final class CniException extends RuntimeException {
        CniException(String message) {
            super(message);
        }
    }
}
