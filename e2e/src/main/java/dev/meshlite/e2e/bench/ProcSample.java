package dev.meshlite.e2e.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;

/**
 * What /proc says about a set of proxy processes: CPU time (user + system, in clock ticks of
 * {@code getconf CLK_TCK}, 100 on Linux) and resident memory. A process that has gone counts as
 * zero, so a sample never fails the run; the benchmark checks its proxies are alive separately.
 */
final class ProcSample {

    static final double TICKS_PER_SECOND = 100.0;

    private ProcSample() {
    }

    /** CPU seconds the processes have used so far. */
    static double cpuSeconds(Collection<Long> pids) {
        return ticks(pids, true) / TICKS_PER_SECOND;
    }

    /** The part of {@link #cpuSeconds} spent in the kernel (system time). */
    static double systemSeconds(Collection<Long> pids) {
        return ticks(pids, false) / TICKS_PER_SECOND;
    }

    private static long ticks(Collection<Long> pids, boolean withUser) {
        long ticks = 0;
        for (long pid : pids) {
            try {
                String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
                // the command name may hold spaces: fields count from after its closing parenthesis
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                ticks += (withUser ? Long.parseLong(f[11]) : 0) + Long.parseLong(f[12]); // utime, stime (fields 14, 15)
            } catch (IOException | RuntimeException gone) {
                // exited: nothing to add
            }
        }
        return ticks;
    }

    /** Resident set size of the processes together, in MiB. */
    static double rssMib(Collection<Long> pids) {
        long kib = 0;
        for (long pid : pids) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                    if (line.startsWith("VmRSS:")) {
                        kib += Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
                    }
                }
            } catch (IOException | RuntimeException gone) {
                // exited
            }
        }
        return kib / 1024.0;
    }
}
