package dev.meshlite.cni.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * What the CNI DaemonSet does on a node: puts the plugin executable in the node's CNI bin dir and
 * chains it last into the node's existing conflist; uninstall takes both out again. Both are
 * idempotent and write atomically (temp file, rename), so a runtime never reads half a config.
 */
public final class NodeInstall {

    static final String TYPE = "mesh-cni";
    private static final ObjectMapper JSON = new ObjectMapper();

    private NodeInstall() {
    }

    /**
     * The plugin's JVM flags: a process that lives ~100 ms wants the C1 compiler only, the serial
     * collector, a small heap and no perf-data file. The build's AOT training run
     * (cni-plugin/pom.xml, {@code aot-train}) uses the same ones, and so does {@code ./mesh
     * cni-plugin}; a cache trained with other flags is not used.
     */
    public static final List<String> PLUGIN_JVM_FLAGS = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-XX:-UsePerfData", "-Xmx64m");
    /**
     * The JVM's own messages never reach stdout, which carries the CNI result alone: warnings go
     * to stderr, and a missing, stale or mismatched AOT cache (the JVM then runs without it) is
     * not reported at all.
     */
    public static final List<String> PLUGIN_LOG_FLAGS = List.of("-Xlog:disable", "-Xlog:all=warning:stderr",
            "-Xlog:aot=off:stderr");
    /** Where the build leaves the plugin's AOT cache: next to the plugin's jar. */
    static final String AOT_CACHE = "cni-plugin.aot";

    /**
     * The plugin as an executable: a script that runs the plugin's main class on this JVM, with
     * its AOT cache when there is one. The plugin needs only the JDK, so when the agent's
     * classpath holds the cni-plugin jar the script runs that jar alone (the JVM then has nothing
     * else to open or search, and the cache was trained on exactly that classpath); otherwise
     * (classes in a directory, as in the image) the agent's whole classpath.
     */
    static String wrapper(String java, String classpath, Optional<Path> aotCache) {
        List<String> argv = new ArrayList<>(PLUGIN_JVM_FLAGS);
        argv.addAll(PLUGIN_LOG_FLAGS);
        aotCache.ifPresent(c -> argv.add("-XX:AOTCache=" + c));
        String cp = pluginJar(classpath).map(Path::toString).orElse(classpath);
        return "#!/bin/sh\n# mesh CNI plugin, installed by the mesh node agent\nexec " + java + " " + String.join(" ", argv)
                + " -cp '" + cp + "' dev.meshlite.cni.plugin.CniPlugin\n";
    }

    /** The cni-plugin jar on {@code classpath}, if the plugin is packaged as one there. */
    static Optional<Path> pluginJar(String classpath) {
        for (String entry : classpath.split(":")) {
            Path p = Path.of(entry);
            String name = p.getFileName() == null ? "" : p.getFileName().toString();
            if (name.startsWith("cni-plugin-") && name.endsWith(".jar") && p.getParent() != null) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The AOT cache for a plugin run with this classpath: next to the cni-plugin jar on it, if built. */
    static Optional<Path> aotCache(String classpath) {
        return pluginJar(classpath).map(jar -> jar.getParent().resolve(AOT_CACHE)).filter(Files::isReadable);
    }

    public static void install(Path confDir, Path binDir, Path agentSocket, Path logFile, String java, String classpath)
            throws IOException {
        Files.createDirectories(binDir);
        Path exe = binDir.resolve(TYPE);
        write(exe, wrapper(java, classpath, aotCache(classpath)));
        Files.setPosixFilePermissions(exe, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path conflist = conflist(confDir).orElseThrow(() -> new IOException("no .conflist in " + confDir + " to chain into"));
        ObjectNode conf = (ObjectNode) JSON.readTree(conflist.toFile());
        ArrayNode plugins = (ArrayNode) conf.get("plugins");
        removeOurs(plugins);
        plugins.addObject().put("type", TYPE).put("agent_socket", agentSocket.toString()).put("log_file", logFile.toString());
        write(conflist, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(conf) + "\n");
    }

    public static void uninstall(Path confDir, Path binDir) throws IOException {
        Optional<Path> conflist = conflist(confDir);
        if (conflist.isPresent()) {
            ObjectNode conf = (ObjectNode) JSON.readTree(conflist.get().toFile());
            if (conf.get("plugins") instanceof ArrayNode plugins && removeOurs(plugins)) {
                write(conflist.get(), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(conf) + "\n");
            }
        }
        Files.deleteIfExists(binDir.resolve(TYPE));
    }

    private static boolean removeOurs(ArrayNode plugins) {
        boolean removed = false;
        for (int i = plugins.size() - 1; i >= 0; i--) {
            JsonNode p = plugins.get(i);
            if (TYPE.equals(p.path("type").asText())) {
                plugins.remove(i);
                removed = true;
            }
        }
        return removed;
    }

    static Optional<Path> conflist(Path confDir) throws IOException {
        if (!Files.isDirectory(confDir)) {
            return Optional.empty();
        }
        try (Stream<Path> files = Files.list(confDir)) {
            return files.filter(p -> p.toString().endsWith(".conflist")).sorted().findFirst();
        }
    }

    private static void write(Path file, String content) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, content);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
