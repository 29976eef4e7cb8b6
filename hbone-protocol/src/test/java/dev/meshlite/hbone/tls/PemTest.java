package dev.meshlite.hbone.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringWriter;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.junit.jupiter.api.Test;

class PemTest {

    private static KeyPair ec() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    @Test
    void readsPkcs8() throws Exception {
        KeyPair k = ec();
        String pem = "-----BEGIN PRIVATE KEY-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(k.getPrivate().getEncoded())
                + "\n-----END PRIVATE KEY-----\n";
        assertArrayEquals(k.getPrivate().getEncoded(), Pem.privateKey(pem, "key").getEncoded());
    }

    @Test
    void readsSec1EvenWithoutItsPublicKey() throws Exception {
        // JcaPEMWriter writes a JDK EC key as "EC PRIVATE KEY" (SEC1), and without the public key.
        KeyPair k = ec();
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            w.writeObject(k.getPrivate());
        }
        assertTrue(out.toString().contains("EC PRIVATE KEY"), out.toString());
        assertArrayEquals(k.getPrivate().getEncoded(), Pem.privateKey(out.toString(), "key").getEncoded());
    }

    @Test
    void noKeyIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Pem.privateKey("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "workload.key"));
        assertTrue(e.getMessage().startsWith("workload.key: "), e.getMessage());
    }
}
