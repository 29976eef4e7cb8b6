package dev.meshlite.hbone.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.ECPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Keys as {@code openssl} writes them, in each unencrypted form (PKCS#8, PKCS#1, SEC1 with and
 * without its parameters and public key), read and then used to sign: the signature verifies with
 * the public key openssl derives from the same file, so the key read is the key written. And the
 * refusals: encrypted keys, explicit curve parameters, damaged files, each naming what was read.
 */
class PemTest {

    @TempDir
    static Path dir;

    @BeforeAll
    static void keys() throws Exception {
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec256.pkcs8");
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pkcs8");
        openssl("genpkey", "-algorithm", "ed25519", "-out", "ed25519.pkcs8");
        openssl("rsa", "-in", "rsa.pkcs8", "-traditional", "-out", "rsa.pkcs1");
        // ecparam -genkey writes an EC PARAMETERS block before the key, which must be skipped.
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", "ec256.sec1");
        openssl("ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "ec384.sec1");
        openssl("ecparam", "-name", "secp521r1", "-genkey", "-noout", "-out", "ec521.sec1");
        openssl("ec", "-in", "ec256.sec1", "-no_public", "-out", "ec256-no-public.sec1");
        openssl("ec", "-in", "ec256.pkcs8", "-out", "ec256-from-pkcs8.sec1");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "ec256.pkcs8, PRIVATE KEY, EC",
            "rsa.pkcs8, PRIVATE KEY, RSA",
            "ed25519.pkcs8, PRIVATE KEY, EdDSA",
            "rsa.pkcs1, RSA PRIVATE KEY, RSA",
            "ec256.sec1, EC PRIVATE KEY, EC",
            "ec384.sec1, EC PRIVATE KEY, EC",
            "ec521.sec1, EC PRIVATE KEY, EC",
            "ec256-no-public.sec1, EC PRIVATE KEY, EC",
            "ec256-from-pkcs8.sec1, EC PRIVATE KEY, EC",
    })
    void readsWhatOpensslWritesAndSignsWithIt(String file, String block, String algorithm) throws Exception {
        String pem = Files.readString(dir.resolve(file));
        assertTrue(pem.contains("-----BEGIN " + block + "-----"), pem);
        PrivateKey key = Pem.privateKey(pem, file);
        assertEquals(algorithm, key.getAlgorithm());

        openssl("pkey", "-in", file, "-pubout", "-out", file + ".pub");
        byte[] spki = Base64.getMimeDecoder().decode(Files.readString(dir.resolve(file + ".pub"))
                .replaceAll("-----[A-Z ]+-----", ""));
        PublicKey publicKey = KeyFactory.getInstance(algorithm).generatePublic(new X509EncodedKeySpec(spki));
        String signing = switch (algorithm) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default -> "Ed25519";
        };
        byte[] data = "hbone".getBytes(StandardCharsets.US_ASCII);
        Signature signer = Signature.getInstance(signing);
        signer.initSign(key);
        signer.update(data);
        Signature verifier = Signature.getInstance(signing);
        verifier.initVerify(publicKey);
        verifier.update(data);
        assertTrue(verifier.verify(signer.sign()), "signed with the key read, verified with openssl's public key");
    }

    @Test
    void sec1KeysKeepTheirCurve() throws Exception {
        for (String[] c : new String[][] {{"ec256.sec1", "256"}, {"ec384.sec1", "384"}, {"ec521.sec1", "521"}}) {
            var key = (ECPrivateKey) Pem.privateKey(Files.readString(dir.resolve(c[0])), c[0]);
            assertEquals(Integer.parseInt(c[1]), key.getParams().getCurve().getField().getFieldSize(), c[0]);
        }
    }

    @Test
    void readsPkcs8() throws Exception {
        KeyPair k = ec();
        String pem = pem("PRIVATE KEY", k.getPrivate().getEncoded());
        assertArrayEquals(k.getPrivate().getEncoded(), Pem.privateKey(pem, "key").getEncoded());
    }

    @Test
    void readsSec1EvenWithoutItsPublicKeyOrCurve() throws Exception {
        // JcaPEMWriter writes a JDK EC key as "EC PRIVATE KEY" (SEC1), without the public key and
        // without the curve: read as P-256.
        KeyPair k = ec();
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            w.writeObject(k.getPrivate());
        }
        assertTrue(out.toString().contains("EC PRIVATE KEY"), out.toString());
        assertArrayEquals(k.getPrivate().getEncoded(), Pem.privateKey(out.toString(), "key").getEncoded());
    }

    @Test
    void skipsCertificatesBeforeTheKey() throws Exception {
        openssl("req", "-x509", "-new", "-key", "ec256.pkcs8", "-subj", "/CN=pem-test", "-days", "1", "-out", "ec256.crt");
        String both = Files.readString(dir.resolve("ec256.crt")) + Files.readString(dir.resolve("ec256.pkcs8"));
        assertEquals("EC", Pem.privateKey(both, "both").getAlgorithm());
    }

    @Test
    void refusesEncryptedKeysSayingSo() throws Exception {
        openssl("pkey", "-in", "ec256.pkcs8", "-aes256", "-passout", "pass:secret", "-out", "ec256.enc");
        openssl("rsa", "-in", "rsa.pkcs8", "-traditional", "-aes256", "-passout", "pass:secret", "-out", "rsa.pkcs1.enc");
        openssl("ec", "-in", "ec256.sec1", "-aes256", "-passout", "pass:secret", "-out", "ec256.sec1.enc");
        for (String file : List.of("ec256.enc", "rsa.pkcs1.enc", "ec256.sec1.enc")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Pem.privateKey(Files.readString(dir.resolve(file)), "workload.key"));
            assertTrue(e.getMessage().startsWith("workload.key: encrypted private key"), e.getMessage());
        }
    }

    @Test
    void refusesExplicitCurveParameters() throws Exception {
        openssl("ec", "-in", "ec256.sec1", "-param_enc", "explicit", "-out", "ec256-explicit.sec1");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Pem.privateKey(Files.readString(dir.resolve("ec256-explicit.sec1")), "workload.key"));
        assertEquals("workload.key: unreadable private key: EC private key with explicit curve parameters "
                + "(expected: a named curve such as P-256)", e.getMessage());
    }

    @Test
    void refusesAKeyWithoutCurveLargerThanP256() {
        byte[] scalar = new byte[48];
        Arrays.fill(scalar, (byte) 0x7f);
        String pem = pem("EC PRIVATE KEY", Der.sequence(Der.integer(1), Der.octetString(scalar)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Pem.privateKey(pem, "workload.key"));
        assertTrue(e.getMessage().startsWith("workload.key: unreadable private key: EC private key without curve "
                + "parameters (expected: P-256"), e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
            "bad base64|-----BEGIN PRIVATE KEY-----\\nMIGH!!!!\\n-----END PRIVATE KEY-----\\n|unreadable private key",
            "not DER|-----BEGIN RSA PRIVATE KEY-----\\nAAAA\\n-----END RSA PRIVATE KEY-----\\n|unreadable private key",
            "no END line|-----BEGIN EC PRIVATE KEY-----\\nAAAA\\n|no END line",
            "mismatched END|-----BEGIN EC PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n|ends a 'EC PRIVATE KEY' block",
            "unsupported label|-----BEGIN DSA PRIVATE KEY-----\\nAAAA\\n-----END DSA PRIVATE KEY-----\\n|'DSA PRIVATE KEY' block",
            "empty|\"\"|no private key",
    })
    void refusesDamagedInputNamingIt(String what, String pem, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Pem.privateKey(pem.replace("\\n", "\n"), "workload.key"));
        assertTrue(e.getMessage().startsWith("workload.key: "), e.getMessage());
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void refusesATruncatedKey() throws Exception {
        String pem = Files.readString(dir.resolve("rsa.pkcs1"));
        byte[] der = Base64.getMimeDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", ""));
        String truncated = pem("RSA PRIVATE KEY", Arrays.copyOf(der, der.length / 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Pem.privateKey(truncated, "workload.key"));
        assertTrue(e.getMessage().startsWith("workload.key: unreadable private key: DER at offset 0: length"),
                e.getMessage());
    }

    @Test
    void noKeyIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Pem.privateKey("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "workload.key"));
        assertTrue(e.getMessage().startsWith("workload.key: "), e.getMessage());
    }

    private static KeyPair ec() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    /** Runs openssl in {@link #dir}; fails the test with openssl's output when it fails. */
    private static void openssl(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new AssertionError(cmd + " failed: " + out);
        }
    }
}
