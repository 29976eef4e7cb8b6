package dev.meshlite.cni.rules;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/**
 * The rule text against golden files in src/test/resources/golden. A change to the rules shows up
 * as a diff of those files in review. What was built is also written to target/golden-actual, so
 * an intended change is a copy away.
 */
class InpodRulesTest {

    record Golden(String file, CaptureConfig config, Function<CaptureConfig, String> build) {
        @Override
        public String toString() {
            return file;
        }
    }

    static List<Golden> goldens() {
        CaptureConfig d = CaptureConfig.defaults();
        return List.of(
                new Golden("iptables.txt", d, InpodRules::iptables),
                new Golden("iptables-dns.txt", d.withDns(true), InpodRules::iptables),
                new Golden("nftables.nft", d, InpodRules::nftables),
                new Golden("nftables-dns.nft", d.withDns(true), InpodRules::nftables));
    }

    @ParameterizedTest
    @MethodSource("goldens")
    void matchesTheGoldenFile(Golden g) throws IOException {
        String actual = g.build().apply(g.config());
        Path out = Path.of("target/golden-actual", g.file());
        Files.createDirectories(out.getParent());
        Files.writeString(out, actual);
        try (InputStream in = InpodRulesTest.class.getResourceAsStream("/golden/" + g.file())) {
            assertTrue(in != null, "golden file " + g.file() + " missing; the built rules are in " + out);
            assertEquals(new String(in.readAllBytes(), StandardCharsets.UTF_8), actual,
                    "rules differ from golden/" + g.file() + " (built: " + out + ")");
        }
    }

    @Test
    void routesSendMarkedRepliesToLoopbackAndComeOffExactly() {
        CaptureConfig c = CaptureConfig.defaults();
        assertEquals(List.of(
                List.of("-4", "rule", "add", "fwmark", "0x111/0xfff", "pref", "32764", "lookup", "100"),
                List.of("-4", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")), InpodRules.routes(c));
        assertEquals("del", InpodRules.routesRemoval(c).get(0).get(2));
    }

    @Test
    void badConfigIsRejectedWithWhatWasExpected() {
        IllegalArgumentException port = assertThrows(IllegalArgumentException.class,
                () -> new CaptureConfig(0, 15006, 15008, 15053, "169.254.7.127", 0x539, 0x111, 0xfff, 100, false));
        assertTrue(port.getMessage().contains("expected: 1-65535"), port.getMessage());
        IllegalArgumentException mark = assertThrows(IllegalArgumentException.class,
                () -> new CaptureConfig(15001, 15006, 15008, 15053, "169.254.7.127", 0x1539, 0x111, 0xfff, 100, false));
        assertTrue(mark.getMessage().contains("inside the mask"), mark.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new CaptureConfig(15001, 15006, 15008, 15053, "169.254.7.127", 0x539, 0x111, 0xfff, 255, false));
    }
}
