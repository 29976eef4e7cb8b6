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

    @Test
    void onlyALeakWhosePathIsAllGrpcIsLetThrough() {
        String grpc = "ByteBuf leaked:\nRecent access records: \n#1:\n\tio.grpc.netty.NettyReadableBuffer.close("
                + "NettyReadableBuffer.java:130)\n\tio.grpc.internal.MessageDeframer.deliver(MessageDeframer.java:272)\n"
                + "Created at:\n\tio.netty.handler.ssl.SslHandler.unwrap(SslHandler.java:1488)\n";
        String ours = grpc.replace("Created at:", "#2:\n\tdev.meshlite.istiod.xds.client.XdsClient.onNext(XdsClient.java:1)"
                + "\nCreated at:");
        String hbone = "ByteBuf leaked:\nRecent access records: \n#1:\n\tio.netty.handler.codec.http2."
                + "DefaultHttp2FrameReader.readDataFrame(DefaultHttp2FrameReader.java:1)\n";
        assertTrue(LeakGate.insideGrpcOnly(grpc));
        assertTrue(!LeakGate.insideGrpcOnly(ours), "a frame of ours on the path: fails");
        assertTrue(!LeakGate.insideGrpcOnly(hbone), "no gRPC frame: fails");
        assertTrue(!LeakGate.insideGrpcOnly("ByteBuf leaked (untraced)"), "no path known: fails");
    }

    private static void leakOne() {
        ByteBuf buf = UnpooledByteBufAllocator.DEFAULT.directBuffer(8);
        buf.writeLong(42);
        // dropped without release(): a leak on purpose
    }
}
