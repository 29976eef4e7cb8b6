package dev.meshlite.cni.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.cni.agent.NodeInstall;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin as a runtime runs it: a new process, CNI_* in its environment, the config on stdin,
 * with the installed wrapper's JVM flags. Prints the p50 of one ADD including process start, with
 * the build's AOT cache and without it (figures, not pass conditions).
 */
class CniPluginProcessIT {

    private static final int RUNS = 10;
    private static final Path TARGET = Path.of("target");

    @TempDir
    Path dir;

    @Test
    void aRuntimeStyleAddReturnsThePreviousResult() throws Exception {
        String prev = "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.244.1.9/24\"}]}";
        String conf = "{\"cniVersion\":\"1.0.0\",\"name\":\"mesh-pods\",\"type\":\"mesh-cni\",\"agent_socket\":\""
                + dir.resolve("a.sock") + "\",\"log_file\":\"" + dir.resolve("log") + "\",\"prevResult\":" + prev + "}";
        // The plugin jar alone, as the installed wrapper runs it and the AOT cache was trained;
        // the test classpath otherwise.
        Path jar = TARGET.resolve("cni-plugin-0.1.0-SNAPSHOT.jar").toAbsolutePath();
        String classpath = Files.exists(jar) ? jar.toString() : System.getProperty("java.class.path");
        Path cache = TARGET.resolve("cni-plugin.aot").toAbsolutePath();
        try (FakeAgent agent = new FakeAgent(dir.resolve("a.sock"), r -> "{\"result\":\"captured\"}")) {
            long without = p50(conf, classpath, Optional.empty());
            String with = Files.isReadable(cache) && Files.exists(jar)
                    ? p50(conf, classpath, Optional.of(cache)) + " ms" : "n/a (no cni-plugin.aot: built with -Dmesh.aot.skip?)";
            assertEquals(Files.isReadable(cache) && Files.exists(jar) ? 2 * RUNS : RUNS, agent.requests.size());
            System.out.printf("mesh-cni ADD including JVM start, p50 of %d: %s with the AOT cache, %d ms without%n",
                    RUNS, with, without);
        }
    }

    private long p50(String conf, String classpath, Optional<Path> cache) throws Exception {
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        List<Long> millis = new ArrayList<>();
        for (int i = 0; i < RUNS; i++) {
            List<String> argv = new ArrayList<>(List.of(javaBin));
            argv.addAll(NodeInstall.PLUGIN_JVM_FLAGS);
            argv.addAll(NodeInstall.PLUGIN_LOG_FLAGS);
            cache.ifPresent(c -> argv.add("-XX:AOTCache=" + c));
            argv.addAll(List.of("-cp", classpath, CniPlugin.class.getName()));
            long start = System.nanoTime();
            ProcessBuilder pb = new ProcessBuilder(argv);
            pb.environment().putAll(Map.of("CNI_COMMAND", "ADD", "CNI_CONTAINERID", "c" + i,
                    "CNI_NETNS", "/run/netns/x", "CNI_IFNAME", "eth0", "CNI_PATH", "/usr/lib/cni",
                    "CNI_ARGS", "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=p;K8S_POD_UID=u"));
            Process p = pb.start();
            p.getOutputStream().write(conf.getBytes());
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes()).strip();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            millis.add((System.nanoTime() - start) / 1_000_000);
            assertEquals(0, p.exitValue(), out + new String(p.getErrorStream().readAllBytes()));
            assertEquals(List.of(out), out.lines().toList(), "exactly one line on stdout");
            assertTrue(out.contains("10.244.1.9/24"), out);
        }
        return millis.stream().sorted().toList().get((RUNS - 1) / 2);
    }
}
