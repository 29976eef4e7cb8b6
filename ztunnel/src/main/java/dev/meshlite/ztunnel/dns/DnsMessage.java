package dev.meshlite.ztunnel.dns;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.List;
import java.util.Locale;

/**
 * The part of the DNS wire format (RFC 1035) the proxy needs: a query's header and its one
 * question, read without trusting a byte of it, and the answers built from a query. Names are
 * kept lower-case without the trailing dot; the question is echoed back byte for byte.
 *
 * @param id       the query's id
 * @param flags    the query's header flags (QR, opcode, RD, ...)
 * @param name     the question's name, lower-case, no trailing dot ("" for the root)
 * @param type     QTYPE
 * @param qclass   QCLASS
 * @param question the question's bytes as sent (name, type, class)
 */
public record DnsMessage(int id, int flags, String name, int type, int qclass, byte[] question) {

    public static final int HEADER = 12;
    public static final int TYPE_A = 1;
    public static final int TYPE_AAAA = 28;
    public static final int CLASS_IN = 1;

    public static final int NOERROR = 0;
    public static final int FORMERR = 1;
    public static final int SERVFAIL = 2;
    public static final int NXDOMAIN = 3;
    public static final int NOTIMP = 4;
    public static final int REFUSED = 5;

    private static final int QR = 0x8000;
    private static final int AA = 0x0400;
    private static final int RD = 0x0100;
    private static final int RA = 0x0080;
    private static final int MAX_NAME = 255;

    /** A message that cannot be read as a query; {@link #id} is -1 when not even the header was there. */
    public static final class Malformed extends Exception {
        private final int id;

        Malformed(int id, String why) {
            super(why);
            this.id = id;
        }

        public int id() {
            return id;
        }
    }

    /** The opcode (0: standard query). */
    public int opcode() {
        return (flags >> 11) & 0xF;
    }

    public boolean recursionDesired() {
        return (flags & RD) != 0;
    }

    /**
     * Reads a query: a 12-byte header with QR clear and exactly one question. Anything else is
     * {@link Malformed}, with the id when the header was readable so that FORMERR can be sent.
     */
    public static DnsMessage parseQuery(byte[] m) throws Malformed {
        if (m.length < HEADER) {
            throw new Malformed(-1, m.length + " bytes, shorter than a DNS header");
        }
        int id = u16(m, 0);
        int flags = u16(m, 2);
        if ((flags & QR) != 0) {
            throw new Malformed(-1, "a response, not a query");
        }
        int qdcount = u16(m, 4);
        if (qdcount != 1) {
            throw new Malformed(id, qdcount + " questions (expected 1)");
        }
        StringBuilder name = new StringBuilder();
        int at = HEADER;
        while (true) {
            if (at >= m.length) {
                throw new Malformed(id, "question name runs past the message");
            }
            int len = m[at] & 0xFF;
            if (len == 0) {
                at++;
                break;
            }
            if ((len & 0xC0) != 0) {
                throw new Malformed(id, "compressed or extended label in the question");
            }
            if (at + 1 + len > m.length) {
                throw new Malformed(id, "label runs past the message");
            }
            if (!name.isEmpty()) {
                name.append('.');
            }
            for (int i = 0; i < len; i++) {
                char c = (char) (m[at + 1 + i] & 0xFF);
                if (c == '.' || c < 0x21 || c > 0x7E) {
                    throw new Malformed(id, "label byte 0x" + Integer.toHexString(c) + " in the question name");
                }
                name.append(c);
            }
            if (name.length() > MAX_NAME) {
                throw new Malformed(id, "question name longer than " + MAX_NAME);
            }
            at += 1 + len;
        }
        if (at + 4 > m.length) {
            throw new Malformed(id, "question type and class missing");
        }
        int type = u16(m, at);
        int qclass = u16(m, at + 2);
        byte[] question = java.util.Arrays.copyOfRange(m, HEADER, at + 4);
        return new DnsMessage(id, flags, name.toString().toLowerCase(Locale.ROOT), type, qclass, question);
    }

    /**
     * The authoritative answer: the addresses of {@code addresses} that fit the question's type
     * (A: IPv4, AAAA: IPv6), each with {@code ttlSeconds}; none fitting is NOERROR without
     * answers (the name exists, the type does not), as resolvers expect for a Service without an
     * IPv6 address.
     */
    public byte[] answer(List<InetAddress> addresses, int ttlSeconds) {
        List<InetAddress> fit = addresses.stream().filter(a -> type == TYPE_A ? a instanceof Inet4Address
                : type == TYPE_AAAA && a instanceof Inet6Address).toList();
        ByteArrayOutputStream out = header(NOERROR, true, fit.size());
        for (InetAddress a : fit) {
            put16(out, 0xC000 | HEADER); // the name: a pointer to the question's
            put16(out, type);
            put16(out, CLASS_IN);
            put16(out, ttlSeconds >>> 16);
            put16(out, ttlSeconds & 0xFFFF);
            byte[] raw = a.getAddress();
            put16(out, raw.length);
            out.writeBytes(raw);
        }
        return out.toByteArray();
    }

    /** A response without answers carrying {@code rcode}; authoritative for NXDOMAIN. */
    public byte[] error(int rcode) {
        return header(rcode, rcode == NXDOMAIN, 0).toByteArray();
    }

    /** FORMERR for a query whose header had an id but whose question could not be read. */
    public static byte[] formatError(int id, byte[] query) {
        byte[] r = new byte[HEADER];
        r[0] = (byte) (id >> 8);
        r[1] = (byte) id;
        int flags = QR | RA | (u16(query, 2) & (0x7800 | RD)) | FORMERR;
        r[2] = (byte) (flags >> 8);
        r[3] = (byte) flags;
        return r;
    }

    /** The message's id (first two bytes); -1 if too short. */
    public static int idOf(byte[] m) {
        return m.length < 2 ? -1 : u16(m, 0);
    }

    /** A copy of {@code m} carrying {@code id}. */
    public static byte[] withId(byte[] m, int id) {
        byte[] c = m.clone();
        c[0] = (byte) (id >> 8);
        c[1] = (byte) id;
        return c;
    }

    /** Whether {@code m} is a response (QR set) long enough to hold a header. */
    public static boolean isResponse(byte[] m) {
        return m.length >= HEADER && (u16(m, 2) & QR) != 0;
    }

    private ByteArrayOutputStream header(int rcode, boolean authoritative, int answers) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(HEADER + question.length + answers * 28);
        put16(out, id);
        put16(out, QR | (flags & (0x7800 | RD)) | (authoritative ? AA : 0) | RA | rcode);
        put16(out, 1);
        put16(out, answers);
        put16(out, 0);
        put16(out, 0);
        out.writeBytes(question);
        return out;
    }

    private static int u16(byte[] m, int at) {
        return ((m[at] & 0xFF) << 8) | (m[at + 1] & 0xFF);
    }

    private static void put16(ByteArrayOutputStream out, int v) {
        out.write(v >> 8);
        out.write(v);
    }
}
