package dev.meshlite.istiod.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class GrpcStatusTest {

    @Test
    void grpcMessageIsPercentDecodedUtf8() {
        assertEquals("plain text", GrpcStatus.percentDecode("plain text"));
        assertEquals("€ 100% sure", GrpcStatus.percentDecode("%E2%82%AC 100%25 sure"));
        // Malformed escapes are kept as they are, not dropped.
        assertEquals("50% off %zz %4", GrpcStatus.percentDecode("50% off %zz %4"));
    }

    @Test
    void trailerStatus() {
        assertEquals(GrpcStatus.of(GrpcStatus.Code.PERMISSION_DENIED, "no"), GrpcStatus.fromTrailer("7", "no"));
        assertEquals(GrpcStatus.Code.OK, GrpcStatus.fromTrailer("0", null).code());
        assertEquals(GrpcStatus.Code.UNKNOWN, GrpcStatus.fromTrailer("99", "").code(), "an unknown code is UNKNOWN");
        assertEquals("INTERNAL: grpc-status: 'seven' (expected: a number)",
                GrpcStatus.fromTrailer("seven", "x").toString());
    }

    @Test
    void httpStatusWithoutGrpcStatus() {
        assertEquals(GrpcStatus.Code.UNAUTHENTICATED, GrpcStatus.fromHttp(401).code());
        assertEquals(GrpcStatus.Code.PERMISSION_DENIED, GrpcStatus.fromHttp(403).code());
        assertEquals(GrpcStatus.Code.UNIMPLEMENTED, GrpcStatus.fromHttp(404).code());
        assertEquals(GrpcStatus.Code.UNAVAILABLE, GrpcStatus.fromHttp(503).code());
        assertEquals(GrpcStatus.Code.INTERNAL, GrpcStatus.fromHttp(400).code());
        assertEquals("UNKNOWN: HTTP status 500 (expected: 200 from a gRPC server)", GrpcStatus.fromHttp(500).toString());
    }

    @Test
    void codesByWireValue() {
        assertEquals(16, GrpcStatus.Code.UNAUTHENTICATED.value());
        assertEquals(GrpcStatus.Code.UNAVAILABLE, GrpcStatus.Code.of(14));
        assertEquals(GrpcStatus.Code.UNKNOWN, GrpcStatus.Code.of(-1));
    }

    @Test
    void grpcTimeoutHeader() {
        assertEquals("1m", GrpcCall.timeout(1), "rounded up, never 0");
        assertEquals("1m", GrpcCall.timeout(-5), "an expired deadline still sends a valid value");
        assertEquals("30000m", GrpcCall.timeout(TimeUnit.SECONDS.toNanos(30)));
        assertEquals("100000S", GrpcCall.timeout(TimeUnit.SECONDS.toNanos(100_000)), "8 digits at most");
        assertEquals(99_999_999 + "S", GrpcCall.timeout(Long.MAX_VALUE / 2));
    }
}
