package dev.meshlite.hbone.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslProvider;
import org.junit.jupiter.api.Test;

/**
 * The runtime ships only the linux-x86_64 BoringSSL jar (see the pom): on that platform it must
 * load, and be chosen, without any other platform's jar on the class path.
 */
class TlsProviderTest {

    @Test
    void boringSslLoadsFromTheOneNativeJarOnLinuxX8664() {
        assumeTrue(System.getProperty("os.name").toLowerCase().contains("linux")
                && System.getProperty("os.arch").matches("amd64|x86_64"), "linux-x86_64 only");
        OpenSsl.ensureAvailability();
        assertTrue(OpenSsl.versionString().contains("BoringSSL"), OpenSsl.versionString());
        assertEquals(SslProvider.OPENSSL, TlsContextHolder.chooseProvider());
    }

    @Test
    void theClassPathHoldsNoOtherPlatformsNativeJar() {
        String cp = System.getProperty("java.class.path");
        for (String other : new String[] {"linux-aarch_64", "osx-x86_64", "osx-aarch_64", "windows-x86_64"}) {
            assertTrue(!cp.contains("netty-tcnative-boringssl-static-2") || !cp.contains(other),
                    "class path still holds the " + other + " tcnative jar");
        }
    }
}
