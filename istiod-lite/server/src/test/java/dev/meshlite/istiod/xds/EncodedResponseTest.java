package dev.meshlite.istiod.xds;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import dev.meshlite.istiod.api.xds.v1.DeltaResponse;
import dev.meshlite.istiod.api.xds.v1.Resource;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.Test;

/** A shared body plus a per-stream nonce is, byte for byte, a DeltaResponse a proxy parses. */
class EncodedResponseTest {

    private static DeltaResponse.Builder response() {
        return DeltaResponse.newBuilder().setTypeUrl(XdsSnapshot.WORKLOAD).setSystemVersionInfo("v7")
                .addResources(Resource.newBuilder().setName("uid-1").setVersion("abc")
                        .setResource(Any.newBuilder().setTypeUrl(XdsSnapshot.WORKLOAD)
                                .setValue(ByteString.copyFromUtf8("x".repeat(300)))))
                .addRemovedResources("uid-0");
    }

    @Test
    void bodyAndNonceParseAsTheWholeResponse() throws IOException {
        byte[] body = EncodedResponse.body(response().build());
        EncodedResponse a = EncodedResponse.of(body, "3-41");
        EncodedResponse b = EncodedResponse.of(body, "9-2");
        DeltaResponse expected = response().setNonce("3-41").build();
        assertEquals(expected, DeltaResponse.parseFrom(EncodedResponse.MARSHALLER.stream(a)));
        assertEquals("9-2", DeltaResponse.parseFrom(EncodedResponse.MARSHALLER.stream(b)).getNonce());
        assertEquals(expected.getSerializedSize(), a.size());
    }

    @Test
    void readingAndDrainingGiveTheSameBytesAndTheDeclaredLength() throws IOException {
        EncodedResponse r = EncodedResponse.of(EncodedResponse.body(response().build()), "1-1");
        InputStream drained = EncodedResponse.MARSHALLER.stream(r);
        assertEquals(r.size(), ((KnownLength) drained).available());
        ByteArrayOutputStream viaDrain = new ByteArrayOutputStream();
        assertEquals(r.size(), ((Drainable) drained).drainTo(viaDrain));

        InputStream read = EncodedResponse.MARSHALLER.stream(r);
        ByteArrayOutputStream viaRead = new ByteArrayOutputStream();
        byte[] small = new byte[7]; // crosses the body/nonce boundary mid-read
        int n;
        while ((n = read.read(small, 0, small.length)) > 0) {
            viaRead.write(small, 0, n);
        }
        assertEquals(-1, read.read());
        assertArrayEquals(viaDrain.toByteArray(), viaRead.toByteArray());
        assertArrayEquals(response().setNonce("1-1").build().toByteArray(), viaRead.toByteArray());

        InputStream partly = EncodedResponse.MARSHALLER.stream(r);
        partly.readNBytes(r.size() - 2); // into the nonce: draining gives the rest
        ByteArrayOutputStream rest = new ByteArrayOutputStream();
        assertEquals(2, ((Drainable) partly).drainTo(rest));
        assertEquals(2, rest.size());
    }

    @Test
    void aBodyMustNotCarryANonce() {
        assertThrows(IllegalArgumentException.class, () -> EncodedResponse.body(response().setNonce("1").build()));
    }
}
