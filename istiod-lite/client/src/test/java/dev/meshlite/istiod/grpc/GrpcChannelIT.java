package dev.meshlite.istiod.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.istiod.api.ca.v1.CertificateResponse;
import dev.meshlite.istiod.api.ca.v1.CertificateServiceGrpc;
import dev.meshlite.istiod.api.ca.v1.CsrRequest;
import dev.meshlite.istiod.api.xds.v1.DeltaRequest;
import dev.meshlite.istiod.api.xds.v1.DeltaResponse;
import dev.meshlite.istiod.api.xds.v1.DiscoveryServiceGrpc;
import dev.meshlite.istiod.api.xds.v1.Resource;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link GrpcChannel} against grpc-java's server over TLS on 127.0.0.1. The CA's unary method and
 * the discovery stream carry the cases; what the test service does is chosen by the request.
 */
class GrpcChannelIT {

    static final String CREATE = "/meshlite.ca.v1.CertificateService/CreateCertificate";
    static final String DELTA = "/meshlite.xds.v1.DiscoveryService/DeltaResources";
    static final Duration WAIT = Duration.ofSeconds(30);

    final TestCa ca = TestCa.create("cluster.local");
    final CountDownLatch serverSawCancel = new CountDownLatch(1);
    final AtomicInteger unaryCalls = new AtomicInteger();
    final ExecutorService callbacks = Executors.newSingleThreadExecutor();
    final List<AutoCloseable> closing = new CopyOnWriteArrayList<>();

    /** Unary: the identity field picks the behaviour; "ok" echoes the CSR text back. */
    final CertificateServiceGrpc.CertificateServiceImplBase certificates = new CertificateServiceGrpc.CertificateServiceImplBase() {
        @Override
        public void createCertificate(CsrRequest request, StreamObserver<CertificateResponse> out) {
            unaryCalls.incrementAndGet();
            ((ServerCallStreamObserver<CertificateResponse>) out).setOnCancelHandler(serverSawCancel::countDown);
            switch (request.getIdentity()) {
                case "ok" -> {
                    out.onNext(CertificateResponse.newBuilder().addCertChainPem(request.getCsrPem()).build());
                    out.onCompleted();
                }
                case "denied" -> out.onError(Status.PERMISSION_DENIED.withDescription("nöt allowed: 100% sure")
                        .asRuntimeException());
                case "twice" -> {
                    out.onNext(CertificateResponse.getDefaultInstance());
                    out.onNext(CertificateResponse.getDefaultInstance());
                    out.onCompleted();
                }
                case "hang" -> { }
                default -> out.onError(Status.INVALID_ARGUMENT.asRuntimeException());
            }
        }
    };

    /**
     * Streaming: each request is answered with a response whose nonce is the request's
     * response_nonce; a type_url "size:N" gets a resource of N bytes, "twice" two responses.
     */
    final DiscoveryServiceGrpc.DiscoveryServiceImplBase discovery = new DiscoveryServiceGrpc.DiscoveryServiceImplBase() {
        @Override
        public StreamObserver<DeltaRequest> deltaResources(StreamObserver<DeltaResponse> out) {
            ((ServerCallStreamObserver<DeltaResponse>) out).setOnCancelHandler(serverSawCancel::countDown);
            return new StreamObserver<>() {
                @Override
                public void onNext(DeltaRequest r) {
                    DeltaResponse.Builder b = DeltaResponse.newBuilder().setNonce(r.getResponseNonce());
                    if (r.getTypeUrl().startsWith("size:")) {
                        int n = Integer.parseInt(r.getTypeUrl().substring(5));
                        b.addResources(Resource.newBuilder().setName("big").setResource(
                                Any.newBuilder().setValue(ByteString.copyFrom(pattern(n)))));
                    }
                    out.onNext(b.build());
                    if (r.getTypeUrl().equals("twice")) {
                        out.onNext(b.build());
                    }
                }

                @Override
                public void onError(Throwable t) {}

                @Override
                public void onCompleted() {
                    out.onCompleted();
                }
            };
        }
    };

    static byte[] pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + (i >>> 8));
        }
        return b;
    }

    /** Collects a stream's responses and its end. */
    static final class Collector implements GrpcChannel.Listener<DeltaResponse> {
        final BlockingQueue<DeltaResponse> responses = new LinkedBlockingQueue<>();
        final CompletableStatus closed = new CompletableStatus();

        @Override
        public void onMessage(DeltaResponse message) {
            responses.add(message);
        }

        @Override
        public void onClose(GrpcStatus status) {
            closed.complete(status);
        }

        DeltaResponse next() throws InterruptedException {
            DeltaResponse r = responses.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
            if (r == null) {
                throw new AssertionError("no response within " + WAIT);
            }
            return r;
        }
    }

    static final class CompletableStatus extends java.util.concurrent.CompletableFuture<GrpcStatus> {
        GrpcStatus await() throws Exception {
            return get(WAIT.toSeconds(), TimeUnit.SECONDS);
        }
    }

    TlsGrpcServer server(int port) throws IOException {
        TlsGrpcServer s = TlsGrpcServer.start(ca, port, certificates, discovery);
        closing.add(s);
        return s;
    }

    /** The old listener closes asynchronously: waits until nothing accepts on its port, then binds it. */
    TlsGrpcServer serverWhenPortIsFree(int port) throws Exception {
        Await.until(() -> {
            try (Socket probe = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return false;
            } catch (IOException refused) {
                return true;
            }
        }, () -> "the old server's listener on port " + port + " closed");
        return server(port);
    }

    GrpcChannel track(GrpcChannel c) {
        closing.add(c);
        return c;
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
        callbacks.shutdownNow();
    }

    static CsrRequest request(String behaviour) {
        return CsrRequest.newBuilder().setIdentity(behaviour).setCsrPem("csr of " + behaviour).build();
    }

    static GrpcStatus failure(java.util.concurrent.CompletableFuture<?> call) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(WAIT.toSeconds(), TimeUnit.SECONDS));
        return assertInstanceOf(GrpcException.class, e.getCause()).status();
    }

    @Test
    void unaryAnswersAndStatuses() throws Exception {
        GrpcChannel channel = track(server(0).channel());
        CertificateResponse ok = channel.unary(CREATE, request("ok"), Map.of(), CertificateResponse.parser(),
                WAIT).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(List.of("csr of ok"), ok.getCertChainPemList());

        GrpcStatus denied = failure(channel.unary(CREATE, request("denied"), Map.of(), CertificateResponse.parser(), WAIT));
        assertEquals(GrpcStatus.of(GrpcStatus.Code.PERMISSION_DENIED, "nöt allowed: 100% sure"), denied,
                "the status and its percent-encoded UTF-8 message, decoded");

        GrpcStatus reset = failure(channel.unary(CREATE, request("twice"), Map.of(), CertificateResponse.parser(), WAIT));
        assertEquals("CANCELLED: stream reset by the server (CANCEL)", reset.toString(),
                "grpc-java resets a unary call that answers twice; the reset is the status");

        // A method that does answer twice (the streaming one, asked for two), called as unary.
        GrpcStatus twice = failure(channel.unary(DELTA, DeltaRequest.newBuilder().setTypeUrl("twice").build(), Map.of(),
                DeltaResponse.parser(), WAIT));
        assertEquals("INTERNAL: 2 response messages to a unary call (expected: 1)", twice.toString());

        GrpcStatus unknownMethod = failure(channel.unary("/meshlite.ca.v1.CertificateService/Nope", request("ok"),
                Map.of(), CertificateResponse.parser(), WAIT));
        assertEquals(GrpcStatus.Code.UNIMPLEMENTED, unknownMethod.code());

        // Every call above shared one connection and the channel still works.
        assertEquals(List.of("csr of ok"), channel.unary(CREATE, request("ok"), Map.of(), CertificateResponse.parser(),
                WAIT).get(WAIT.toSeconds(), TimeUnit.SECONDS).getCertChainPemList());
    }

    @Test
    void aDeadlineEndsTheCallAndCancelsItOnTheServer() throws Exception {
        GrpcChannel channel = track(server(0).channel());
        long start = System.nanoTime();
        GrpcStatus late = failure(channel.unary(CREATE, request("hang"), Map.of(), CertificateResponse.parser(),
                Duration.ofMillis(300)));
        assertEquals(GrpcStatus.Code.DEADLINE_EXCEEDED, late.code());
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(300), "not before the deadline");
        assertTrue(serverSawCancel.await(WAIT.toSeconds(), TimeUnit.SECONDS),
                "the server's call ended (grpc-timeout or the reset)");
    }

    @Test
    void streamRoundTripsInOrderAndEndsWithTheServersStatus() throws Exception {
        GrpcChannel channel = track(server(0).channel());
        Collector c = new Collector();
        GrpcChannel.ClientStream<DeltaRequest> s = channel.stream(DELTA, Map.of("authorization", "Bearer t"),
                DeltaResponse.parser(), c, callbacks);
        for (int i = 0; i < 200; i++) {
            s.send(DeltaRequest.newBuilder().setResponseNonce("n" + i).build());
        }
        for (int i = 0; i < 200; i++) {
            assertEquals("n" + i, c.next().getNonce());
        }
        s.halfClose();
        assertEquals(GrpcStatus.Code.OK, c.closed.await().code(), "the server completed after our half-close");
        assertTrue(c.responses.isEmpty());
    }

    @Test
    void aMessageSpanningManyFramesArrivesWholeAndOneOverTheLimitFailsTheCall() throws Exception {
        GrpcChannel channel = track(server(0).channel(new GrpcChannel.Settings(1 << 20, Duration.ofSeconds(10),
                Duration.ofSeconds(30), Duration.ofSeconds(10))));
        Collector c = new Collector();
        GrpcChannel.ClientStream<DeltaRequest> s = channel.stream(DELTA, Map.of(), DeltaResponse.parser(), c, callbacks);
        int fits = 900 * 1024;
        s.send(DeltaRequest.newBuilder().setTypeUrl("size:" + fits).build());
        ByteString got = c.next().getResources(0).getResource().getValue();
        assertEquals(ByteString.copyFrom(pattern(fits)), got);

        s.send(DeltaRequest.newBuilder().setTypeUrl("size:" + (3 << 20)).build());
        GrpcStatus status = c.closed.await();
        assertEquals(GrpcStatus.Code.RESOURCE_EXHAUSTED, status.code(), status.toString());
        assertTrue(status.description().contains("expected: at most 1048576"), status.toString());
        assertTrue(serverSawCancel.await(WAIT.toSeconds(), TimeUnit.SECONDS), "the stream was reset");
        assertTrue(c.responses.isEmpty());
    }

    @Test
    void cancelEndsTheCallHereAndOnTheServer() throws Exception {
        GrpcChannel channel = track(server(0).channel());
        Collector c = new Collector();
        GrpcChannel.ClientStream<DeltaRequest> s = channel.stream(DELTA, Map.of(), DeltaResponse.parser(), c, callbacks);
        s.send(DeltaRequest.newBuilder().setResponseNonce("a").build());
        assertEquals("a", c.next().getNonce());
        s.cancel("client closed");
        assertEquals(GrpcStatus.of(GrpcStatus.Code.CANCELLED, "client closed"), c.closed.await());
        assertTrue(serverSawCancel.await(WAIT.toSeconds(), TimeUnit.SECONDS));
        s.send(DeltaRequest.newBuilder().setResponseNonce("after").build()); // dropped, no error
    }

    @Test
    void aServerThatIsDownFailsAtOnceAndIsUsedAsSoonAsItIsBack() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        GrpcChannel channel = track(GrpcChannel.create("127.0.0.1", port, ca.bundle(), TlsGrpcServer.AUTHORITY,
                GrpcChannel.Settings.DEFAULTS));
        GrpcStatus down = failure(channel.unary(CREATE, request("ok"), Map.of(), CertificateResponse.parser(), WAIT));
        assertEquals(GrpcStatus.Code.UNAVAILABLE, down.code(), down.toString());

        server(port);
        // No backoff inside the channel: the very next call dials again.
        assertEquals(List.of("csr of ok"), channel.unary(CREATE, request("ok"), Map.of(), CertificateResponse.parser(),
                WAIT).get(WAIT.toSeconds(), TimeUnit.SECONDS).getCertChainPemList());
    }

    @Test
    void theServerMustProveTheAuthorityAndTheTrustedRoots() throws Exception {
        TlsGrpcServer server = server(0);
        GrpcChannel wrongName = track(GrpcChannel.create("127.0.0.1", server.port(), ca.bundle(), "other.example",
                GrpcChannel.Settings.DEFAULTS));
        GrpcStatus name = failure(wrongName.unary(CREATE, request("ok"), Map.of(), CertificateResponse.parser(), WAIT));
        assertEquals(GrpcStatus.Code.UNAVAILABLE, name.code(), name.toString());

        GrpcChannel otherRoots = track(GrpcChannel.create("127.0.0.1", server.port(),
                TestCa.create("cluster.local").bundle(), TlsGrpcServer.AUTHORITY, GrpcChannel.Settings.DEFAULTS));
        GrpcStatus roots = failure(otherRoots.unary(CREATE, request("ok"), Map.of(), CertificateResponse.parser(), WAIT));
        assertEquals(GrpcStatus.Code.UNAVAILABLE, roots.code(), roots.toString());
        assertEquals(0, unaryCalls.get(), "no call reached the server");
    }

    @Test
    void afterGoAwayOpenCallsFinishOnTheOldConnectionAndNewOnesDialAgain() throws Exception {
        TlsGrpcServer first = server(0);
        GrpcChannel channel = track(first.channel());
        Collector c = new Collector();
        GrpcChannel.ClientStream<DeltaRequest> s = channel.stream(DELTA, Map.of(), DeltaResponse.parser(), c, callbacks);
        s.send(DeltaRequest.newBuilder().setResponseNonce("before").build());
        assertEquals("before", c.next().getNonce());

        int port = first.port(); // grpc-java forgets it once shut down
        first.shutdown(); // GOAWAY; the listening socket closes, the open stream may go on
        Await.until(() -> !channel.connectionUsable(), () -> "the client saw the GOAWAY");
        serverWhenPortIsFree(port);
        int before = unaryCalls.get();
        assertEquals(List.of("csr of ok"), channel.unary(CREATE, request("ok"), Map.of(), CertificateResponse.parser(),
                WAIT).get(WAIT.toSeconds(), TimeUnit.SECONDS).getCertChainPemList());
        assertEquals(before + 1, unaryCalls.get());

        s.send(DeltaRequest.newBuilder().setResponseNonce("draining").build());
        assertEquals("draining", c.next().getNonce(), "the stream opened before GOAWAY still works");
        s.halfClose();
        assertEquals(GrpcStatus.Code.OK, c.closed.await().code());
    }

    @Test
    void aSilentConnectionIsProbedAndClosedWhenThePingGoesUnanswered() throws Exception {
        TlsGrpcServer server = server(0);
        try (FreezingRelay relay = new FreezingRelay(server.port())) {
            GrpcChannel channel = track(GrpcChannel.create("127.0.0.1", relay.port(), ca.bundle(),
                    TlsGrpcServer.AUTHORITY, new GrpcChannel.Settings(1 << 20, Duration.ofSeconds(10),
                            Duration.ofMillis(200), Duration.ofMillis(300))));
            Collector c = new Collector();
            GrpcChannel.ClientStream<DeltaRequest> s = channel.stream(DELTA, Map.of(), DeltaResponse.parser(), c,
                    callbacks);
            s.send(DeltaRequest.newBuilder().setResponseNonce("a").build());
            assertEquals("a", c.next().getNonce());
            // Answered PINGs keep an idle connection: the client writes twice with nothing to send
            // (PINGs), and the stream lives.
            long writes = relay.clientWrites();
            Await.until(() -> relay.clientWrites() >= writes + 2, () -> "two PINGs on the idle connection");
            s.send(DeltaRequest.newBuilder().setResponseNonce("b").build());
            assertEquals("b", c.next().getNonce());
            assertTrue(!c.closed.isDone(), "answered PINGs keep the connection");

            relay.freeze(); // the server's node is gone: nothing comes back, no FIN, no RST
            GrpcStatus status = c.closed.await();
            assertEquals(GrpcStatus.Code.UNAVAILABLE, status.code(), status.toString());

            relay.thaw();
            assertEquals(List.of("csr of ok"), channel.unary(CREATE, request("ok"), Map.of(),
                    CertificateResponse.parser(), WAIT).get(WAIT.toSeconds(), TimeUnit.SECONDS).getCertChainPemList());
        }
    }

    @Test
    void closingTheChannelEndsItsCallsAndRefusesNewOnes() throws Exception {
        GrpcChannel channel = server(0).channel();
        Collector c = new Collector();
        GrpcChannel.ClientStream<DeltaRequest> s = channel.stream(DELTA, Map.of(), DeltaResponse.parser(), c, callbacks);
        s.send(DeltaRequest.newBuilder().setResponseNonce("a").build());
        assertEquals("a", c.next().getNonce());
        channel.close();
        assertEquals(GrpcStatus.Code.UNAVAILABLE, c.closed.await().code());
        Executor direct = Runnable::run;
        Collector after = new Collector();
        channel.stream(DELTA, Map.of(), DeltaResponse.parser(), after, direct);
        assertEquals(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "channel closed"), after.closed.await());
    }

    /** A TCP relay to 127.0.0.1:{@code target} that can stop passing bytes both ways (a lost peer). */
    static final class FreezingRelay implements AutoCloseable {
        private final ServerSocket listener = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        private final List<Socket> sockets = new CopyOnWriteArrayList<>();
        private volatile boolean frozen;
        private final java.util.concurrent.atomic.AtomicLong clientWrites = new java.util.concurrent.atomic.AtomicLong();
        private volatile Socket firstClient;

        FreezingRelay(int target) throws IOException {
            Thread.ofVirtual().start(() -> {
                while (!listener.isClosed()) {
                    try {
                        Socket in = listener.accept();
                        if (firstClient == null) {
                            firstClient = in;
                        }
                        Socket out = new Socket(InetAddress.getLoopbackAddress(), target);
                        sockets.add(in);
                        sockets.add(out);
                        Thread.ofVirtual().start(() -> pump(in, out));
                        Thread.ofVirtual().start(() -> pump(out, in));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        int port() {
            return listener.getLocalPort();
        }

        /** Reads from the first client connection that were passed on. */
        long clientWrites() {
            return clientWrites.get();
        }

        void freeze() {
            frozen = true;
        }

        void thaw() {
            frozen = false;
        }

        private void pump(Socket from, Socket to) {
            byte[] buf = new byte[16384];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    while (frozen && !from.isClosed()) {
                        Thread.sleep(10);
                    }
                    if (from.isClosed()) {
                        return;
                    }
                    out.write(buf, 0, n);
                    if (from == firstClient) {
                        clientWrites.incrementAndGet();
                    }
                }
            } catch (IOException | InterruptedException e) {
                // closed
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }

        private static void closeQuietly(Socket s) {
            try {
                s.close();
            } catch (IOException ignored) {
                // already closed
            }
        }

        @Override
        public void close() throws IOException {
            listener.close();
            sockets.forEach(FreezingRelay::closeQuietly);
        }
    }
}
