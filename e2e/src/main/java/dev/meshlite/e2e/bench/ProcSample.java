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

    /** CPU seconds used so far: user and system together, and the system (kernel) part. */
    record Cpu(double seconds, double systemSeconds) {
        Cpu since(Cpu earlier) {
            return new Cpu(seconds - earlier.seconds, systemSeconds - earlier.systemSeconds);
        }
    }

    /** The CPU time the processes have used so far, from one read of each one's stat. */
    static Cpu cpu(Collection<Long> pids) {
        long ticks = 0;
        long system = 0;
        for (long pid : pids) {
            try {
                String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
                // the command name may hold spaces: fields count from after its closing parenthesis
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                long stime = Long.parseLong(f[12]);
                ticks += Long.parseLong(f[11]) + stime; // utime, stime (fields 14, 15)
                system += stime;
            } catch (IOException | RuntimeException gone) {
                // exited: nothing to add
            }
        }
        return new Cpu(ticks / TICKS_PER_SECOND, system / TICKS_PER_SECOND);
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
