package dev.meshlite.hbone.tls;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;

/**
 * DER (ITU-T X.690) for the few structures the data plane builds or reads itself: a PKCS#10
 * request, a throwaway self-signed certificate, PKCS#1 and SEC1 keys rewrapped as PKCS#8. It
 * exists so that ztunnel's runtime needs no ASN.1 library (BouncyCastle's signed jars cost
 * megabytes of heap once their classes are verified); anything larger belongs to the CA, which
 * keeps BouncyCastle.
 *
 * <p>Every writer returns one complete encoding (tag, definite minimal length, contents), and
 * constructed types take their elements' encodings, so a structure reads as its ASN.1:
 * {@code sequence(integer(0), oid("1.2.3"))}. Inputs outside a type's value set are refused with
 * an {@link IllegalArgumentException}, never encoded loosely.
 *
 * <p>The {@link Reader} is strict DER for single-byte tags: no indefinite or non-minimal lengths,
 * nothing past an element's end.
 */
public final class Der {

    static final int INTEGER = 0x02;
    static final int BIT_STRING = 0x03;
    static final int OCTET_STRING = 0x04;
    static final int NULL = 0x05;
    static final int OID = 0x06;
    static final int UTF8_STRING = 0x0c;
    static final int PRINTABLE_STRING = 0x13;
    static final int IA5_STRING = 0x16;
    static final int UTC_TIME = 0x17;
    static final int GENERALIZED_TIME = 0x18;
    static final int SEQUENCE = 0x30;
    static final int SET = 0x31;
    private static final int CONSTRUCTED = 0x20;
    private static final int CONTEXT = 0x80;

    /** ecdsa-with-SHA256 (RFC 5758: no parameters) and sha256WithRSAEncryption (RFC 4055: NULL). */
    private static final String ECDSA_SHA256 = "1.2.840.10045.4.3.2";
    private static final String RSA_SHA256 = "1.2.840.113549.1.1.11";

    /** UTCTime carries dates through 2049, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5). */
    private static final int LAST_UTC_TIME_YEAR = 2049;
    private static final DateTimeFormatter UTC_TIME_FORMAT = DateTimeFormatter.ofPattern("yyMMddHHmmss'Z'");
    private static final DateTimeFormatter GENERALIZED_TIME_FORMAT = DateTimeFormatter.ofPattern("yyyyMMddHHmmss'Z'");

    private Der() {}

    // ---- constructed -------------------------------------------------------------------------

    public static byte[] sequence(byte[]... elements) {
        return tlv(SEQUENCE, concat(elements));
    }

    /**
     * A SET OF: DER orders the elements by their encodings (X.690 §11.6), so the order given does
     * not matter. (Every SET this code writes is a SET OF.)
     */
    public static byte[] set(byte[]... elements) {
        byte[][] sorted = elements.clone();
        Arrays.sort(sorted, Arrays::compareUnsigned);
        return tlv(SET, concat(sorted));
    }

    /** {@code [tag] EXPLICIT}: the element whole, inside a constructed context-specific tag. */
    public static byte[] explicit(int tag, byte[] element) {
        return tlv(CONTEXT | CONSTRUCTED | tagNumber(tag), element);
    }

    /**
     * {@code [tag] IMPLICIT}: the element with its tag replaced by the context-specific one; a
     * constructed element stays constructed (an implicit SET OF encodes as {@code A0}, an implicit
     * IA5String as {@code 80 | tag}).
     */
    public static byte[] implicit(int tag, byte[] element) {
        if (element.length < 2 || (element[0] & 0x1f) == 0x1f) {
            throw new IllegalArgumentException("implicit: not a single-byte-tag DER element");
        }
        byte[] out = element.clone();
        out[0] = (byte) (CONTEXT | (element[0] & CONSTRUCTED) | tagNumber(tag));
        return out;
    }

    // ---- primitive ---------------------------------------------------------------------------

    public static byte[] integer(long value) {
        return integer(BigInteger.valueOf(value));
    }

    /** Two's complement, shortest form: 128 is {@code 02 02 00 80}, -1 is {@code 02 01 FF}. */
    public static byte[] integer(BigInteger value) {
        return tlv(INTEGER, value.toByteArray());
    }

    public static byte[] nullValue() {
        return new byte[] {NULL, 0};
    }

    /** A BIT STRING of whole bytes (no unused bits): how keys and signatures are carried. */
    public static byte[] bitString(byte[] bytes) {
        byte[] content = new byte[bytes.length + 1];
        System.arraycopy(bytes, 0, content, 1, bytes.length);
        return tlv(BIT_STRING, content);
    }

    public static byte[] octetString(byte[] bytes) {
        return tlv(OCTET_STRING, bytes);
    }

    /** An OBJECT IDENTIFIER from its dotted form ({@code "1.2.840.10045.2.1"}). */
    public static byte[] oid(String dotted) {
        String[] parts = dotted.split("\\.", -1);
        long[] arcs = new long[parts.length];
        try {
            for (int i = 0; i < parts.length; i++) {
                if (parts[i].isEmpty() || !parts[i].chars().allMatch(c -> c >= '0' && c <= '9')) {
                    throw new NumberFormatException(parts[i]);
                }
                arcs[i] = Long.parseLong(parts[i]);
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("oid: '" + dotted + "' (expected: dotted decimal arcs)");
        }
        if (arcs.length < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] >= 40)
                || arcs[1] > Long.MAX_VALUE - 80) {
            throw new IllegalArgumentException("oid: '" + dotted
                    + "' (expected: at least two arcs, the first 0, 1 or 2, the second < 40 unless the first is 2)");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        base128(out, arcs[0] * 40 + arcs[1]);
        for (int i = 2; i < arcs.length; i++) {
            base128(out, arcs[i]);
        }
        return tlv(OID, out.toByteArray());
    }

    public static byte[] utf8String(String s) {
        return tlv(UTF8_STRING, s.getBytes(StandardCharsets.UTF_8));
    }

    /** PrintableString: letters, digits, space and {@code '()+,-./:=?}; anything else is refused. */
    public static byte[] printableString(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || " '()+,-./:=?".indexOf(c) >= 0;
            if (!ok) {
                throw new IllegalArgumentException("printableString: '" + c + "' at " + i + " in '" + s
                        + "' (expected: A-Z a-z 0-9 space '()+,-./:=?)");
            }
        }
        return tlv(PRINTABLE_STRING, s.getBytes(StandardCharsets.US_ASCII));
    }

    /** IA5String (ASCII): how X.509 carries URIs, DNS names and e-mail addresses. */
    public static byte[] ia5String(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) > 0x7f) {
                throw new IllegalArgumentException("ia5String: non-ASCII character at " + i + " in '" + s + "'");
            }
        }
        return tlv(IA5_STRING, s.getBytes(StandardCharsets.US_ASCII));
    }

    /** UTCTime to the second ({@code YYMMDDHHMMSSZ}); the instant must fall in 1950..2049. */
    public static byte[] utcTime(Instant t) {
        ZonedDateTime z = t.atZone(ZoneOffset.UTC);
        if (z.getYear() < 1950 || z.getYear() > LAST_UTC_TIME_YEAR) {
            throw new IllegalArgumentException("utcTime: " + t + " (expected: a year in 1950..2049)");
        }
        return tlv(UTC_TIME, UTC_TIME_FORMAT.format(z).getBytes(StandardCharsets.US_ASCII));
    }

    /** GeneralizedTime to the second ({@code YYYYMMDDHHMMSSZ}); years 0000..9999. */
    public static byte[] generalizedTime(Instant t) {
        ZonedDateTime z = t.atZone(ZoneOffset.UTC);
        if (z.getYear() < 0 || z.getYear() > 9999) {
            throw new IllegalArgumentException("generalizedTime: " + t + " (expected: a year in 0..9999)");
        }
        return tlv(GENERALIZED_TIME, GENERALIZED_TIME_FORMAT.format(z).getBytes(StandardCharsets.US_ASCII));
    }

    /** An X.509 Time: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
    public static byte[] time(Instant t) {
        return t.atZone(ZoneOffset.UTC).getYear() <= LAST_UTC_TIME_YEAR ? utcTime(t) : generalizedTime(t);
    }

    // ---- signing -----------------------------------------------------------------------------

    /**
     * The AlgorithmIdentifier {@link #signed} signs with: ecdsa-with-SHA256 for an EC key,
     * sha256WithRSAEncryption for an RSA key. A TBSCertificate repeats it in its own fields.
     */
    public static byte[] signatureAlgorithm(PrivateKey key) {
        return switch (key.getAlgorithm()) {
            case "EC" -> sequence(oid(ECDSA_SHA256));
            case "RSA" -> sequence(oid(RSA_SHA256), nullValue());
            default -> throw new IllegalArgumentException("signing key algorithm " + key.getAlgorithm()
                    + " (expected: EC or RSA)");
        };
    }

    /**
     * {@code SIGNED{toBeSigned}} as X.509 certificates and PKCS#10 requests share it:
     * {@code SEQUENCE { toBeSigned, signatureAlgorithm(key), BIT STRING signature }}.
     */
    public static byte[] signed(byte[] toBeSigned, PrivateKey key) throws GeneralSecurityException {
        byte[] algorithm = signatureAlgorithm(key);
        Signature s = Signature.getInstance(key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA");
        s.initSign(key);
        s.update(toBeSigned);
        return sequence(toBeSigned, algorithm, bitString(s.sign()));
    }

    // ---- encoding ----------------------------------------------------------------------------

    private static int tagNumber(int tag) {
        if (tag < 0 || tag > 30) {
            throw new IllegalArgumentException("context tag [" + tag + "] (expected: 0..30)");
        }
        return tag;
    }

    static byte[] tlv(int tag, byte[] content) {
        int n = content.length;
        int lengthBytes = n < 0x80 ? 0 : (32 - Integer.numberOfLeadingZeros(n) + 7) / 8;
        byte[] out = new byte[2 + lengthBytes + n];
        out[0] = (byte) tag;
        if (lengthBytes == 0) {
            out[1] = (byte) n;
        } else {
            out[1] = (byte) (0x80 | lengthBytes);
            for (int i = 0; i < lengthBytes; i++) {
                out[2 + i] = (byte) (n >>> (8 * (lengthBytes - 1 - i)));
            }
        }
        System.arraycopy(content, 0, out, 2 + lengthBytes, n);
        return out;
    }

    private static byte[] concat(byte[][] parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static void base128(ByteArrayOutputStream out, long arc) {
        int groups = Math.max(1, (64 - Long.numberOfLeadingZeros(arc) + 6) / 7);
        for (int i = groups - 1; i >= 0; i--) {
            int b = (int) (arc >>> (7 * i)) & 0x7f;
            out.write(i == 0 ? b : b | 0x80);
        }
    }

    // ---- reading -----------------------------------------------------------------------------

    /**
     * Reads a run of DER elements (a whole input, or a constructed element's contents) in order.
     * Each read checks the next element's tag and throws an {@link IllegalArgumentException}
     * naming the offset when the input is not what the caller expects.
     */
    static final class Reader {

        private final byte[] in;
        private final int end;
        private int pos;

        Reader(byte[] der) {
            this(der, 0, der.length);
        }

        private Reader(byte[] in, int from, int to) {
            this.in = in;
            this.pos = from;
            this.end = to;
        }

        boolean hasMore() {
            return pos < end;
        }

        /** The next element's tag byte, or -1 at the end. */
        int peekTag() {
            return pos < end ? in[pos] & 0xff : -1;
        }

        /** The contents of the next element, which must carry {@code tag}. */
        byte[] read(int tag) {
            int[] span = next(tag);
            return Arrays.copyOfRange(in, span[0], span[1]);
        }

        /** The next element whole (tag, length and contents), whatever its tag. */
        byte[] element() {
            int start = pos;
            next(peekTag());
            return Arrays.copyOfRange(in, start, pos);
        }

        /** A reader over the contents of the next element, a SEQUENCE. */
        Reader sequence() {
            return constructed(SEQUENCE);
        }

        /** A reader over the contents of the next element, {@code [tag] EXPLICIT}. */
        Reader explicit(int tag) {
            return constructed(CONTEXT | CONSTRUCTED | tagNumber(tag));
        }

        BigInteger integer() {
            byte[] c = read(INTEGER);
            if (c.length == 0) {
                throw error("empty INTEGER");
            }
            return new BigInteger(c);
        }

        byte[] octetString() {
            return read(OCTET_STRING);
        }

        void nullValue() {
            if (read(NULL).length != 0) {
                throw error("NULL with contents");
            }
        }

        /** The next element, an OBJECT IDENTIFIER, in dotted form. */
        String oid() {
            byte[] c = read(OID);
            if (c.length == 0 || (c[c.length - 1] & 0x80) != 0) {
                throw error("truncated OBJECT IDENTIFIER");
            }
            StringBuilder dotted = new StringBuilder();
            long arc = 0;
            boolean first = true;
            for (int i = 0; i < c.length; i++) {
                if (arc == 0 && (c[i] & 0xff) == 0x80) {
                    throw error("OBJECT IDENTIFIER arc with a leading 0x80 (not minimal)");
                }
                if (arc > (Long.MAX_VALUE >>> 7)) {
                    throw error("OBJECT IDENTIFIER arc beyond 63 bits");
                }
                arc = (arc << 7) | (c[i] & 0x7f);
                if ((c[i] & 0x80) == 0) {
                    if (first) {
                        int top = arc < 40 ? 0 : arc < 80 ? 1 : 2;
                        dotted.append(top).append('.').append(arc - 40L * top);
                        first = false;
                    } else {
                        dotted.append('.').append(arc);
                    }
                    arc = 0;
                }
            }
            return dotted.toString();
        }

        /** Requires that nothing is left. */
        void end() {
            if (pos != end) {
                throw error((end - pos) + " unexpected trailing bytes");
            }
        }

        private Reader constructed(int tag) {
            int[] span = next(tag);
            return new Reader(in, span[0], span[1]);
        }

        /** Moves past the next element, which must carry {@code tag}; returns its contents' span. */
        private int[] next(int tag) {
            if (pos >= end) {
                throw error("end of input (expected: tag 0x" + Integer.toHexString(tag) + ")");
            }
            int actual = in[pos] & 0xff;
            if ((actual & 0x1f) == 0x1f) {
                throw error("multi-byte tag 0x" + Integer.toHexString(actual) + " (not supported)");
            }
            if (actual != tag) {
                throw error("tag 0x" + Integer.toHexString(actual) + " (expected: 0x" + Integer.toHexString(tag) + ")");
            }
            int p = pos + 1;
            if (p >= end) {
                throw error("no length");
            }
            int first = in[p++] & 0xff;
            long length;
            if (first < 0x80) {
                length = first;
            } else {
                int count = first & 0x7f;
                if (count == 0) {
                    throw error("indefinite length (not DER)");
                }
                if (count > 4 || p + count > end) {
                    throw error("length of " + count + " bytes");
                }
                length = 0;
                for (int i = 0; i < count; i++) {
                    length = (length << 8) | (in[p++] & 0xff);
                }
                if (length < 0x80 || (length >>> (8 * (count - 1))) == 0) {
                    throw error("non-minimal length (not DER)");
                }
            }
            if (length > end - p) {
                throw error("length " + length + " beyond the " + (end - p) + " bytes left");
            }
            int contentEnd = p + (int) length;
            pos = contentEnd;
            return new int[] {p, contentEnd};
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("DER at offset " + pos + ": " + what);
        }
    }
}
