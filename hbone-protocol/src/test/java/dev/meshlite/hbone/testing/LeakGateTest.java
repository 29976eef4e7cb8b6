package dev.meshlite.hbone.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.util.List;
import org.junit.jupiter.api.Test;

class LeakGateTest {

    @Test
    void paranoidDetectionIsOnAndTheRecordingDetectorIsInstalled() {
        assertEquals(ResourceLeakDetector.Level.PARANOID, ResourceLeakDetector.getLevel());
    }

    @Test
    void aDroppedBufferIsReportedAndDrained() {
        leakOne();
        List<String> leaks = LeakGate.drain();
        assertTrue(leaks.stream().anyMatch(l -> l.contains("ByteBuf")),
                "expected the dropped buffer to be reported, got " + leaks);
        assertTrue(LeakGate.drain().isEmpty(), "drain forgets what it returned");
    }

    private static void leakOne() {
        ByteBuf buf = UnpooledByteBufAllocator.DEFAULT.directBuffer(8);
        buf.writeLong(42);
        // dropped without release(): a leak on purpose
    }
}
