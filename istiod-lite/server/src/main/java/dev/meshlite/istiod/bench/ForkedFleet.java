package dev.meshlite.istiod.bench;

import dev.meshlite.istiod.ca.PemText;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The driver's side of {@link SimulatedProxies}: a child JVM on this JVM's classpath. The proxies'
 * state (200 clients × every workload's name and version) would otherwise be counted as istiod's.
 */
final class ForkedFleet implements AutoCloseable {

    /** What the proxies' process reported. */
    record Stats(long cpuNanos, long heapBytes) {}

    private final Process process;
    private final PrintStream commands;
    private final BufferedReader answers;
    private final Path dir;

    private ForkedFleet(Process process, Path dir) {
        this.process = process;
        this.dir = dir;
        this.commands = new PrintStream(process.getOutputStream(), true, StandardCharsets.UTF_8);
        this.answers = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    /** Starts the process (not yet the clients: {@link #connect}) and waits for it to be ready. */
    static ForkedFleet start(int port, List<X509Certificate> roots, Map<String, String> tokens, String maxHeap)
            throws IOException {
        Path dir = Files.createTempDirectory("cp-bench-");
        Path rootsFile = Files.writeString(dir.resolve("roots.pem"), PemText.encodeAll(roots));
        StringBuilder t = new StringBuilder();
        tokens.forEach((node, token) -> t.append(node).append(' ').append(token).append('\n'));
        Path tokensFile = Files.writeString(dir.resolve("tokens"), t);
        List<String> argv = new ArrayList<>();
        argv.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // G1 (not the serial collector): a full collection of the clients' heap would stall their ACKs
        // and be measured as the control plane's latency.
        argv.addAll(List.of("-Xms" + maxHeap, "-Xmx" + maxHeap, "-XX:+UseG1GC",
                "--sun-misc-unsafe-memory-access=allow", "--enable-native-access=ALL-UNNAMED",
                "-Dlogback.configurationFile=" + ControlPlaneBench.LOGBACK,
                "-cp", System.getProperty("java.class.path"), SimulatedProxies.class.getName(),
                "127.0.0.1", Integer.toString(port), rootsFile.toString(), tokensFile.toString()));
        Process p = new ProcessBuilder(argv).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        ForkedFleet fleet = new ForkedFleet(p, dir);
        String first = fleet.answers.readLine();
        if (!"ready".equals(first)) {
            fleet.close();
            throw new IOException("simulated proxies' process: '" + first + "' (expected: ready)");
        }
        return fleet;
    }

    void connect() throws IOException {
        call("start");
    }

    void mark() throws IOException {
        call("mark");
    }

    /** Returns when (µs since the epoch) the last proxy applied what made it hold these counts. */
    long awaitHolding(int workloads, int services, Duration timeout) throws IOException {
        return Long.parseLong(call("await-holding " + workloads + " " + services + " " + timeout.toMillis())[0]);
    }

    /** Returns {last update µs since the epoch, resource bytes received since the mark, all proxies}. */
    long[] awaitChanged(Duration timeout) throws IOException {
        String[] v = call("await-changed " + timeout.toMillis());
        return new long[] {Long.parseLong(v[0]), Long.parseLong(v[1])};
    }

    Stats stats() throws IOException {
        String[] v = call("stats");
        return new Stats(Long.parseLong(v[0]), Long.parseLong(v[1]));
    }

    private String[] call(String command) throws IOException {
        commands.println(command);
        String answer = answers.readLine();
        if (answer == null) {
            throw new IOException("simulated proxies' process ended (exit " + exitCode() + ") during '" + command + "'");
        }
        if (!answer.startsWith("ok")) {
            throw new IOException("simulated proxies, '" + command + "': " + answer);
        }
        String rest = answer.substring(2).strip();
        return rest.isEmpty() ? new String[0] : rest.split(" ");
    }

    private String exitCode() {
        try {
            return process.waitFor(1, TimeUnit.SECONDS) ? Integer.toString(process.exitValue()) : "none yet";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    @Override
    public void close() throws IOException {
        try {
            if (process.isAlive()) {
                commands.println("quit");
                if (!process.waitFor(20, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(dir);
        }
    }
}
