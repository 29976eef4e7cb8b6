package dev.meshlite.istiod.xds.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.StringValue;
import dev.meshlite.hbone.testing.Await;
import dev.meshlite.istiod.api.xds.v1.DeltaRequest;
import dev.meshlite.istiod.api.xds.v1.DeltaResponse;
import dev.meshlite.istiod.api.xds.v1.DiscoveryServiceGrpc;
import dev.meshlite.istiod.api.xds.v1.Node;
import dev.meshlite.istiod.api.xds.v1.Resource;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.BearerTokenHeader;
import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.istiod.grpc.GrpcChannel;
import dev.meshlite.istiod.grpc.TlsGrpcServer;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client against a scripted control plane on 127.0.0.1 (grpc-java's server over TLS): the
 * test plays the server.
 */
class XdsClientIT {

    static final String A = "type.googleapis.com/google.protobuf.StringValue";
    static final String B = "type.googleapis.com/meshlite.test.Other";
    static final Node NODE = Node.newBuilder().setId("ztunnel~node-a").setRole("ztunnel").setNodeName("node-a").build();

    /** One server-side stream as the test sees it. */
    record ServerStream(String token, BlockingQueue<DeltaRequest> requests, StreamObserver<DeltaResponse> responses) {
        DeltaRequest next() throws InterruptedException {
            DeltaRequest r = requests.poll(30, TimeUnit.SECONDS);
            if (r == null) {
                throw new AssertionError("no request from the client within 30 s");
            }
            return r;
        }
    }

    final BlockingQueue<ServerStream> streams = new LinkedBlockingQueue<>();
    final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-03-01T00:00:00Z"));
    final FakeProxy proxy = new FakeProxy();
    final TestCa ca = TestCa.create("cluster.local");
    TlsGrpcServer server;
    GrpcChannel channel;
    XdsClient client;

    /** A handler that validates first, then swaps its state in one step; rejects any value "bad". */
    static final class FakeProxy implements ResourceHandler {
        volatile Map<String, Map<String, String>> state = Map.of();

        @Override
        public void apply(String typeUrl, Map<String, Any> upserts, Set<String> removed) throws Exception {
            Map<String, String> parsed = new HashMap<>();
            for (var e : upserts.entrySet()) {
                String v = typeUrl.equals(A) ? e.getValue().unpack(StringValue.class).getValue() : "other";
                if (v.equals("bad")) {
                    throw new IllegalArgumentException(e.getKey() + ": value bad (expected: anything else)");
                }
                parsed.put(e.getKey(), v);
            }
            Map<String, Map<String, String>> next = new HashMap<>(state);
            Map<String, String> ofType = new HashMap<>(next.getOrDefault(typeUrl, Map.of()));
            removed.forEach(ofType::remove);
            ofType.putAll(parsed);
            next.put(typeUrl, Map.copyOf(ofType));
            state = Map.copyOf(next);
        }

        Map<String, String> of(String type) {
            return state.getOrDefault(type, Map.of());
        }
    }

    @BeforeEach
    void start() throws Exception {
        server = startServer(0);
        channel = server.channel();
        client = new XdsClient(channel, () -> "node-a.secret", NODE, List.of(A, B), proxy,
                new Backoff(Duration.ofMillis(20), Duration.ofMillis(200)), now::get);
    }

    TlsGrpcServer startServer(int port) throws Exception {
        Metadata.Key<String> auth = Metadata.Key.of(BearerTokenHeader.AUTHORIZATION, Metadata.ASCII_STRING_MARSHALLER);
        io.grpc.Context.Key<String> tokenKey = io.grpc.Context.key("token");
        ServerInterceptor captureToken = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                    ServerCallHandler<Q, R> next) {
                return Contexts.interceptCall(io.grpc.Context.current().withValue(tokenKey, headers.get(auth)), call,
                        headers, next);
            }
        };
        var service = new DiscoveryServiceGrpc.DiscoveryServiceImplBase() {
            @Override
            public StreamObserver<DeltaRequest> deltaResources(StreamObserver<DeltaResponse> responses) {
                BlockingQueue<DeltaRequest> requests = new LinkedBlockingQueue<>();
                streams.add(new ServerStream(tokenKey.get(), requests, responses));
                return new StreamObserver<>() {
                    @Override
                    public void onNext(DeltaRequest value) {
                        requests.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                };
            }
        };
        return TlsGrpcServer.start(ca, port, ServerInterceptors.intercept(service, captureToken));
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        channel.close();
        server.close();
    }

    static DeltaResponse response(String type, String nonce, Map<String, String> upserts, String... removed) {
        DeltaResponse.Builder b = DeltaResponse.newBuilder().setTypeUrl(type).setNonce(nonce).setSystemVersionInfo("v-" + nonce);
        upserts.forEach((name, value) -> b.addResources(Resource.newBuilder().setName(name).setVersion(value.hashCode() + "")
                .setResource(type.equals(A) ? Any.pack(StringValue.of(value))
                        : Any.newBuilder().setTypeUrl(B).build())));
        b.addAllRemovedResources(List.of(removed));
        return b.build();
    }

    @Test
    void subscribesToEveryTypeWithTheWildcardThenAcksWhatItApplied() throws Exception {
        client.start();
        ServerStream s = streams.poll(30, TimeUnit.SECONDS);
        assertEquals("Bearer node-a.secret", s.token());
        DeltaRequest first = s.next();
        DeltaRequest second = s.next();
        assertEquals(NODE, first.getNode(), "the first request names the node");
        assertEquals(List.of(A, B), List.of(first.getTypeUrl(), second.getTypeUrl()));
        assertEquals(List.of("*"), first.getResourceNamesSubscribeList());
        assertEquals(List.of("*"), second.getResourceNamesSubscribeList());
        assertTrue(first.getInitialResourceVersionsMap().isEmpty());
        assertFalse(client.synced());
        assertTrue(client.secondsSinceLastUpdate().isEmpty());

        s.responses().onNext(response(A, "n1", Map.of("x", "one", "y", "two")));
        DeltaRequest ack = s.next();
        assertEquals("n1", ack.getResponseNonce());
        assertFalse(ack.hasErrorDetail(), "an ACK carries no error");
        assertEquals(Map.of("x", "one", "y", "two"), proxy.of(A));
        assertFalse(client.synced(), "type B has not been answered yet");

        s.responses().onNext(response(B, "n2", Map.of()));
        assertEquals("n2", s.next().getResponseNonce());
        assertTrue(client.synced());
        assertTrue(client.connected());
        assertEquals(Map.of(A, Map.of("x", "one".hashCode() + "", "y", "two".hashCode() + ""), B, Map.of()),
                client.versions());

        now.set(now.get().plusSeconds(42));
        assertEquals(42.0, client.secondsSinceLastUpdate().orElseThrow(), 1e-9);

        s.responses().onNext(response(A, "n3", Map.of("y", "three"), "x"));
        assertEquals("n3", s.next().getResponseNonce());
        assertEquals(Map.of("y", "three"), proxy.of(A));
        assertEquals(0.0, client.secondsSinceLastUpdate().orElseThrow(), 1e-9);
    }

    @Test
    void aRejectedResponseIsNackedAndChangesNothing() throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        client.register(registry);
        client.start();
        ServerStream s = streams.poll(30, TimeUnit.SECONDS);
        s.next();
        s.next();
        s.responses().onNext(response(A, "n1", Map.of("x", "one")));
        s.next();

        s.responses().onNext(response(A, "n2", Map.of("x", "changed", "z", "bad")));
        DeltaRequest nack = s.next();
        assertEquals("n2", nack.getResponseNonce());
        assertEquals(Status.Code.INVALID_ARGUMENT.value(), nack.getErrorDetail().getCode());
        assertEquals("z: value bad (expected: anything else)", nack.getErrorDetail().getMessage());
        assertEquals(Map.of("x", "one"), proxy.of(A), "the handler kept its last good state");
        assertEquals(Map.of("x", "one".hashCode() + ""), client.versions().get(A), "and so did the client");

        // A resource of the wrong type is refused before the handler sees it.
        s.responses().onNext(DeltaResponse.newBuilder().setTypeUrl(A).setNonce("n3").addResources(Resource.newBuilder()
                .setName("w").setResource(Any.newBuilder().setTypeUrl(B))).build());
        DeltaRequest nack2 = s.next();
        assertEquals("resource w: type " + B + " (expected: " + A + ")", nack2.getErrorDetail().getMessage());

        String metrics = scrape(registry);
        assertTrue(metrics.contains("xds_client_updates_total{result=\"nack\",type=\"google.protobuf.StringValue\"} 2.0"),
                metrics);
        assertTrue(metrics.contains("xds_client_updates_total{result=\"ack\",type=\"google.protobuf.StringValue\"} 1.0"),
                metrics);
        assertTrue(metrics.contains("xds_client_resources{type=\"" + A + "\"} 1.0"), metrics);
    }

    @Test
    void keepsItsStateWhileTheServerIsAwayAndResyncsWithWhatItHolds() throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        client.register(registry);
        client.start();
        ServerStream s = streams.poll(30, TimeUnit.SECONDS);
        s.next();
        s.next();
        s.responses().onNext(response(A, "n1", Map.of("x", "one", "y", "two")));
        s.next();
        s.responses().onNext(response(B, "n2", Map.of("b", "")));
        s.next();
        assertTrue(client.synced());

        // The control plane goes away: the stream breaks, the server is gone for a while.
        int port = server.port();
        server.close();
        Await.until(() -> !client.connected(), () -> "client noticed the outage");
        now.set(now.get().plusSeconds(90));
        assertEquals(Map.of("x", "one", "y", "two"), proxy.of(A), "the last good state stays");
        assertTrue(client.synced(), "synced stays true across an outage");
        assertTrue(scrape(registry).contains("xds_client_seconds_since_update 90.0"), scrape(registry));
        assertTrue(scrape(registry).contains("xds_client_connected 0.0"));

        server = startServer(port);
        ServerStream again = streams.poll(30, TimeUnit.SECONDS);
        DeltaRequest ra = again.next();
        DeltaRequest rb = again.next();
        assertEquals(NODE, ra.getNode());
        assertEquals(Map.of("x", "one".hashCode() + "", "y", "two".hashCode() + ""), ra.getInitialResourceVersionsMap());
        assertEquals(Map.of("b", "".hashCode() + ""), rb.getInitialResourceVersionsMap());

        // The server answers with the difference only: y changed, x was deleted meanwhile.
        again.responses().onNext(response(A, "m1", Map.of("y", "two-b"), "x"));
        assertEquals("m1", again.next().getResponseNonce());
        assertEquals(Map.of("y", "two-b"), proxy.of(A));
        assertEquals(Map.of("y", "two-b".hashCode() + ""), client.versions().get(A));
        assertTrue(client.connected());
    }

    @Test
    void closeEndsTheStreamAndStopsReconnecting() throws Exception {
        client.start();
        ServerStream s = streams.poll(30, TimeUnit.SECONDS);
        s.next();
        client.close();
        server.close();
        server = startServer(0);
        // Nothing to wait for deterministically except absence; the executor is shut, so no task can run.
        assertFalse(client.connected());
        assertTrue(streams.isEmpty());
    }

    static String scrape(PrometheusRegistry registry) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        return out.toString(StandardCharsets.UTF_8);
    }
}
