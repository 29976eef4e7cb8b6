package dev.meshlite.ztunnel.dns;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class DnsMessageTest {

    /** A standard query with RD set, as a stub resolver sends it. */
    static byte[] query(int id, String name, int type) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) (id >> 8), (byte) id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            out.write(label.length());
            out.writeBytes(label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
        out.write(0);
        out.writeBytes(new byte[] {(byte) (type >> 8), (byte) type, 0, 1});
        return out.toByteArray();
    }

    /** The addresses in a response's answer section (A and AAAA records only). */
    static List<InetAddress> addresses(byte[] response) throws Exception {
        ByteBuffer b = ByteBuffer.wrap(response);
        int answers = Short.toUnsignedInt(b.getShort(6));
        int at = DnsMessage.HEADER;
        while (response[at] != 0) {
            at += 1 + (response[at] & 0xFF);
        }
        b.position(at + 1 + 4); // the name's end, type and class
        List<InetAddress> out = new java.util.ArrayList<>();
        for (int i = 0; i < answers; i++) {
            assertEquals((short) 0xC00C, b.getShort(), "answer name points at the question");
            b.getShort(); // type
            assertEquals(1, b.getShort(), "class IN");
            b.getInt(); // ttl
            byte[] rdata = new byte[Short.toUnsignedInt(b.getShort())];
            b.get(rdata);
            out.add(InetAddress.getByAddress(rdata));
        }
        assertEquals(response.length, b.position(), "nothing after the answers");
        return out;
    }

    static int rcode(byte[] response) {
        return response[3] & 0x0F;
    }

    @Test
    void aQueryIsReadAndAnsweredWithTheAddressesOfItsType() throws Exception {
        byte[] raw = query(0xBEEF, "Backend.Shop.svc.cluster.local", DnsMessage.TYPE_A);
        DnsMessage q = DnsMessage.parseQuery(raw);
        assertEquals(0xBEEF, q.id());
        assertEquals("backend.shop.svc.cluster.local", q.name());
        assertEquals(DnsMessage.TYPE_A, q.type());
        assertTrue(q.recursionDesired());
        List<InetAddress> vips = List.of(InetAddress.ofLiteral("10.96.0.20"), InetAddress.ofLiteral("fd00::20"));

        byte[] a = q.answer(vips, 30);
        assertEquals(0xBEEF, DnsMessage.idOf(a));
        assertTrue(DnsMessage.isResponse(a));
        assertEquals(DnsMessage.NOERROR, rcode(a));
        assertEquals(0x04, a[2] & 0x04, "authoritative");
        assertEquals(0x01, a[2] & 0x01, "RD copied");
        assertArrayEquals(java.util.Arrays.copyOfRange(raw, 12, raw.length),
                java.util.Arrays.copyOfRange(a, 12, raw.length), "the question is echoed as sent");
        assertEquals(List.of(InetAddress.ofLiteral("10.96.0.20")), addresses(a));

        DnsMessage q6 = DnsMessage.parseQuery(query(7, "backend.shop.svc.cluster.local", DnsMessage.TYPE_AAAA));
        assertEquals(List.of(InetAddress.ofLiteral("fd00::20")), addresses(q6.answer(vips, 30)));
        // A type the name has no record of: NOERROR and no answer, so the resolver stops asking.
        DnsMessage mx = DnsMessage.parseQuery(query(8, "backend.shop.svc.cluster.local", 15));
        byte[] none = mx.answer(vips, 30);
        assertEquals(DnsMessage.NOERROR, rcode(none));
        assertEquals(List.of(), addresses(none));
    }

    @Test
    void errorsKeepTheIdAndTheQuestion() throws Exception {
        DnsMessage q = DnsMessage.parseQuery(query(42, "nope.cluster.local", DnsMessage.TYPE_A));
        byte[] nx = q.error(DnsMessage.NXDOMAIN);
        assertEquals(42, DnsMessage.idOf(nx));
        assertEquals(DnsMessage.NXDOMAIN, rcode(nx));
        assertEquals(List.of(), addresses(nx));
        assertEquals(DnsMessage.SERVFAIL, rcode(q.error(DnsMessage.SERVFAIL)));
    }

    static Stream<Arguments> malformed() {
        byte[] ok = query(5, "a.b", DnsMessage.TYPE_A);
        byte[] twoQuestions = ok.clone();
        twoQuestions[5] = 2;
        byte[] response = ok.clone();
        response[2] |= (byte) 0x80;
        byte[] pointer = ok.clone();
        pointer[12] = (byte) 0xC0;
        byte[] longLabel = ok.clone();
        longLabel[12] = 60;
        byte[] noType = java.util.Arrays.copyOf(ok, ok.length - 3);
        byte[] badByte = ok.clone();
        badByte[13] = ' ';
        return Stream.of(
                Arguments.of("empty", new byte[0], -1),
                Arguments.of("header cut short", java.util.Arrays.copyOf(ok, 11), -1),
                Arguments.of("a response", response, -1),
                Arguments.of("two questions", twoQuestions, 5),
                Arguments.of("a compression pointer in the question", pointer, 5),
                Arguments.of("a label past the end", longLabel, 5),
                Arguments.of("type and class cut off", noType, 5),
                Arguments.of("a space in a label", badByte, 5));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void malformedQueriesAreRefusedWithTheIdWhenThereIsOne(String what, byte[] m, int id) {
        DnsMessage.Malformed e = assertThrows(DnsMessage.Malformed.class, () -> DnsMessage.parseQuery(m));
        assertEquals(id, e.id(), what);
        if (id >= 0) {
            byte[] r = DnsMessage.formatError(id, m);
            assertEquals(id, DnsMessage.idOf(r));
            assertEquals(DnsMessage.FORMERR, rcode(r));
            assertTrue(DnsMessage.isResponse(r));
        }
    }

    @Test
    void aLongNameIsRefused() {
        String label = "a".repeat(63);
        String name = String.join(".", label, label, label, label, label);
        DnsMessage.Malformed e = assertThrows(DnsMessage.Malformed.class,
                () -> DnsMessage.parseQuery(query(1, name, DnsMessage.TYPE_A)));
        assertTrue(e.getMessage().contains("longer than 255"), e.getMessage());
    }
}
