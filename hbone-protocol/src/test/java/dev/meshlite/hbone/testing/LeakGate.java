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
        List<String> grpcOwn = leaks.stream().filter(LeakGate::insideGrpcOnly).toList();
        for (String leak : grpcOwn) {
            System.err.println("NOTE: a buffer leaked inside gRPC around " + context.getDisplayName()
                    + " (no frame of ours on its path; not failed):\n" + leak);
        }
        List<String> ours = leaks.stream().filter(l -> !insideGrpcOnly(l)).toList();
        if (!ours.isEmpty()) {
            throw new AssertionError(ours.size() + " Netty leak(s) reported around "
                    + context.getDisplayName() + ":\n" + String.join("\n\n", ours));
        }
    }

    /**
     * A leak whose recorded path runs through gRPC's transport and never through our code: a
     * buffer gRPC read off its own connection and lost (grpc-java has known races of this kind
     * when a stream is cancelled while a message is being deframed). Our code never holds
     * gRPC's buffers, so such a leak is reported, not failed. A leak with any frame of ours,
     * and an untraced one, still fails.
     */
    static boolean insideGrpcOnly(String leak) {
        return leak.contains("\tio.grpc.") && !leak.contains("dev.meshlite.") && !leak.contains("(untraced)");
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
