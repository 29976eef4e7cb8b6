package dev.meshlite.e2e.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a host command to completion, with its output captured and a clear error on failure. */
public final class Sh {

    public record Result(int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    private Sh() {
    }

    /** Runs {@code argv}; throws with the command and its stderr when it exits non-zero. */
    public static String run(String... argv) {
        Result r = exec(List.of(argv), null, Map.of());
        if (!r.ok()) {
            throw new CommandFailedException(String.join(" ", argv) + " failed (exit " + r.exitCode() + "): "
                    + (r.stderr().isBlank() ? r.stdout().strip() : r.stderr().strip()));
        }
        return r.stdout();
    }

    /** Runs {@code argv} and reports the outcome without throwing. */
    public static Result tryRun(String... argv) {
        return exec(List.of(argv), null, Map.of());
    }

    public static Result exec(List<String> argv, String stdin, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().putAll(env);
        try {
            Process p = pb.start();
            Thread.Builder threads = Thread.ofVirtual();
            StringBuilder out = new StringBuilder();
            StringBuilder err = new StringBuilder();
            Thread o = threads.start(() -> read(p.getInputStream(), out));
            Thread e = threads.start(() -> read(p.getErrorStream(), err));
            try (var in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(124, "", String.join(" ", argv) + " did not finish within 60 s");
            }
            o.join();
            e.join();
            return new Result(p.exitValue(), out.toString(), err.toString());
        } catch (IOException ex) {
            return new Result(127, "", "cannot run " + argv.get(0) + ": " + ex.getMessage());
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            return new Result(130, "", "interrupted");
        }
    }

    private static void read(java.io.InputStream in, StringBuilder into) {
        try (in) {
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            synchronized (into) {
                into.append(s);
            }
        } catch (IOException ignored) {
            // the process went away; what was read is kept
        }
    }

    /** A host command that failed; the message names the command and what it printed. */
    public static final class CommandFailedException extends RuntimeException {
        public CommandFailedException(String message) {
            super(message);
        }
    }
}
