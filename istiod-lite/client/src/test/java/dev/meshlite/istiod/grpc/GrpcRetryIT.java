package dev.meshlite.istiod.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.istiod.api.xds.v1.DeltaRequest;
import dev.meshlite.istiod.api.xds.v1.DeltaResponse;
import dev.meshlite.istiod.grpc.ScriptedGrpcServer.Action;
import dev.meshlite.istiod.grpc.ScriptedGrpcServer.Step;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link GrpcChannel}'s transparent retry, against a server that refuses streams or goes away
 * below them on cue ({@link ScriptedGrpcServer}): a call the server never took is started again
 * once, with its messages, its metadata and what is left of its deadline; a call the server
 * answered, or one too large to repeat, is not.
 */
class GrpcRetryIT {

    static final String DELTA = GrpcChannelIT.DELTA;
    static final Duration WAIT = GrpcChannelIT.WAIT;
    static final Map<String, String> TOKEN = Map.of("authorization", "Bearer t");

    final TestCa ca = TestCa.create("cluster.local");
    final ExecutorService callbacks = Executors.newSingleThreadExecutor();
    ScriptedGrpcServer server;
    GrpcChannel channel;

    void start(IntFunction<Step> script) throws Exception {
        server = new ScriptedGrpcServer(ca, script);
        channel = server.channel(ca);
    }

    @AfterEach
    void stop() {
        if (channel != null) {
            channel.close();
        }
        if (server != null) {
            server.close();
        }
        callbacks.shutdownNow();
    }

    CompletableFuture<DeltaResponse> unary(String nonce) {
        return channel.unary(DELTA, DeltaRequest.newBuilder().setResponseNonce(nonce).build(), TOKEN,
                DeltaResponse.parser(), WAIT);
    }

    static GrpcStatus failure(CompletableFuture<?> call) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(WAIT.toSeconds(), TimeUnit.SECONDS));
        return assertInstanceOf(GrpcException.class, e.getCause()).status();
    }

    @Test
    void aRefusedStreamIsStartedAgainWithItsRequestMetadataAndDeadline() throws Exception {
        start(n -> n == 1 ? new Step(Action.REFUSE, 1) : Step.SERVE);
        assertEquals("a", unary("a").get(WAIT.toSeconds(), TimeUnit.SECONDS).getNonce());

        assertEquals(2, server.seen.size(), server.seen.toString());
        for (ScriptedGrpcServer.Seen s : server.seen) {
            assertEquals(List.of("a"), s.nonces(), "the request, sent again");
            assertEquals("Bearer t", s.authorization(), "the metadata, sent again");
            assertTrue(s.timeout().endsWith("m"), "the deadline, sent again: " + s.timeout());
        }
        long first = Long.parseLong(server.seen.get(0).timeout().replace("m", ""));
        long second = Long.parseLong(server.seen.get(1).timeout().replace("m", ""));
        assertTrue(second <= first, "the retry carries what is left of the deadline, not a new one: " + first + ", " + second);
        assertEquals(1, server.connections(), "a refused stream does not condemn its connection");
    }

    @Test
    void aStreamRefusedTwiceFailsAfterOneRetry() throws Exception {
        start(n -> new Step(Action.REFUSE, 1));
        GrpcStatus status = failure(unary("a"));
        assertEquals(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE,
                "stream reset by the server (REFUSED_STREAM) (after one transparent retry)"), status);
        assertEquals(2, server.seen.size(), "one retry, no loop: " + server.seen);

        // The next call has its own retry.
        failure(unary("b"));
        assertEquals(4, server.seen.size(), server.seen.toString());
    }

    @Test
    void aGoAwayBelowTheStreamMovesTheCallToANewConnection() throws Exception {
        start(n -> n == 1 ? new Step(Action.GO_AWAY, 1) : Step.SERVE);
        assertEquals("a", unary("a").get(WAIT.toSeconds(), TimeUnit.SECONDS).getNonce());
        assertEquals(List.of(1, 2), server.seen.stream().map(ScriptedGrpcServer.Seen::connection).toList(),
                "the retry went to a new connection, not to the one going away");
        assertEquals(List.of("a"), server.seen.get(1).nonces());

        assertEquals("b", unary("b").get(WAIT.toSeconds(), TimeUnit.SECONDS).getNonce());
        assertEquals(2, server.seen.get(2).connection(), "later calls stay off the retired connection");
        assertEquals(2, server.connections());
    }

    @Test
    void aRefusedStreamingCallReplaysWhatItSentAndGoesOn() throws Exception {
        start(n -> n == 1 ? new Step(Action.REFUSE, 3) : Step.SERVE);
        GrpcChannelIT.Collector c = new GrpcChannelIT.Collector();
        GrpcChannel.ClientStream<DeltaRequest> s = channel.stream(DELTA, TOKEN, DeltaResponse.parser(), c, callbacks);
        for (String nonce : List.of("a", "b", "c")) {
            s.send(DeltaRequest.newBuilder().setResponseNonce(nonce).build());
        }
        assertEquals("a", c.next().getNonce());
        assertEquals("b", c.next().getNonce());
        assertEquals("c", c.next().getNonce());
        s.send(DeltaRequest.newBuilder().setResponseNonce("d").build());
        assertEquals("d", c.next().getNonce());
        s.halfClose();
        assertEquals(GrpcStatus.Code.OK, c.closed.await().code());

        assertEquals(List.of("a", "b", "c"), server.seen.get(0).nonces());
        assertEquals(List.of("a", "b", "c", "d"), server.seen.get(1).nonces(),
                "the retried stream got the three sent messages in order, then the new one");
        assertTrue(c.responses.isEmpty(), "nothing of the refused attempt reached the listener");
    }

    @Test
    void aCallTheServerAnsweredIsNotRepeated() throws Exception {
        start(n -> new Step(Action.ANSWER_THEN_REFUSE, 1));
        GrpcStatus status = failure(unary("a"));
        assertEquals(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "stream reset by the server (REFUSED_STREAM)"), status);
        assertEquals(1, server.seen.size(), server.seen.toString());
    }

    @Test
    void aCallThatSentMoreThanTheReplayBufferIsNotRepeated() throws Exception {
        start(n -> new Step(Action.REFUSE, 2));
        GrpcChannelIT.Collector c = new GrpcChannelIT.Collector();
        GrpcChannel.ClientStream<DeltaRequest> s = channel.stream(DELTA, Map.of(), DeltaResponse.parser(), c, callbacks);
        String big = "x".repeat(GrpcCall.MAX_REPLAY_BYTES / 2 + 1);
        s.send(DeltaRequest.newBuilder().setResponseNonce(big).build());
        s.send(DeltaRequest.newBuilder().setResponseNonce(big).build());
        assertEquals(GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "stream reset by the server (REFUSED_STREAM)"),
                c.closed.await());
        assertEquals(1, server.seen.size(), "over " + GrpcCall.MAX_REPLAY_BYTES + " bytes sent: no copy kept, no retry");
    }
}
