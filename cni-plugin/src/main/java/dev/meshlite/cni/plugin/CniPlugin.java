package dev.meshlite.cni.plugin;

import dev.meshlite.cni.json.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The chained CNI plugin (spec 1.0: ADD, DEL, CHECK, VERSION), run by the container runtime with
 * the CNI_* environment and the network configuration on stdin. It passes the previous plugin's
 * result through unchanged and asks the node agent to capture the pod; if the agent cannot
 * answer, ADD fails with "try again later" (code 11) rather than let a pod start uncaptured.
 * Only the result or the error JSON goes to stdout; everything else goes to the log file.
 *
 * <p>One process per command, so start-up is most of its latency: JSON goes through the small
 * {@link Json} instead of a general-purpose mapper, and the process ends with
 * {@link Runtime#halt} (see {@link #main}).
 */
public final class CniPlugin {

    private final Map<String, String> env;
    private final PrintStream out;
    private PluginConfig config;

    CniPlugin(Map<String, String> env, PrintStream out) {
        this.env = env;
        this.out = out;
    }

    public static void main(String[] args) throws IOException {
        int exit = new CniPlugin(System.getenv(), System.out).run(System.in);
        System.out.flush();
        // Not System.exit: since JDK 21 it asks System.Logger whether to log the exit, and the
        // first System.Logger brings up java.util.logging, which searches the whole classpath for
        // providers (~30 ms of a ~100 ms process). There are no shutdown hooks to run: stdout is
        // flushed above and the log file is closed after every line.
        Runtime.getRuntime().halt(exit);
    }

    int run(InputStream stdin) throws IOException {
        String input = new String(stdin.readAllBytes(), StandardCharsets.UTF_8);
        String command = env.getOrDefault("CNI_COMMAND", "");
        try {
            if (command.equals("VERSION")) {
                Map<String, Object> v = new LinkedHashMap<>();
                v.put("cniVersion", "1.0.0");
                v.put("supportedVersions", PluginConfig.SUPPORTED_VERSIONS);
                out.println(Json.write(v));
                return 0;
            }
            config = PluginConfig.parse(input);
            return switch (command) {
                case "ADD" -> add();
                case "DEL" -> del();
                case "CHECK" -> check();
                case "" -> throw new CniError(CniError.INVALID_ENV, "CNI_COMMAND is not set");
                default -> throw new CniError(CniError.INVALID_ENV, "CNI_COMMAND \"" + command + "\" is not supported",
                        "expected ADD, DEL, CHECK or VERSION");
            };
        } catch (CniError e) {
            log("%s %s failed: %s (code %d) %s", command, pod(), e.getMessage(), e.code(), env.getOrDefault("CNI_CONTAINERID", ""));
            out.println(e.toJson(config == null ? "1.0.0" : config.cniVersion()));
            return 1;
        } catch (RuntimeException e) {
            log("%s %s failed: %s", command, pod(), e);
            out.println(new CniError(CniError.INTERNAL, "internal error: " + e).toJson("1.0.0"));
            return 1;
        }
    }

    private int add() throws CniError {
        String netns = required("CNI_NETNS");
        required("CNI_CONTAINERID");
        required("CNI_IFNAME");
        if (config.prevResult() == null) {
            throw new CniError(CniError.INVALID_CONFIG, "mesh-cni must be chained after an interface plugin: no prevResult");
        }
        Map<String, String> args = cniArgs();
        String ns = args.getOrDefault("K8S_POD_NAMESPACE", "");
        if (ns.isEmpty() || config.excludeNamespaces().contains(ns)) {
            log("ADD %s: not a mesh candidate (namespace %s); passed through", pod(), ns.isEmpty() ? "<none>" : ns);
            return passThrough();
        }
        Map<String, Object> request = request("ADD", netns, args);
        List<Object> ips = new ArrayList<>();
        for (Object ip : Json.array(config.prevResult(), "ips")) {
            String address = ip instanceof Map<?, ?> m ? Json.text(m.get("address"), "") : "";
            ips.add(address.contains("/") ? address.substring(0, address.indexOf('/')) : address);
        }
        request.put("ips", ips);
        Map<String, Object> reply = ask(request);
        log("ADD %s: %s (%s)", pod(), Json.text(reply, "result", ""), Json.text(reply, "reason", ""));
        return passThrough();
    }

    private int del() throws CniError {
        Map<String, String> args = cniArgs();
        String ns = args.getOrDefault("K8S_POD_NAMESPACE", "");
        if (ns.isEmpty() || config.excludeNamespaces().contains(ns)) {
            return 0;
        }
        try {
            Map<String, Object> reply = new AgentClient(config.agentSocket()).call(request("DEL", env.getOrDefault("CNI_NETNS", ""), args));
            log("DEL %s: %s", pod(), Json.write(reply));
        } catch (IOException e) {
            // DEL must succeed when there is nothing left to undo; the agent reconciles on its return.
            log("DEL %s: agent not reachable (%s); it reconciles when it is back", pod(), e.getMessage());
        }
        return 0;
    }

    private int check() throws CniError {
        required("CNI_NETNS");
        if (config.prevResult() == null) {
            throw new CniError(CniError.INVALID_CONFIG, "CHECK needs prevResult");
        }
        Map<String, String> args = cniArgs();
        String ns = args.getOrDefault("K8S_POD_NAMESPACE", "");
        if (ns.isEmpty() || config.excludeNamespaces().contains(ns)) {
            return 0;
        }
        Map<String, Object> reply = ask(request("CHECK", env.get("CNI_NETNS"), args));
        log("CHECK %s: %s", pod(), Json.write(reply));
        return 0;
    }

    /** Asks the agent; an unreachable agent or a retryable refusal is "try again later". */
    private Map<String, Object> ask(Map<String, Object> request) throws CniError {
        Map<String, Object> reply;
        try {
            reply = new AgentClient(config.agentSocket()).call(request);
        } catch (IOException e) {
            throw new CniError(CniError.TRY_AGAIN_LATER, "the mesh node agent is not reachable at " + config.agentSocket()
                    + "; the pod is not started uncaptured", e.getMessage());
        }
        if (reply.containsKey("error")) {
            boolean retryable = !(reply.get("retryable") instanceof Boolean b) || b;
            throw new CniError(retryable ? CniError.TRY_AGAIN_LATER : CniError.INTERNAL,
                    "the mesh node agent refused: " + Json.text(reply, "error", Json.write(reply.get("error"))));
        }
        return reply;
    }

    private Map<String, Object> request(String command, String netns, Map<String, String> args) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("command", command);
        r.put("containerId", env.getOrDefault("CNI_CONTAINERID", ""));
        r.put("netns", netns);
        r.put("namespace", args.getOrDefault("K8S_POD_NAMESPACE", ""));
        r.put("name", args.getOrDefault("K8S_POD_NAME", ""));
        r.put("uid", args.getOrDefault("K8S_POD_UID", ""));
        return r;
    }

    /**
     * The previous result, unchanged but for the version the runtime asked for (in its place, or
     * last if it had none): members in their order, numbers as written.
     */
    private int passThrough() {
        Map<String, Object> result = new LinkedHashMap<>(config.prevResult());
        result.put("cniVersion", config.cniVersion());
        out.println(Json.write(result));
        return 0;
    }

    private String required(String name) throws CniError {
        String v = env.getOrDefault(name, "");
        if (v.isEmpty()) {
            throw new CniError(CniError.INVALID_ENV, name + " is not set");
        }
        return v;
    }

    private Map<String, String> cniArgs() {
        Map<String, String> args = new HashMap<>();
        for (String kv : env.getOrDefault("CNI_ARGS", "").split(";")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                args.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        return args;
    }

    private String pod() {
        Map<String, String> args = cniArgs();
        return args.getOrDefault("K8S_POD_NAMESPACE", "?") + "/" + args.getOrDefault("K8S_POD_NAME", "?");
    }

    private void log(String format, Object... args) {
        if (config == null) {
            return;
        }
        try {
            Files.createDirectories(config.logFile().getParent());
            Files.writeString(config.logFile(), Instant.now() + " " + String.format(format, args) + "\n",
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException | RuntimeException e) {
            // the log is for the operator; a plugin that cannot write it still answers the runtime
        }
    }
}
