package dev.meshlite.ztunnel.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DnsUpstreamsTest {

    static InetSocketAddress at(String ip, int port) {
        return new InetSocketAddress(InetAddress.ofLiteral(ip), port);
    }

    @Test
    void literalsWithAndWithoutPorts() {
        assertEquals(List.of(at("10.96.0.10", 53), at("10.96.0.11", 5353), at("fd00::a", 53), at("fd00::b", 54)),
                DnsUpstreams.parse("10.96.0.10, 10.96.0.11:5353,fd00::a,[fd00::b]:54", Path.of("/nonexistent")));
        assertEquals(List.of(), DnsUpstreams.parse("none", Path.of("/nonexistent")));
    }

    @Test
    void theNameserversOfAResolvConf(@TempDir Path dir) throws Exception {
        Path conf = dir.resolve("resolv.conf");
        Files.writeString(conf, "search shop.svc.cluster.local svc.cluster.local\n# a comment\nnameserver 10.96.0.10\n"
                + "nameserver  fd00::10\noptions ndots:5\n");
        assertEquals(List.of(at("10.96.0.10", 53), at("fd00::10", 53)), DnsUpstreams.parse("resolv.conf", conf));
        assertEquals(List.of(), DnsUpstreams.parse("resolv.conf", dir.resolve("missing")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"dns.example.test", "10.96.0.10:0", "10.96.0.10:99999", "10.96.0.10:x", "[fd00::1", "", "10.96.0.10,"})
    void anythingElseIsRefusedNamingTheOption(String spec) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DnsUpstreams.parse(spec, Path.of("/nonexistent")));
        assertTrue(e.getMessage().startsWith("--dns-upstream"), e.getMessage());
    }
}
