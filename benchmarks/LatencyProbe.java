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
 * java LatencyProbe.java run HOST:PORT RATE SECONDS SIZE # prints "p50 p90 p99 max" in ms
 * java LatencyProbe.java http HOST:PORT RATE SECONDS SIZE CONNS
 *     # HTTP/1.1 keep-alive GETs of SIZE-byte replies (sample/http-echo's ?size=), RATE per second
 *     # in total spread over CONNS connections; prints "p50 p90 p99 max" in ms
 * </pre>
 *
 * Each request of SIZE bytes is due at start + i/RATE; its latency runs from that due time (not
 * from when it was actually sent) to the last byte of the echo, so a stall is charged to every
 * request it delayed (no coordinated omission). 2000 unpaced round trips, then the first second
 * of the schedule, are warm-up and not recorded.
 */
public final class LatencyProbe {

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "echo" -> echo(Integer.parseInt(args[1]));
            case "run" -> run(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            case "http" -> http(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    Integer.parseInt(args[5]));
            default -> throw new IllegalArgumentException(
                    "usage: echo PORT | run HOST:PORT RATE SECONDS SIZE | http HOST:PORT RATE SECONDS SIZE CONNS");
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

    static void run(String target, int rate, int seconds, int size) throws Exception {
        int colon = target.lastIndexOf(':');
        long interval = 1_000_000_000L / rate;
        int warmup = rate; // one second
        int total = warmup + rate * seconds;
        long[] latencies = new long[rate * seconds];
        byte[] request = new byte[size];
        byte[] response = new byte[size];
        Arrays.fill(request, (byte) 'x');
        try (Socket s = new Socket(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)))) {
            s.setTcpNoDelay(true);
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            DataInputStream in = new DataInputStream(s.getInputStream());
            // Unpaced round trips first: the tunnel (handshake, pool) is up and the code paths are
            // compiled before the schedule starts, so a one-off setup stall is not charged to it.
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
                }
            }
        }
        Arrays.sort(latencies);
        System.out.println(String.format(Locale.ROOT, "%.3f %.3f %.3f %.3f", ms(latencies, 0.50), ms(latencies, 0.90),
                ms(latencies, 0.99), latencies[latencies.length - 1] / 1e6));
    }

    /**
     * Open-loop HTTP/1.1: connection c sends requests c, c+CONNS, c+2*CONNS, ... of one global
     * schedule (start + i/RATE), each charged from its due time to the last byte of its reply.
     */
    static void http(String target, int rate, int seconds, int size, int conns) throws Exception {
        int colon = target.lastIndexOf(':');
        String host = target.substring(0, colon);
        int port = Integer.parseInt(target.substring(colon + 1));
        long interval = 1_000_000_000L / rate;
        int warmup = rate;
        int total = warmup + rate * seconds;
        long[] latencies = new long[rate * seconds];
        byte[] request = ("GET /?size=" + size + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        Socket[] sockets = new Socket[conns];
        InputStream[] ins = new InputStream[conns];
        for (int c = 0; c < conns; c++) {
            sockets[c] = new Socket(host, port);
            sockets[c].setTcpNoDelay(true);
            sockets[c].setSoTimeout(30_000);
            ins[c] = new java.io.BufferedInputStream(sockets[c].getInputStream(), 64 * 1024);
            for (int i = 0; i < 2000 / conns; i++) { // warm the path before the schedule
                exchange(sockets[c].getOutputStream(), ins[c], request);
            }
        }
        long start = System.nanoTime() + 20_000_000L;
        Thread[] threads = new Thread[conns];
        Exception[] failure = new Exception[1];
        for (int c = 0; c < conns; c++) {
            int first = c;
            OutputStream out = sockets[c].getOutputStream();
            InputStream in = ins[c];
            threads[c] = Thread.ofPlatform().start(() -> {
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
                        long done = System.nanoTime();
                        if (i >= warmup) {
                            latencies[i - warmup] = done - due;
                        }
                    }
                } catch (Exception e) {
                    failure[0] = e;
                }
            });
        }
        for (Thread t : threads) {
            t.join();
        }
        for (Socket s : sockets) {
            s.close();
        }
        if (failure[0] != null) {
            throw failure[0];
        }
        Arrays.sort(latencies);
        System.out.println(String.format(Locale.ROOT, "%.3f %.3f %.3f %.3f", ms(latencies, 0.50), ms(latencies, 0.90),
                ms(latencies, 0.99), latencies[latencies.length - 1] / 1e6));
    }

    /** One request and its whole reply (headers, then Content-Length bytes of body). */
    static void exchange(OutputStream out, InputStream in, byte[] request) throws IOException {
        out.write(request);
        out.flush();
        StringBuilder head = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            head.append((char) b);
            if (head.length() >= 4 && head.substring(head.length() - 4).equals("\r\n\r\n")) {
                break;
            }
        }
        if (b < 0) {
            throw new IOException("connection closed mid-reply");
        }
        int length = -1;
        for (String line : head.toString().split("\r\n")) {
            if (line.regionMatches(true, 0, "Content-Length:", 0, 15)) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        if (length < 0) {
            throw new IOException("reply without Content-Length: " + head);
        }
        in.readNBytes(length);
    }

    static double ms(long[] sorted, double q) {
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
    }
}
