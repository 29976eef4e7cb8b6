package dev.meshlite.hbone.tls;

import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/** PEM decoding. Keys in every unencrypted form openssl writes: PKCS#8, PKCS#1 (RSA), SEC1 (EC). */
final class Pem {

    /** PKCS#8 AlgorithmIdentifier OIDs: rsaEncryption, id-ecPublicKey; secp256r1 (P-256). */
    private static final String RSA = "1.2.840.113549.1.1.1";
    private static final String EC = "1.2.840.10045.2.1";
    private static final String P256 = "1.2.840.10045.3.1.7";

    private static final String EXPECTED = "(expected: an unencrypted PKCS#8, PKCS#1 or SEC1 PEM block)";

    private Pem() {}

    static List<X509Certificate> certificates(String pem, String what) {
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            List<X509Certificate> out = new ArrayList<>();
            for (var c : factory.generateCertificates(
                    new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException(what + ": no certificate (expected: PEM "
                        + "'BEGIN CERTIFICATE' blocks)");
            }
            return List.copyOf(out);
        } catch (CertificateException e) {
            throw new IllegalArgumentException(what + ": unreadable certificate: " + e.getMessage(), e);
        }
    }

    /**
     * The first private key in {@code pem}. Other blocks (EC PARAMETERS, certificates) are skipped
     * on purpose; an encrypted key is refused rather than skipped, so the error says why.
     */
    static PrivateKey privateKey(String pem, String what) {
        for (Block block : blocks(pem, what)) {
            String type = block.type();
            if (type.equals("ENCRYPTED PRIVATE KEY") || (type.endsWith("PRIVATE KEY") && block.encrypted())) {
                throw new IllegalArgumentException(what + ": encrypted private key ('" + type + "') " + EXPECTED);
            }
            try {
                switch (type) {
                    case "PRIVATE KEY" -> {
                        return pkcs8(block.der());
                    }
                    case "RSA PRIVATE KEY" -> {
                        return pkcs8(fromPkcs1(block.der()));
                    }
                    case "EC PRIVATE KEY" -> {
                        return pkcs8(fromSec1(block.der()));
                    }
                    default -> {
                        if (type.endsWith("PRIVATE KEY")) {
                            throw new IllegalArgumentException("'" + type + "' block " + EXPECTED);
                        }
                    }
                }
            } catch (IllegalArgumentException | GeneralSecurityException e) {
                throw new IllegalArgumentException(what + ": unreadable private key: " + e.getMessage(), e);
            }
        }
        throw new IllegalArgumentException(what + ": no private key " + EXPECTED);
    }

    /** The JDK's key from a PKCS#8 PrivateKeyInfo, by the KeyFactory registered for its algorithm's OID. */
    private static PrivateKey pkcs8(byte[] der) throws GeneralSecurityException {
        Der.Reader info = new Der.Reader(der).sequence();
        info.integer();
        String algorithm = info.sequence().oid();
        KeyFactory factory;
        try {
            factory = KeyFactory.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalArgumentException("key algorithm " + algorithm + " (expected: RSA, EC or EdDSA)", e);
        }
        return factory.generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    /** PKCS#1 RSAPrivateKey is PKCS#8's private key for rsaEncryption as it is (RFC 8017 A.1.2). */
    private static byte[] fromPkcs1(byte[] der) {
        new Der.Reader(der).sequence(); // one element, or it is refused here rather than by the JDK
        return Der.sequence(Der.integer(0), Der.sequence(Der.oid(RSA), Der.nullValue()), Der.octetString(der));
    }

    /**
     * SEC1 ECPrivateKey (RFC 5915) to PKCS#8: the curve moves from the key's optional
     * {@code [0] parameters} to the algorithm identifier, and the private scalar is kept alone
     * (the optional public key is not needed to sign).
     *
     * <p>A SEC1 key written from a JDK key (BouncyCastle's JcaPEMWriter does this) carries no curve
     * at all: the JDK keeps it in the PKCS#8 algorithm identifier, which SEC1 drops. Workload keys
     * are P-256 (DESIGN §4), so an EC key without parameters of at most 256 bits is read as P-256;
     * any other is refused.
     */
    private static byte[] fromSec1(byte[] der) {
        Der.Reader outer = new Der.Reader(der);
        Der.Reader key = outer.sequence();
        outer.end();
        BigInteger version = key.integer();
        if (!version.equals(BigInteger.ONE)) {
            throw new IllegalArgumentException("EC private key version " + version + " (expected: 1)");
        }
        byte[] scalar = key.octetString();
        String curve = null;
        if (key.peekTag() == 0xa0) {
            Der.Reader parameters = key.explicit(0);
            int tag = parameters.peekTag();
            if (tag == Der.OID) {
                curve = parameters.oid();
            } else if (tag != Der.NULL) {
                throw new IllegalArgumentException("EC private key with explicit curve parameters "
                        + "(expected: a named curve such as P-256)");
            }
        }
        if (curve == null) {
            if (new BigInteger(1, scalar).bitLength() > 256) {
                throw new IllegalArgumentException("EC private key without curve parameters "
                        + "(expected: P-256, or a PKCS#8 key)");
            }
            curve = P256;
        }
        return Der.sequence(Der.integer(0), Der.sequence(Der.oid(EC), Der.oid(curve)),
                Der.octetString(Der.sequence(Der.integer(1), Der.octetString(scalar))));
    }

    /** One PEM block: its label, whether RFC 1421 headers mark it encrypted, and its body. */
    private record Block(String type, boolean encrypted, String base64) {

        byte[] der() {
            try {
                return Base64.getDecoder().decode(base64);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("'" + type + "' block: bad base64: " + e.getMessage(), e);
            }
        }
    }

    /** The blocks of {@code pem} in order; text outside them is ignored, as openssl ignores it. */
    private static List<Block> blocks(String pem, String what) {
        List<Block> out = new ArrayList<>();
        String type = null;
        boolean encrypted = false;
        StringBuilder body = new StringBuilder();
        for (String raw : pem.split("\\R")) {
            String line = raw.strip();
            if (type == null) {
                if (line.startsWith("-----BEGIN ") && line.endsWith("-----") && line.length() > 16) {
                    type = line.substring(11, line.length() - 5);
                    encrypted = false;
                    body.setLength(0);
                }
            } else if (line.startsWith("-----END ")) {
                if (!line.equals("-----END " + type + "-----")) {
                    throw new IllegalArgumentException(what + ": '" + line + "' ends a '" + type + "' block");
                }
                out.add(new Block(type, encrypted, body.toString()));
                type = null;
            } else if (line.indexOf(':') > 0) {
                // RFC 1421 headers: "Proc-Type: 4,ENCRYPTED" and "DEK-Info: ..." on an encrypted key.
                encrypted |= line.replace(" ", "").equalsIgnoreCase("Proc-Type:4,ENCRYPTED");
            } else {
                body.append(line);
            }
        }
        if (type != null) {
            throw new IllegalArgumentException(what + ": no END line for '" + type + "' block");
        }
        return out;
    }
}
