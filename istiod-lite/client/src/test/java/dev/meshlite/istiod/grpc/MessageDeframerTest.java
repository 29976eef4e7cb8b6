package dev.meshlite.istiod.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MessageDeframerTest {

    static byte[] framed(byte[]... messages) {
        ByteBuf all = Unpooled.buffer();
        for (byte[] m : messages) {
            all.writeBytes(GrpcCall.frame(m));
        }
        byte[] out = new byte[all.readableBytes()];
        all.readBytes(out);
        return out;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void everySplitOfTheBytesGivesTheSameMessages() throws Exception {
        byte[] wire = framed(bytes("first"), new byte[0], bytes("the third message"));
        for (int cut1 = 0; cut1 <= wire.length; cut1++) {
            for (int cut2 = cut1; cut2 <= wire.length; cut2++) {
                MessageDeframer d = new MessageDeframer(1024);
                List<byte[]> out = new ArrayList<>();
                d.add(Unpooled.wrappedBuffer(wire, 0, cut1), out::add);
                d.add(Unpooled.wrappedBuffer(wire, cut1, cut2 - cut1), out::add);
                d.add(Unpooled.wrappedBuffer(wire, cut2, wire.length - cut2), out::add);
                String at = "cuts " + cut1 + "/" + cut2;
                assertEquals(3, out.size(), at);
                assertArrayEquals(bytes("first"), out.get(0), at);
                assertArrayEquals(new byte[0], out.get(1), at);
                assertArrayEquals(bytes("the third message"), out.get(2), at);
                assertFalse(d.partial(), at);
            }
        }
    }

    @Test
    void partialWhileAPrefixOrBodyIsIncomplete() throws Exception {
        byte[] wire = framed(bytes("abc"));
        MessageDeframer d = new MessageDeframer(1024);
        List<byte[]> out = new ArrayList<>();
        assertFalse(d.partial());
        d.add(Unpooled.wrappedBuffer(wire, 0, 2), out::add);
        assertTrue(d.partial(), "inside the prefix");
        d.add(Unpooled.wrappedBuffer(wire, 2, 4), out::add);
        assertTrue(d.partial(), "inside the body");
        d.add(Unpooled.wrappedBuffer(wire, 6, 2), out::add);
        assertFalse(d.partial());
        assertEquals(1, out.size());
    }

    @Test
    void aMessageOverTheLimitIsRefusedFromItsPrefix() {
        MessageDeframer d = new MessageDeframer(10);
        // Only the prefix arrives: the 2 GiB claim is refused before any body is held.
        byte[] prefix = {0, (byte) 0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xff};
        GrpcException e = assertThrows(GrpcException.class, () -> d.add(Unpooled.wrappedBuffer(prefix), m -> {}));
        assertEquals(GrpcStatus.Code.RESOURCE_EXHAUSTED, e.status().code());
        assertEquals("RESOURCE_EXHAUSTED: response message of 2147483647 bytes (expected: at most 10)", e.getMessage());

        MessageDeframer exact = new MessageDeframer(3);
        List<byte[]> out = new ArrayList<>();
        assertThrows(GrpcException.class, () -> exact.add(Unpooled.wrappedBuffer(framed(bytes("abcd"))), out::add));
        assertTrue(out.isEmpty());
    }

    @Test
    void compressedOrUnknownFlagsAreRefused() throws Exception {
        byte[] compressed = framed(bytes("x"));
        compressed[0] = 1;
        GrpcException c = assertThrows(GrpcException.class,
                () -> new MessageDeframer(100).add(Unpooled.wrappedBuffer(compressed), m -> {}));
        assertEquals(GrpcStatus.Code.INTERNAL, c.status().code());
        assertTrue(c.getMessage().contains("compressed"), c.getMessage());

        byte[] odd = framed(bytes("x"));
        odd[0] = 7;
        GrpcException o = assertThrows(GrpcException.class,
                () -> new MessageDeframer(100).add(Unpooled.wrappedBuffer(odd), m -> {}));
        assertEquals("INTERNAL: message flag 7 (expected: 0, uncompressed)", o.getMessage());
    }

    @Test
    void messagesBeforeABadPrefixAreDelivered() {
        byte[] good = framed(bytes("ok"));
        byte[] bad = framed(bytes("no"));
        bad[0] = 1;
        byte[] wire = new byte[good.length + bad.length];
        System.arraycopy(good, 0, wire, 0, good.length);
        System.arraycopy(bad, 0, wire, good.length, bad.length);
        List<byte[]> out = new ArrayList<>();
        assertThrows(GrpcException.class, () -> new MessageDeframer(100).add(Unpooled.wrappedBuffer(wire), out::add));
        assertEquals(1, out.size());
        assertArrayEquals(bytes("ok"), out.getFirst());
    }
}
