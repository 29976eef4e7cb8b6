package dev.meshlite.hbone.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class when Netty reported a leaked buffer during (or just before) it.
 *
 * <p>Registered for every test class by JUnit's extension auto-detection (the parent pom turns it
 * on and this jar lists the class in {@code META-INF/services}). Leak reports only surface when a
 * leaked object has been collected and the detector is next used, so after each class the gate
 * collects garbage and exercises the detectors before it reads what was recorded.
 */
public final class LeakGate implements AfterAllCallback {

    @Override
    public void afterAll(ExtensionContext context) {
        List<String> leaks = drain();
        if (!leaks.isEmpty()) {
            throw new AssertionError(leaks.size() + " Netty leak(s) reported around "
                    + context.getDisplayName() + ":\n" + String.join("\n\n", leaks));
        }
    }

    /** Forces pending leak reports out and returns (and forgets) everything recorded so far. */
    public static List<String> drain() {
        for (int round = 0; round < 3; round++) {
            System.gc();
            // Each allocation polls the detector's reference queue and reports what was collected.
            for (int i = 0; i < 64; i++) {
                ByteBuf pooled = PooledByteBufAllocator.DEFAULT.buffer(16);
                pooled.release();
                ByteBuf direct = UnpooledByteBufAllocator.DEFAULT.directBuffer(16);
                direct.release();
            }
        }
        List<String> leaks = new ArrayList<>(RecordingLeakDetector.LEAKS);
        RecordingLeakDetector.LEAKS.removeAll(leaks);
        return leaks;
    }
}
