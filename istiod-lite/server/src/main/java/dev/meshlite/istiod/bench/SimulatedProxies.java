package dev.meshlite.istiod.bench;

import dev.meshlite.hbone.tls.TrustBundle;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The simulated ztunnels' process: a {@link ProxyFleet} driven over stdin/stdout by
 * {@link ForkedFleet}, so that istiod-lite's heap and CPU are measured in a JVM of its own.
 *
 * <p>Arguments: {@code HOST PORT ROOTS_PEM TOKENS_FILE} (a line per node: {@code node token}).
 * Protocol, a line each way: it prints {@code ready}; then for each command
 * ({@code start}, {@code mark}, {@code await-holding W S TIMEOUT_MS}, {@code await-changed TIMEOUT_MS},
 * {@code stats}, {@code quit}) one answer, {@code ok [VALUES...]} or {@code error MESSAGE}.
 * Logs go to stderr; stdout carries nothing but answers.
 */
public final class SimulatedProxies {

    private SimulatedProxies() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: SimulatedProxies HOST PORT ROOTS_PEM TOKENS_FILE");
            System.exit(2);
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        TrustBundle roots = TrustBundle.fromPemFile(Path.of(args[2]));
        Map<String, String> tokens = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(args[3]))) {
            if (!line.isBlank()) {
                String[] f = line.strip().split(" ", 2);
                tokens.put(f[0], f[1]);
            }
        }
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        ProxyFleet fleet = null;
        out.println("ready");
        for (String line; (line = in.readLine()) != null; ) {
            String[] c = line.strip().split(" ");
            try {
                switch (c[0]) {
                    case "start" -> {
                        fleet = ProxyFleet.connect(host, port, roots, tokens);
                        out.println("ok");
                    }
                    case "mark" -> {
                        fleet.mark();
                        out.println("ok");
                    }
                    case "await-holding" -> {
                        ProxyFleet.Reached r = fleet.awaitHolding(Integer.parseInt(c[1]), Integer.parseInt(c[2]),
                                Duration.ofMillis(Long.parseLong(c[3])));
                        out.println("ok " + r.lastUpdateMicros() + " " + r.bytesSinceMark());
                    }
                    case "await-changed" -> {
                        ProxyFleet.Reached r = fleet.awaitChanged(Duration.ofMillis(Long.parseLong(c[1])));
                        out.println("ok " + r.lastUpdateMicros() + " " + r.bytesSinceMark());
                    }
                    case "stats" -> {
                        System.gc();
                        out.println("ok " + processCpuNanos() + " "
                                + ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
                    }
                    case "quit" -> {
                        if (fleet != null) {
                            fleet.close();
                        }
                        out.println("ok");
                        return;
                    }
                    default -> out.println("error unknown command '" + c[0]
                            + "' (expected: start, mark, await-holding, await-changed, stats, quit)");
                }
            } catch (Exception e) {
                out.println("error " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
    }

    static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }
}
