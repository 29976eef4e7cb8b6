package dev.meshlite.hbone.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.HexFormat;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.ASN1Primitive;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Der against encodings worked out by hand from X.690 (and, where noted, against BouncyCastle as
 * an independent encoder/decoder), and the reader's refusals of what is not DER.
 */
class DerTest {

    private static final HexFormat HEX = HexFormat.of().withUpperCase();

    private static String hex(byte[] b) {
        return HEX.formatHex(b);
    }

    private static byte[] bytes(String hex) {
        return HEX.parseHex(hex.replace(" ", ""));
    }

    // ---- writing: known byte strings -----------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            // sha256WithRSAEncryption: 840 = 0x86 0x48, 113549 = 0x86 0xF7 0x0D
            "1.2.840.113549.1.1.11, 06092A864886F70D01010B",
            // prime256v1 (P-256): 10045 = 0xCE 0x3D
            "1.2.840.10045.3.1.7, 06082A8648CE3D030107",
            "2.5.29.17, 0603551D11",
            // first arc 2 with a second arc >= 40: 2*40 + 999 = 1079 = 0x88 0x37
            "2.999.3, 0603883703",
            "0.0, 060100",
            // an arc of exactly 128 needs two groups, 127 one
            "1.2.127.128, 06042A7F8100",
    })
    void oids(String dotted, String der) {
        assertEquals(der, hex(Der.oid(dotted)));
        assertEquals(dotted, new Der.Reader(bytes(der)).oid(), "and read back");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "1", "3.1", "1.40", "0.39.", "1..2", "1.2.-3", "1.2.a", "1.2.99999999999999999999"})
    void refusesMalformedOids(String dotted) {
        assertThrows(IllegalArgumentException.class, () -> Der.oid(dotted));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "0, 020100",
            "127, 02017F",
            // the high bit set: a leading zero byte keeps it positive
            "128, 02020080",
            "255, 020200FF",
            "256, 02020100",
            "-1, 0201FF",
            "-128, 020180",
            "-129, 0202FF7F",
            "9223372036854775807, 02087FFFFFFFFFFFFFFF",
    })
    void integers(long value, String der) {
        assertEquals(der, hex(Der.integer(value)));
        assertEquals(BigInteger.valueOf(value), new Der.Reader(bytes(der)).integer(), "and read back");
    }

    @Test
    void aLargePositiveIntegerWithItsHighBitSetGetsALeadingZero() {
        BigInteger twoTo64 = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE); // 8 bytes of FF
        assertEquals("020900FFFFFFFFFFFFFFFF", hex(Der.integer(twoTo64)));
    }

    @ParameterizedTest(name = "{0} content bytes")
    @CsvSource({
            "0, 0400",
            "127, 047F",
            // long form from 128 on: 0x81 then one length byte, 0x82 then two
            "128, 048180",
            "255, 0481FF",
            "256, 04820100",
            "65535, 0482FFFF",
            "65536, 0483010000",
    })
    void lengths(int n, String header) {
        byte[] der = Der.octetString(new byte[n]);
        assertEquals(header, hex(der).substring(0, header.length()));
        assertEquals(header.length() / 2 + n, der.length);
        assertEquals(n, new Der.Reader(der).octetString().length, "and read back");
    }

    @Test
    void nullBitStringAndOctetString() {
        assertEquals("0500", hex(Der.nullValue()));
        assertEquals("0303000102", hex(Der.bitString(new byte[] {1, 2})), "a leading 0: no unused bits");
        assertEquals("030100", hex(Der.bitString(new byte[0])));
        assertEquals("0402CAFE", hex(Der.octetString(bytes("CAFE"))));
    }

    @Test
    void strings() {
        assertEquals("0C02C3A9", hex(Der.utf8String("é")));
        assertEquals("13064142203A3D3F", hex(Der.printableString("AB :=?")));
        assertEquals("160A7370696666653A2F2F78", hex(Der.ia5String("spiffe://x")));
    }

    @Test
    void refusesCharactersOutsideAStringType() {
        assertThrows(IllegalArgumentException.class, () -> Der.printableString("a@b"));
        assertThrows(IllegalArgumentException.class, () -> Der.printableString("a_b"));
        assertThrows(IllegalArgumentException.class, () -> Der.ia5String("spiffe://é"));
    }

    @Test
    void timesToTheSecondInUtc() {
        Instant t = Instant.parse("2049-12-31T23:59:59.999Z");
        assertEquals("170D" + hex("491231235959Z".getBytes()), hex(Der.utcTime(t)), "fractions dropped");
        assertEquals("170D" + hex("500101000000Z".getBytes()), hex(Der.utcTime(Instant.parse("1950-01-01T00:00:00Z"))));
        assertEquals("180F" + hex("20500101000000Z".getBytes()),
                hex(Der.generalizedTime(Instant.parse("2050-01-01T00:00:00Z"))));
    }

    @Test
    void x509TimeSwitchesToGeneralizedTimeIn2050() {
        assertArrayEquals(Der.utcTime(Instant.parse("2049-12-31T23:59:59Z")),
                Der.time(Instant.parse("2049-12-31T23:59:59Z")));
        assertArrayEquals(Der.generalizedTime(Instant.parse("2050-01-01T00:00:00Z")),
                Der.time(Instant.parse("2050-01-01T00:00:00Z")));
        assertThrows(IllegalArgumentException.class, () -> Der.utcTime(Instant.parse("2050-01-01T00:00:00Z")));
        assertThrows(IllegalArgumentException.class, () -> Der.utcTime(Instant.parse("1949-12-31T23:59:59Z")));
    }

    @Test
    void constructedAndContextTags() {
        assertEquals("3000", hex(Der.sequence()));
        assertEquals("3006020101020102", hex(Der.sequence(Der.integer(1), Der.integer(2))));
        // [0] EXPLICIT INTEGER 2: X.509's version field
        assertEquals("A003020102", hex(Der.explicit(0, Der.integer(2))));
        assertEquals("A3023000", hex(Der.explicit(3, Der.sequence())));
        // [6] IMPLICIT IA5String: a URI GeneralName; [0] IMPLICIT SET OF stays constructed
        assertEquals("860161", hex(Der.implicit(6, Der.ia5String("a"))));
        assertEquals("A000", hex(Der.implicit(0, Der.set())));
        assertThrows(IllegalArgumentException.class, () -> Der.explicit(31, Der.nullValue()));
    }

    @Test
    void setOfSortsItsElementsByEncoding() {
        assertEquals("3106020101020102", hex(Der.set(Der.integer(2), Der.integer(1))));
        // compared as unsigned bytes: 04 01 00 before 04 02 00 00
        assertEquals("310704010004020000", hex(Der.set(Der.octetString(new byte[2]), Der.octetString(new byte[1]))));
    }

    @Test
    void aNestedStructureIsWhatBouncyCastleWritesForIt() throws Exception {
        byte[] ours = Der.sequence(
                Der.explicit(0, Der.integer(2)),
                Der.integer(new BigInteger("00ff00ff00ff00ff00ff", 16)),
                Der.sequence(Der.oid("1.2.840.10045.4.3.2")),
                Der.set(Der.sequence(Der.oid("2.5.4.10"), Der.utf8String("o")),
                        Der.sequence(Der.oid("2.5.4.3"), Der.printableString("cn"))),
                Der.sequence(Der.time(Instant.parse("2030-01-02T03:04:05Z")), Der.time(Instant.parse("2051-01-02T03:04:05Z"))),
                Der.octetString(Der.sequence(Der.implicit(6, Der.ia5String("spiffe://cluster.local/ns/a/sa/b")))),
                Der.bitString(new byte[300]),
                Der.nullValue());
        assertArrayEquals(ours, ASN1Primitive.fromByteArray(ours).getEncoded(ASN1Encoding.DER),
                "BouncyCastle re-encodes our DER to the same bytes");
    }

    // ---- signing --------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"EC", "RSA"})
    void signedCertificatesParseAndVerifyInTheJdk(String algorithm) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance(algorithm);
        if (algorithm.equals("EC")) {
            g.initialize(new ECGenParameterSpec("secp256r1"));
        } else {
            g.initialize(2048);
        }
        KeyPair key = g.generateKeyPair();
        byte[] name = Der.sequence(Der.set(Der.sequence(Der.oid("2.5.4.3"), Der.utf8String("der test"))));
        byte[] tbs = Der.sequence(Der.explicit(0, Der.integer(2)), Der.integer(7), Der.signatureAlgorithm(key.getPrivate()),
                name, Der.sequence(Der.time(Instant.now().minusSeconds(60)), Der.time(Instant.now().plusSeconds(60))),
                name, key.getPublic().getEncoded());
        X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(Der.signed(tbs, key.getPrivate())));
        cert.verify(key.getPublic());
        assertEquals(algorithm.equals("EC") ? "SHA256withECDSA" : "SHA256withRSA", cert.getSigAlgName());
        assertEquals("CN=der test", cert.getSubjectX500Principal().getName());
        assertEquals(BigInteger.valueOf(7), cert.getSerialNumber());
    }

    // ---- reading --------------------------------------------------------------------------------

    @Test
    void readsASequenceElementByElement() {
        byte[] der = Der.sequence(Der.integer(1), Der.explicit(0, Der.oid("1.3.132.0.34")), Der.octetString(bytes("00FF")),
                Der.nullValue());
        Der.Reader outer = new Der.Reader(der);
        Der.Reader seq = outer.sequence();
        outer.end();
        assertEquals(BigInteger.ONE, seq.integer());
        assertEquals(0xa0, seq.peekTag());
        assertEquals("1.3.132.0.34", seq.explicit(0).oid());
        assertArrayEquals(bytes("00FF"), seq.octetString());
        assertArrayEquals(Der.nullValue(), seq.element());
        assertFalse(seq.hasMore());
        assertEquals(-1, seq.peekTag());
        seq.end();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "indefinite length, 3080020100 0000",
            "non-minimal long form, 048101 00",
            "long form for a short length, 04820001 00",
            "length past the end, 0405 0000",
            "no length, 04",
            "five length bytes, 04850000000001 00",
            "multi-byte tag, 1F2200",
            "trailing bytes, 0500 00",
            "empty INTEGER, 0200",
            "NULL with contents, 050100",
            "OID arc with a leading 0x80, 0603 2A8001",
            "OID truncated mid-arc, 0602 2A86",
    })
    void refusesWhatIsNotDer(String what, String hex) {
        byte[] der = bytes(hex);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> readAll(der), what);
        assertTrue(e.getMessage().startsWith("DER at offset "), e.getMessage());
    }

    @Test
    void refusesAnUnexpectedTagNamingBoth() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Der.Reader(Der.integer(1)).sequence());
        assertEquals("DER at offset 0: tag 0x2 (expected: 0x30)", e.getMessage());
    }

    /** Reads one element by its tag, as the key readers would, and requires the input to end there. */
    private static void readAll(byte[] der) {
        Der.Reader r = new Der.Reader(der);
        switch (r.peekTag()) {
            case Der.SEQUENCE -> r.sequence().integer();
            case Der.INTEGER -> r.integer();
            case Der.NULL -> r.nullValue();
            case Der.OID -> r.oid();
            case Der.OCTET_STRING -> r.octetString();
            default -> r.element();
        }
        r.end();
    }
}
