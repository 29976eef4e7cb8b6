package dev.meshlite.hbone.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The proxies' Netty settings fill in what the command line left unset, never what it set. */
class NettyDefaultsTest {

    private static final String LEAKS = "io.netty.leakDetection.level";
    private static final String LOW_MEMORY = "io.netty.allocator.lowMemory";
    private final Map<String, String> saved = new HashMap<>();

    @BeforeEach
    void save() {
        for (String k : new String[] {LEAKS, LOW_MEMORY}) {
            saved.put(k, System.getProperty(k));
            System.clearProperty(k);
        }
    }

    @AfterEach
    void restore() {
        saved.forEach((k, v) -> {
            if (v == null) {
                System.clearProperty(k);
            } else {
                System.setProperty(k, v);
            }
        });
    }

    @Test
    void unsetPropertiesGetTheProxyDefaults() {
        NettyDefaults.forProxy();
        assertEquals("disabled", System.getProperty(LEAKS));
        assertEquals("false", System.getProperty(LOW_MEMORY));
    }

    @Test
    void aPropertyGivenOnTheCommandLineWins() {
        System.setProperty(LEAKS, "paranoid");
        System.setProperty(LOW_MEMORY, "true");
        NettyDefaults.forProxy();
        assertEquals("paranoid", System.getProperty(LEAKS));
        assertEquals("true", System.getProperty(LOW_MEMORY));
    }
}
