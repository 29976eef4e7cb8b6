package dev.meshlite.e2e.bench;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Commands run inside a pod's network namespace with {@code ip netns exec}, which enters the
 * namespace and then execs the command: the pid we get is the program's own, which is what /proc
 * sampling of a proxy needs.
 */
final class InNetns {

    private InNetns() {
    }

    static List<String> argv(String netns, List<String> command) {
        List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", netns));
        all.addAll(command);
        return all;
    }

    /** A long-running program in the namespace, its output appended to {@code log}. */
    static Process start(String netns, List<String> command, Path log) throws IOException {
        File f = log.toFile();
        return new ProcessBuilder(argv(netns, command)).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(f)).start();
    }

    /** Runs to completion within {@code timeoutSeconds}; returns stdout, or fails with the command's stderr. */
    static String run(String netns, List<String> command, long timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv(netns, command)).start();
        Thread.Builder threads = Thread.ofVirtual();
        StringBuilder out = new StringBuilder();
        StringBuilder err = new StringBuilder();
        Thread o = threads.start(() -> drain(p.getInputStream(), out));
        Thread e = threads.start(() -> drain(p.getErrorStream(), err));
        p.getOutputStream().close();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new BenchFailure(String.join(" ", command) + " in " + netns + " did not finish within " + timeoutSeconds + " s");
        }
        o.join();
        e.join();
        if (p.exitValue() != 0) {
            throw new BenchFailure(String.join(" ", command) + " in " + netns + " failed (exit " + p.exitValue() + "): "
                    + (err.isEmpty() ? out : err).toString().strip());
        }
        return out.toString();
    }

    /** Whether the command succeeds within {@code timeoutSeconds}. */
    static boolean ok(String netns, List<String> command, long timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv(netns, command)).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            return false;
        }
        return p.exitValue() == 0;
    }

    /** Stops the processes (SIGTERM, then SIGKILL after the grace) and waits for each. */
    static void stopAll(List<Process> processes) throws InterruptedException {
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
            }
        }
    }

    private static void drain(java.io.InputStream in, StringBuilder into) {
        try (in) {
            into.append(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException ignored) {
            // the process is gone; what was read is kept
        }
    }
}
