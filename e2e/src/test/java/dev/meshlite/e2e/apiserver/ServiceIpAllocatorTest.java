package dev.meshlite.e2e.apiserver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ServiceIpAllocatorTest {

    @Test
    void allocatesDistinctAddressesInsideTheCidrSkippingTheFirstTen() {
        ServiceIpAllocator a = new ServiceIpAllocator("10.96.0.0/16");
        assertEquals("10.96.0.10", a.allocate());
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 300; i++) {
            String ip = a.allocate();
            assertTrue(ip.startsWith("10.96."), ip);
            assertTrue(seen.add(ip), "allocated twice: " + ip);
        }
    }

    @Test
    void reserveRefusesTakenAndForeignAddressesAndReleaseFreesThem() {
        ServiceIpAllocator a = new ServiceIpAllocator("10.96.0.0/28");
        assertEquals("10.96.0.5", a.reserve("10.96.0.5"));
        IllegalArgumentException taken = assertThrows(IllegalArgumentException.class, () -> a.reserve("10.96.0.5"));
        assertTrue(taken.getMessage().contains("already allocated"), taken.getMessage());
        assertThrows(IllegalArgumentException.class, () -> a.reserve("10.97.0.5"));
        a.release("10.96.0.5");
        assertEquals("10.96.0.5", a.reserve("10.96.0.5"));
    }

    @Test
    void anExhaustedRangeSaysSo() {
        ServiceIpAllocator a = new ServiceIpAllocator("10.96.0.0/28");
        String first = a.allocate();
        for (int i = 0; i < 4; i++) {
            assertNotEquals(first, a.allocate());
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, a::allocate);
        assertTrue(e.getMessage().contains("exhausted"), e.getMessage());
    }

    @Test
    void badCidrsAreRejectedWithWhatWasExpected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ServiceIpAllocator("10.0.0.0/31"));
        assertTrue(e.getMessage().contains("expected"), e.getMessage());
    }
}
