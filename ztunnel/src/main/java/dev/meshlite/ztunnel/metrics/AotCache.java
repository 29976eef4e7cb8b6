package dev.meshlite.ztunnel.metrics;

import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.slf4j.Logger;

/**
 * Whether this JVM runs with the AOT cache it was started with. The JVM refuses a cache made for
 * another jar, classpath or flags and goes on without it, saying so only under {@code -Xlog:aot}:
 * ztunnel then starts slower and holds about 10 MiB more (class metadata built at run time), and
 * an operator should see that in the log and the metrics rather than guess it from a graph.
 *
 * <p>Read from {@code /proc}: the command line names the cache (relative to the process's
 * {@code cwd}), the memory map shows whether it was mapped.
 */
public record AotCache(Optional<String> requested, boolean mapped) {

    public enum State { NONE, IN_USE, REFUSED }

    private static final String[] FLAGS = {"-XX:AOTCache=", "-XX:SharedArchiveFile="};

    /** The cache of the process whose {@code /proc} directory is {@code proc}; NONE when unreadable. */
    public static AotCache read(Path proc) {
        try {
            return of(Files.readAllBytes(proc.resolve("cmdline")), Files.readString(proc.resolve("maps")),
                    proc.resolve("cwd").toRealPath());
        } catch (IOException | RuntimeException e) {
            return new AotCache(Optional.empty(), false);
        }
    }

    /** From a NUL-separated command line and a memory map; a relative cache path is taken from {@code cwd}. */
    static AotCache of(byte[] cmdline, String maps, Path cwd) {
        for (String arg : new String(cmdline, StandardCharsets.UTF_8).split("\0")) {
            for (String flag : FLAGS) {
                if (arg.startsWith(flag) && arg.length() > flag.length()) {
                    String path = arg.substring(flag.length());
                    return new AotCache(Optional.of(path), mapped(maps, cwd.resolve(path)));
                }
            }
        }
        return new AotCache(Optional.empty(), false);
    }

    private static boolean mapped(String maps, Path file) {
        String absolute = file.toAbsolutePath().normalize().toString();
        String real = absolute;
        try {
            real = file.toRealPath().toString();
        } catch (IOException e) {
            // a file that is gone cannot be mapped now either
        }
        for (String line : maps.split("\n")) {
            if (line.endsWith(" " + absolute) || line.endsWith(" " + real)) {
                return true;
            }
        }
        return false;
    }

    public State state() {
        return requested.isEmpty() ? State.NONE : mapped ? State.IN_USE : State.REFUSED;
    }

    /** One line at start-up: INFO when in use, WARN when refused, nothing when none was asked for. */
    public void log(Logger log) {
        switch (state()) {
            case IN_USE -> log.info("AOT cache in use: {}", requested.orElseThrow());
            case REFUSED -> log.warn("AOT cache {} refused by the JVM (made for another jar, classpath or JVM flags); "
                    + "running without it: slower start, about 10 MiB more memory. Rebuild it (./mvnw package), or "
                    + "start with -Xlog:aot to see the JVM's reason", requested.orElseThrow());
            case NONE -> { }
        }
    }

    /** {@code meshlite_ztunnel_aot_cache_in_use}: 1 in use, 0 refused; absent when none was asked for. */
    public void register(PrometheusRegistry registry) {
        GaugeWithCallback.builder().name("meshlite_ztunnel_aot_cache_in_use")
                .help("1 when the JVM runs with the AOT cache it was started with, 0 when it refused it")
                .callback(cb -> {
                    if (state() != State.NONE) {
                        cb.call(state() == State.IN_USE ? 1 : 0);
                    }
                }).register(registry);
    }
}
