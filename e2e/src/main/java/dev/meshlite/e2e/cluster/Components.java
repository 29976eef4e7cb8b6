package dev.meshlite.e2e.cluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The cluster's long-running processes. Each is described once (name, node, command line, log
 * file) under {@code <state>/components}, so {@code component stop|start|restart} can run it again
 * exactly as {@code up} did, and {@code down} can find it after a crash. Processes are started in
 * a session of their own ({@code setsid}), so they outlive the command that started them.
 */
public final class Components {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One long-running process: {@code node} is empty for cluster-wide ones. */
    public record Spec(String name, String node, List<String> argv, String log) {
        public String id() {
            return node.isEmpty() ? name : name + "@" + node;
        }
    }

    private final Path dir;

    public Components(Path stateDir) {
        this.dir = stateDir.resolve("components");
    }

    /**
     * JVM flags of every component. Small heaps and the serial collector: a node runs several of
     * these on two cores. The build's AOT training run (e2e/pom.xml) uses the same flags, which
     * the AOT cache requires.
     */
    public static final List<String> JVM_FLAGS = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Xss512k", "-Xmx384m", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow");

    /** The JVM command line a component of this module runs with: the packaged classpath, lean flags. */
    public static List<String> javaCommand(String componentId, String... args) {
        return javaCommand(componentId, Layout.runtimeClasspath(), Layout.aotCache().filter(Files::isReadable),
                "dev.meshlite.e2e.MeshCli", args);
    }

    /** The JVM command line of a component from any module: its classpath, its main class. */
    public static List<String> javaCommand(String componentId, String classpath, java.util.Optional<Path> aotCache,
                                           String mainClass, String... args) {
        return javaCommand(componentId, JVM_FLAGS, classpath, aotCache, mainClass, args);
    }

    /** The same with other JVM flags (a data-plane proxy wants its JIT and heap chosen for it). */
    public static List<String> javaCommand(String componentId, List<String> jvmFlags, String classpath,
                                           java.util.Optional<Path> aotCache, String mainClass, String... args) {
        String java = javaBinary();
        List<String> argv = new ArrayList<>();
        argv.add(java);
        argv.addAll(jvmFlags);
        aotCache.ifPresent(cache -> {
            // Classes loaded and linked ahead of time: a component starts with half the CPU.
            argv.add("-XX:AOTCache=" + cache);
            argv.add("-Xlog:aot=off");
        });
        argv.addAll(List.of("-Dmesh.component=" + componentId, "-cp", classpath, mainClass));
        argv.addAll(List.of(args));
        return argv;
    }

    /** The java this JVM runs on: children run on the same JDK (and its AOT cache fits it). */
    public static String javaBinary() {
        return ProcessHandle.current().info().command().orElse("java");
    }

    public void define(Spec spec) throws IOException {
        Files.createDirectories(dir);
        JSON.writeValue(dir.resolve(spec.id() + ".json").toFile(), spec);
    }

    public List<Spec> all() throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Spec> specs = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                specs.add(JSON.readValue(f.toFile(), Spec.class));
            }
        }
        return specs;
    }

    public Optional<Spec> find(String name, String node) throws IOException {
        return all().stream().filter(s -> s.name().equals(name) && s.node().equals(node == null ? "" : node))
                .findFirst();
    }

    /** Starts the component unless it runs already; returns its pid. */
    public long start(Spec spec) throws IOException {
        Optional<ProcessHandle> running = process(spec);
        if (running.isPresent()) {
            return running.get().pid();
        }
        Files.createDirectories(Path.of(spec.log()).getParent());
        List<String> argv = new ArrayList<>();
        argv.add("setsid");
        argv.addAll(spec.argv());
        Process p = new ProcessBuilder(argv)
                .redirectInput(Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(Redirect.appendTo(Path.of(spec.log()).toFile()))
                .redirectErrorStream(true)
                .start();
        Files.writeString(pidFile(spec), Long.toString(p.pid()));
        return p.pid();
    }

    /** Stops the component: SIGTERM, then SIGKILL after {@code grace}. Returns whether one ran. */
    public boolean stop(Spec spec, Duration grace) throws IOException {
        Optional<ProcessHandle> running = process(spec);
        Files.deleteIfExists(pidFile(spec));
        if (running.isEmpty()) {
            return false;
        }
        ProcessHandle h = running.get();
        h.destroy();
        try {
            h.onExit().get(grace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            h.destroyForcibly();
            h.onExit().join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e);
        }
        return true;
    }

    /** The live process of a component, checked against its marker so a reused pid is not taken for it. */
    public Optional<ProcessHandle> process(Spec spec) throws IOException {
        Path pidFile = pidFile(spec);
        if (!Files.exists(pidFile)) {
            return Optional.empty();
        }
        long pid;
        try {
            pid = Long.parseLong(Files.readString(pidFile).strip());
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .filter(h -> cmdline(pid).contains("-Dmesh.component=" + spec.id()));
    }

    static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline"))).replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    private Path pidFile(Spec spec) {
        return dir.resolve(spec.id() + ".pid");
    }
}
