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

    /** The plugin as an executable: a script that runs the plugin's main class on this JVM and classpath. */
    static String wrapper(String java, String classpath) {
        return "#!/bin/sh\n# mesh CNI plugin, installed by the mesh node agent\nexec " + java
                + " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp '" + classpath
                + "' dev.meshlite.cni.plugin.CniPlugin\n";
    }

    public static void install(Path confDir, Path binDir, Path agentSocket, Path logFile, String java, String classpath)
            throws IOException {
        Files.createDirectories(binDir);
        Path exe = binDir.resolve(TYPE);
        write(exe, wrapper(java, classpath));
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
