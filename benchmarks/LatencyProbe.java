import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.locks.LockSupport;

/**
 * Request/response latency at a fixed rate, open-loop, on one keep-alive connection.
 *
 * <pre>
 * java LatencyProbe.java echo PORT                       # an echo server on 127.0.0.1:PORT
 * java LatencyProbe.java run HOST:PORT RATE SECONDS SIZE [WARMUP_SECONDS]
 *                                  # prints "p50 p90 p99 max cold-p99" in ms
 * </pre>
 *
 * Each request of SIZE bytes is due at start + i/RATE; its latency runs from that due time (not
 * from when it was actually sent) to the last byte of the echo, so a stall is charged to every
 * request it delayed (no coordinated omission). 2000 unpaced round trips, then the first
 * WARMUP_SECONDS (default 1) of the schedule, are warm-up: not in the percentiles, but the p99 of
 * that paced warm-up is printed last ("cold"), so what a JIT-compiled proxy costs before it is
 * compiled stays visible.
 */
public final class LatencyProbe {

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "echo" -> echo(Integer.parseInt(args[1]));
            case "run" -> run(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    args.length > 5 ? Integer.parseInt(args[5]) : 1);
            default -> throw new IllegalArgumentException(
                    "usage: echo PORT | run HOST:PORT RATE SECONDS SIZE [WARMUP_SECONDS] (HTTP over many connections: OpenLoopHttp, ./mesh bench)");
        }
    }

    static void echo(int port) throws IOException {
        try (ServerSocket server = new ServerSocket(port, 64, InetAddress.getLoopbackAddress())) {
            while (true) {
                Socket s = server.accept();
                s.setTcpNoDelay(true);
                Thread.ofVirtual().start(() -> {
                    try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                        byte[] buf = new byte[64 * 1024];
                        for (int n; (n = in.read(buf)) >= 0; ) {
                            out.write(buf, 0, n);
                        }
                    } catch (IOException ignored) {
                        // peer gone
                    }
                });
            }
        }
    }

    static void run(String target, int rate, int seconds, int size, int warmupSeconds) throws Exception {
        int colon = target.lastIndexOf(':');
        long interval = 1_000_000_000L / rate;
        int warmup = rate * warmupSeconds;
        int total = warmup + rate * seconds;
        long[] cold = new long[warmup];
        long[] latencies = new long[rate * seconds];
        byte[] request = new byte[size];
        byte[] response = new byte[size];
        Arrays.fill(request, (byte) 'x');
        try (Socket s = new Socket(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)))) {
            s.setTcpNoDelay(true);
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            DataInputStream in = new DataInputStream(s.getInputStream());
            // Unpaced round trips first: the tunnel (handshake, pool) is up before the schedule
            // starts, so a one-off setup stall is not charged to it.
            for (int i = 0; i < 2000; i++) {
                out.write(request);
                out.flush();
                in.readFully(response);
            }
            long start = System.nanoTime() + 10_000_000L;
            for (int i = 0; i < total; i++) {
                long due = start + i * interval;
                long wait;
                while ((wait = due - System.nanoTime()) > 0) {
                    if (wait > 200_000) {
                        LockSupport.parkNanos(wait - 100_000);
                    } else {
                        Thread.onSpinWait();
                    }
                }
                out.write(request);
                out.flush();
                in.readFully(response);
                long done = System.nanoTime();
                if (i >= warmup) {
                    latencies[i - warmup] = done - due;
                } else {
                    cold[i] = done - due;
                }
            }
        }
        Arrays.sort(latencies);
        Arrays.sort(cold);
        System.out.println(String.format(Locale.ROOT, "%.3f %.3f %.3f %.3f %s", ms(latencies, 0.50), ms(latencies, 0.90),
                ms(latencies, 0.99), latencies[latencies.length - 1] / 1e6,
                cold.length == 0 ? "-" : String.format(Locale.ROOT, "%.3f", ms(cold, 0.99))));
    }

    static double ms(long[] sorted, double q) {
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
    }
}
