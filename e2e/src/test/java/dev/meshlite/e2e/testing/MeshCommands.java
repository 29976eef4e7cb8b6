package dev.meshlite.e2e.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** Runs ./mesh and host commands for the netns tests, as an operator would. */
public final class MeshCommands {

    public static final Path HOME = Path.of(System.getenv().getOrDefault("MESH_HOME", "..")).toAbsolutePath().normalize();

    public record Run(int exit, String out) {
    }

    private MeshCommands() {
    }

    public static Run mesh(String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(HOME.resolve("mesh").toString()));
        argv.addAll(List.of(args));
        return run(argv);
    }

    public static Run run(List<String> argv) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", argv) + " did not finish");
        return new Run(p.exitValue(), out);
    }

    public static Set<String> lines(String... argv) throws Exception {
        return Arrays.stream(run(List.of(argv)).out().split("\n")).map(String::strip).filter(s -> !s.isEmpty())
                .collect(Collectors.toCollection(TreeSet::new));
    }
}
