package dev.meshlite.ztunnel.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.transport.Transport;
import io.netty.channel.EventLoopGroup;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The endpoints' HTTP/1.1 server over raw sockets: order, bounds and bad requests. */
class HttpEndpointsTest {

    static EventLoopGroup group;
    static ExecutorService executor;

    @BeforeAll
    static void start() {
        group = Transport.select().newEventLoopGroup(1, "endpoints-test");
        executor = Executors.newSingleThreadExecutor();
    }

    @AfterAll
    static void stop() {
        executor.shutdownNow();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    static HttpEndpoints bind(Map<String, HttpEndpoints.Handler> routes) throws InterruptedException {
        return HttpEndpoints.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Transport.select(), group,
                executor, routes);
    }

    static Socket connect(HttpEndpoints endpoints) throws IOException {
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), endpoints.localAddress().getPort());
        socket.setSoTimeout(10_000);
        return socket;
    }

    /** Reads until the peer closes. */
    static String readAll(Socket socket) throws IOException {
        return new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
    }

    /** Reads one response with a Content-Length body. */
    static String readResponse(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("closed after " + head);
            }
            head.write(b);
        }
        String text = head.toString(StandardCharsets.ISO_8859_1);
        int length = 0;
        for (String line : text.split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring("content-length:".length()).strip());
            }
        }
        return text + new String(in.readNBytes(length), StandardCharsets.ISO_8859_1);
    }

    static void send(Socket socket, String request) throws IOException {
        socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
        socket.getOutputStream().flush();
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrderOnOneConnection() throws Exception {
        List<String> handled = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (HttpEndpoints endpoints = bind(Map.of(
                "/first", r -> {
                    handled.add("first");
                    return HttpEndpoints.Response.text(200, "first\n");
                },
                "/second", r -> {
                    handled.add("second");
                    return HttpEndpoints.Response.text(200, "second " + r.parameter("n") + "\n");
                }));
             Socket socket = connect(endpoints)) {
            // both requests in one write: the server decodes them from one read
            send(socket, "GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second?n=1&n=2 HTTP/1.1\r\nHost: x\r\n\r\n");
            InputStream in = socket.getInputStream();
            String first = readResponse(in);
            String second = readResponse(in);
            assertEquals(List.of("first", "second"), handled, "handled in the order asked");
            assertTrue(first.startsWith("HTTP/1.1 200 OK\r\n") && first.endsWith("\r\n\r\nfirst\n"), first);
            assertTrue(second.endsWith("\r\n\r\nsecond 2\n"), "the last value of a repeated parameter: " + second);
            assertTrue(first.contains("connection: keep-alive"), first);
        }
    }

    @Test
    void unknownPathsListTheEndpointsAndHeadHasNoBody() throws Exception {
        try (HttpEndpoints endpoints = bind(Map.of("/b", r -> HttpEndpoints.Response.text(200, "b\n"),
                "/a", r -> HttpEndpoints.Response.text(200, "a\n")));
             Socket socket = connect(endpoints)) {
            send(socket, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
            String missing = readResponse(socket.getInputStream());
            assertTrue(missing.startsWith("HTTP/1.1 404 Not Found\r\n"), missing);
            assertTrue(missing.endsWith("\r\n\r\nendpoints: /a /b\n"), missing);
            send(socket, "HEAD /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            String head = readAll(socket);
            assertTrue(head.startsWith("HTTP/1.1 200 OK\r\n") && head.contains("content-length: 2\r\n"), head);
            assertTrue(head.endsWith("\r\n\r\n"), "no body after a HEAD's headers: " + head);
        }
    }

    @Test
    void aFailingHandlerGets500AndTheConnectionGoesOn() throws Exception {
        try (HttpEndpoints endpoints = bind(Map.of("/boom", r -> {
                    throw new IllegalStateException("state unavailable");
                }, "/ok", r -> HttpEndpoints.Response.text(200, "ok\n")));
             Socket socket = connect(endpoints)) {
            send(socket, "GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
            String failed = readResponse(socket.getInputStream());
            assertTrue(failed.startsWith("HTTP/1.1 500 ") && failed.endsWith("error: state unavailable\n"), failed);
            send(socket, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(readResponse(socket.getInputStream()).endsWith("ok\n"));
        }
    }

    @Test
    void whatIsNotHttpGets400AndIsClosed() throws Exception {
        try (HttpEndpoints endpoints = bind(Map.of("/a", r -> HttpEndpoints.Response.text(200, "a\n")));
             Socket socket = connect(endpoints)) {
            send(socket, "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003 not http at all\r\n\r\n");
            String answer = readAll(socket);
            assertTrue(answer.startsWith("HTTP/1.1 400 Bad Request\r\n"), answer);
            assertTrue(answer.contains("connection: close\r\n"), answer);
        }
    }

    @Test
    void oversizedHeadsAndBodiesAreRefused() throws Exception {
        try (HttpEndpoints endpoints = bind(Map.of("/a", r -> HttpEndpoints.Response.text(200, "a\n")))) {
            try (Socket socket = connect(endpoints)) {
                send(socket, "GET /a HTTP/1.1\r\nHost: x\r\nX-Long: " + "y".repeat(10_000) + "\r\n\r\n");
                String answer = readAll(socket);
                assertTrue(answer.startsWith("HTTP/1.1 431 "), answer);
            }
            try (Socket socket = connect(endpoints)) {
                send(socket, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: " + (HttpEndpoints.MAX_REQUEST_BYTES + 1)
                        + "\r\n\r\n");
                String answer = readResponse(socket.getInputStream());
                assertTrue(answer.startsWith("HTTP/1.1 413 "), answer);
            }
        }
    }

    @Test
    void connectionsOverTheBoundAreClosedAtOnce() throws Exception {
        List<Socket> held = new ArrayList<>();
        try (HttpEndpoints endpoints = bind(Map.of("/a", r -> HttpEndpoints.Response.text(200, "a\n")))) {
            for (int i = 0; i < HttpEndpoints.MAX_CONNECTIONS; i++) {
                Socket socket = connect(endpoints);
                held.add(socket);
                send(socket, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"); // each is answered: all are counted
                assertTrue(readResponse(socket.getInputStream()).endsWith("a\n"));
            }
            try (Socket over = connect(endpoints)) {
                assertEquals(-1, over.getInputStream().read(), "one connection over the bound is closed");
            }
            held.removeFirst().close();
            // the closed one's place frees once the server sees the close; a new connection is then served
            String[] answer = new String[1];
            Await.until(() -> {
                try (Socket again = connect(endpoints)) {
                    send(again, "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    answer[0] = readAll(again);
                } catch (IOException reset) {
                    answer[0] = reset.toString(); // the place still taken
                }
                return answer[0].endsWith("a\n");
            }, () -> "no connection served after one of the " + HttpEndpoints.MAX_CONNECTIONS + " closed: " + answer[0]);
        } finally {
            for (Socket socket : held) {
                socket.close();
            }
        }
    }

    @Test
    void closingStopsListeningAndClosesOpenConnections() throws Exception {
        HttpEndpoints endpoints = bind(Map.of("/a", r -> HttpEndpoints.Response.text(200, "a\n")));
        int port = endpoints.localAddress().getPort();
        try (Socket kept = connect(endpoints)) {
            send(kept, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(readResponse(kept.getInputStream()).endsWith("a\n"), "a keep-alive connection, open");
            endpoints.close();
            assertEquals(-1, kept.getInputStream().read(), "closed with the listener");
        }
        try (Socket refused = new Socket(InetAddress.getLoopbackAddress(), port)) {
            throw new AssertionError("still listening on " + port);
        } catch (java.net.ConnectException expected) {
            // nothing listens any more
        }
    }
}
