package dev.meshlite.e2e.bench;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * The latency load of the data-plane benchmark, the anchors' method (DESIGN §9): HTTP/1.1
 * keep-alive GETs of SIZE-byte replies at a fixed total RATE, spread over CONNS connections,
 * open-loop. Request i is due at start + i/RATE and is charged from that due time to the last byte
 * of its reply, so a stall is charged to every request it delayed (no coordinated omission).
 * Percentiles come from an HdrHistogram (1 µs to 60 s, 3 significant digits) at the client.
 *
 * <pre>java ... OpenLoopHttp HOST:PORT RATE SECONDS SIZE CONNS</pre>
 * prints one line: {@code p50 p90 p99 max} in milliseconds, then the number of requests measured.
 * Before the schedule, each connection makes unpaced round trips (the path is set up and
 * compiled), and the schedule's first second is not recorded.
 */
public final class OpenLoopHttp {

    private static final int UNPACED = 2000;

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: OpenLoopHttp HOST:PORT RATE SECONDS SIZE CONNS");
            System.exit(2);
        }
        int colon = args[0].lastIndexOf(':');
        Result r = run(new InetSocketAddress(args[0].substring(0, colon), Integer.parseInt(args[0].substring(colon + 1))),
                Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
        System.out.println(r.line());
    }

    /** Latency percentiles in milliseconds and how many requests they cover. */
    public record Result(double p50, double p90, double p99, double max, long count) {
        public String line() {
            return String.format(Locale.ROOT, "%.3f %.3f %.3f %.3f %d", p50, p90, p99, max, count);
        }

        public static Result parse(String line) {
            String[] f = line.strip().split("\\s+");
            if (f.length != 5) {
                throw new IllegalArgumentException("not a load result: " + line);
            }
            return new Result(Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2]),
                    Double.parseDouble(f[3]), Long.parseLong(f[4]));
        }
    }

    static Result run(InetSocketAddress target, int rate, int seconds, int size, int conns) throws Exception {
        long interval = 1_000_000_000L / rate;
        int warmup = rate;
        int total = warmup + rate * seconds;
        byte[] request = ("GET /?size=" + size + " HTTP/1.1\r\nHost: " + target.getHostString() + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        Socket[] sockets = new Socket[conns];
        InputStream[] ins = new InputStream[conns];
        Histogram[] histograms = new Histogram[conns];
        try {
            for (int c = 0; c < conns; c++) {
                sockets[c] = new Socket();
                sockets[c].connect(target, 10_000);
                sockets[c].setTcpNoDelay(true);
                sockets[c].setSoTimeout(30_000);
                ins[c] = new BufferedInputStream(sockets[c].getInputStream(), 64 * 1024);
                histograms[c] = new Histogram(1_000L, 60_000_000_000L, 3);
                for (int i = 0; i < UNPACED / conns; i++) {
                    exchange(sockets[c].getOutputStream(), ins[c], request);
                }
            }
            long start = System.nanoTime() + 20_000_000L;
            Thread[] threads = new Thread[conns];
            AtomicReference<Exception> failure = new AtomicReference<>();
            for (int c = 0; c < conns; c++) {
                int first = c;
                OutputStream out = sockets[c].getOutputStream();
                InputStream in = ins[c];
                Histogram h = histograms[c];
                threads[c] = Thread.ofPlatform().name("load-" + c).start(() -> {
                    try {
                        for (int i = first; i < total; i += conns) {
                            long due = start + i * interval;
                            long wait;
                            while ((wait = due - System.nanoTime()) > 0) {
                                if (wait > 200_000) {
                                    LockSupport.parkNanos(wait - 100_000);
                                } else {
                                    Thread.onSpinWait();
                                }
                            }
                            exchange(out, in, request);
                            if (i >= warmup) {
                                h.recordValue(Math.max(1_000L, System.nanoTime() - due));
                            }
                        }
                    } catch (Exception e) {
                        failure.compareAndSet(null, e);
                    }
                });
            }
            for (Thread t : threads) {
                t.join();
            }
            if (failure.get() != null) {
                throw failure.get();
            }
        } finally {
            for (Socket s : sockets) {
                if (s != null) {
                    s.close();
                }
            }
        }
        Histogram all = new Histogram(1_000L, 60_000_000_000L, 3);
        for (Histogram h : histograms) {
            all.add(h);
        }
        return new Result(ms(all.getValueAtPercentile(50)), ms(all.getValueAtPercentile(90)),
                ms(all.getValueAtPercentile(99)), ms(all.getMaxValue()), all.getTotalCount());
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    /** One request and its whole reply: the head, then Content-Length bytes of body. */
    static void exchange(OutputStream out, InputStream in, byte[] request) throws IOException {
        out.write(request);
        out.flush();
        StringBuilder head = new StringBuilder(128);
        int b;
        while ((b = in.read()) >= 0) {
            head.append((char) b);
            int n = head.length();
            if (n >= 4 && head.charAt(n - 1) == '\n' && head.charAt(n - 2) == '\r' && head.charAt(n - 3) == '\n') {
                break;
            }
        }
        if (b < 0) {
            throw new IOException("connection closed mid-reply");
        }
        long length = -1;
        for (String line : head.toString().split("\r\n")) {
            if (line.regionMatches(true, 0, "Content-Length:", 0, 15)) {
                length = Long.parseLong(line.substring(15).trim());
            }
        }
        if (length < 0) {
            throw new IOException("reply without Content-Length: " + head.toString().strip());
        }
        in.skipNBytes(length); // EOFException on a short reply
    }
}
