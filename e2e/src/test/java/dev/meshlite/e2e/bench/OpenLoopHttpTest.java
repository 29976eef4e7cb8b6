package dev.meshlite.e2e.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The load generator against a loopback HTTP/1.1 server: every scheduled request is made and measured. */
class OpenLoopHttpTest {

    @Test
    void measuresEveryScheduledRequestOverKeepAliveConnections() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        AtomicInteger served = new AtomicInteger();
        server.createContext("/", ex -> {
            int size = Integer.parseInt(ex.getRequestURI().getQuery().substring("size=".length()));
            served.incrementAndGet();
            ex.sendResponseHeaders(200, size);
            ex.getResponseBody().write(new byte[size]);
            ex.close();
        });
        server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(4));
        server.start();
        try {
            OpenLoopHttp.Result r = OpenLoopHttp.run(server.getAddress(), 500, 1, 1024, 4);
            assertEquals(500, r.count(), "one second at 500/s is 500 measured requests");
            // the unpaced warm-up (2000) and the unrecorded first second (500) are made too
            assertEquals(2000 + 500 + 500, served.get());
            assertTrue(r.p50() > 0 && r.p50() <= r.p90() && r.p90() <= r.p99() && r.p99() <= r.max(), r.line());
            assertEquals(r.line(), OpenLoopHttp.Result.parse(r.line()).line(), "the line the benchmark parses round-trips");
        } finally {
            server.stop(0);
        }
    }

    @Test
    void aServerThatHangsUpIsAnError() throws Exception {
        try (var listener = new java.net.ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                try {
                    while (true) {
                        listener.accept().close();
                    }
                } catch (IOException closed) {
                    // test over
                }
            });
            assertThrows(IOException.class, () -> OpenLoopHttp.run(
                    (InetSocketAddress) listener.getLocalSocketAddress(), 100, 1, 16, 1));
        }
    }
}
