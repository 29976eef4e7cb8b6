package dev.meshlite.cni.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a host command; a failure names the command and what it printed. */
final class Cmd {

    private Cmd() {
    }

    static String run(List<String> argv, String stdin) {
        return run(String.join(" ", argv), argv, stdin);
    }

    /** The same, naming the command {@code what} in errors (a script would be too long to quote). */
    static String run(String what, List<String> argv, String stdin) {
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
            try (var in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(what + " did not finish in 30 s");
            }
            if (p.exitValue() != 0) {
                throw new IllegalStateException(what + " failed (exit " + p.exitValue() + "): " + out.strip());
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + argv.get(0) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + argv.get(0), e);
        }
    }

    static boolean ok(List<String> argv) {
        try {
            run(argv, null);
            return true;
        } catch (IllegalStateException e) {
            return false;
        }
    }
}
