package dev.meshlite.hbone.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AuthorityTest {

    @Test
    void literalIpsAndPortsParse() {
        assertEquals(new InetSocketAddress("10.0.0.1", 8080), Authority.parse("10.0.0.1:8080"));
        assertEquals(new InetSocketAddress("fd00::1", 80), Authority.parse("[fd00::1]:80"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"host:80", "10.0.0.1", "10.0.0.1:", ":80", "10.0.0.1:0", "10.0.0.1:65536",
            "10.0.0.1:+80", "[fd00::1:80", "fd00::1:80x", "10.0.0:80", "10.0.0.1:8080/x", "[10.0.0.1]:80"})
    void everythingElseIsRefused(String authority) {
        assertNull(Authority.parse(authority));
    }
}
