package dev.meshlite.ztunnel.metrics;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The process's own figures under the names every Prometheus client uses
 * ({@code process_cpu_seconds_total}, {@code process_resident_memory_bytes},
 * {@code process_virtual_memory_bytes}, {@code process_open_fds}, {@code process_max_fds},
 * {@code process_start_time_seconds}), so the dashboards operators already have show a node
 * proxy's CPU and memory, the figures its footprint goals are stated in.
 *
 * <p>Read from {@code /proc} at each scrape, not through the JDK's management beans, which would
 * load JMX into a process that has no other use for it. A figure that cannot be read (no
 * {@code /proc}) is left out of the scrape rather than reported as zero.
 */
public final class ProcessMetrics {

    private final Path proc;

    /** {@code proc}: the process's directory, {@code /proc/self} (another in tests). */
    public ProcessMetrics(Path proc) {
        this.proc = proc;
    }

    public void register(PrometheusRegistry registry) {
        CounterWithCallback.builder().name("process_cpu_seconds_total")
                .help("User and system CPU time spent in seconds")
                .callback(cb -> {
                    double seconds = cpuSeconds();
                    if (seconds >= 0) {
                        cb.call(seconds);
                    }
                }).register(registry);
        gauge(registry, "process_resident_memory_bytes", "Resident memory size in bytes", () -> statusKib("VmRSS") * 1024);
        gauge(registry, "process_virtual_memory_bytes", "Virtual memory size in bytes", () -> statusKib("VmSize") * 1024);
        gauge(registry, "process_open_fds", "Number of open file descriptors", this::openFds);
        gauge(registry, "process_max_fds", "Maximum number of open file descriptors", this::maxFds);
        gauge(registry, "process_start_time_seconds", "Start time of the process since the epoch in seconds",
                () -> ProcessHandle.current().info().startInstant().map(i -> i.toEpochMilli() / 1000.0).orElse(-1.0));
    }

    private interface Reading {
        double read() throws IOException;
    }

    private static void gauge(PrometheusRegistry registry, String name, String help, Reading reading) {
        GaugeWithCallback.builder().name(name).help(help).callback(cb -> {
            try {
                double value = reading.read();
                if (value >= 0) {
                    cb.call(value);
                }
            } catch (IOException | RuntimeException unreadable) {
                // left out of this scrape
            }
        }).register(registry);
    }

    /**
     * utime + stime from {@code stat}, in the kernel's USER_HZ ticks (100 a second on every
     * Linux ABI); -1 when unreadable. Fields counted after the command name's closing
     * parenthesis, since the name may hold spaces.
     */
    double cpuSeconds() {
        try {
            String stat = Files.readString(proc.resolve("stat"), StandardCharsets.US_ASCII);
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // fields[0] is the state (field 3 of stat(5)); utime and stime are fields 14 and 15
            return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) / 100.0;
        } catch (IOException | RuntimeException unreadable) {
            return -1;
        }
    }

    /** A {@code kB} line of {@code status}, e.g. {@code VmRSS}; -1 when absent. */
    double statusKib(String key) throws IOException {
        for (String line : Files.readAllLines(proc.resolve("status"), StandardCharsets.US_ASCII)) {
            if (line.startsWith(key + ":")) {
                String[] parts = line.substring(key.length() + 1).strip().split("\\s+");
                return Long.parseLong(parts[0]);
            }
        }
        return -1;
    }

    double openFds() throws IOException {
        try (Stream<Path> fds = Files.list(proc.resolve("fd"))) {
            return fds.count();
        }
    }

    /** The soft limit of {@code Max open files} in {@code limits}; -1 when absent or unlimited. */
    double maxFds() throws IOException {
        List<String> lines = Files.readAllLines(proc.resolve("limits"), StandardCharsets.US_ASCII);
        for (String line : lines) {
            if (line.startsWith("Max open files")) {
                String soft = line.substring("Max open files".length()).strip().split("\\s+")[0];
                return "unlimited".equals(soft) ? -1 : Long.parseLong(soft);
            }
        }
        return -1;
    }
}
