package dev.meshlite.hbone.cli;

import dev.meshlite.hbone.client.HboneStream;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;

/**
 * Pipes stdin into one stream and the stream into stdout, half-close included (stdin EOF sends
 * END_STREAM; the server's END_STREAM ends stdout). Blocking I/O happens on two plain threads; the
 * event loop only hands bytes over through bounded queues, so neither side can outrun the other.
 */
final class StdioPipe {

    private static final byte[] EOF = new byte[0];

    private final HboneStream stream;
    private final BlockingQueue<byte[]> toStdout = new ArrayBlockingQueue<>(64);
    private final Semaphore writable = new Semaphore(0);
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile boolean failed;

    StdioPipe(HboneStream stream) {
        this.stream = stream;
    }

    int run() throws Exception {
        Http2StreamChannel ch = stream.channel();
        stream.attach(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                try {
                    if (msg instanceof Http2DataFrame data) {
                        ByteBuf c = data.content();
                        if (c.isReadable()) {
                            byte[] b = new byte[c.readableBytes()];
                            c.readBytes(b);
                            offer(b);
                        }
                        if (data.isEndStream()) {
                            offer(EOF);
                        }
                    } else if (msg instanceof Http2HeadersFrame h && h.isEndStream()) {
                        offer(EOF);
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }

            @Override
            public void channelReadComplete(ChannelHandlerContext ctx) {
                // Reading again is driven by the stdout thread (see below) for backpressure.
            }

            @Override
            public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                if (ctx.channel().isWritable()) {
                    writable.release();
                }
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                offer(EOF);
                writable.release(Integer.MAX_VALUE / 2);
            }

            private void offer(byte[] b) {
                if (!toStdout.offer(b)) {
                    failed = true; // cannot happen: at most one read is outstanding per queued chunk
                }
            }
        }).join();

        Thread stdin = Thread.ofPlatform().daemon().name("hbone-stdin").start(() -> pumpStdin(ch, System.in));
        pumpStdout(ch, System.out);
        stdin.interrupt();
        stream.close();
        return failed ? 1 : 0;
    }

    private void pumpStdout(Http2StreamChannel ch, OutputStream out) throws IOException, InterruptedException {
        ch.read();
        while (true) {
            byte[] b = toStdout.take();
            if (b == EOF) {
                out.flush();
                return;
            }
            out.write(b);
            if (toStdout.isEmpty()) {
                out.flush();
                ch.read();
            }
        }
    }

    private void pumpStdin(Http2StreamChannel ch, InputStream in) {
        byte[] buf = new byte[64 * 1024];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) {
                while (!ch.isWritable() && ch.isActive()) {
                    writable.acquire();
                }
                if (!ch.isActive()) {
                    return;
                }
                ch.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer(buf, 0, n), false));
            }
            ch.writeAndFlush(new DefaultHttp2DataFrame(true));
        } catch (IOException | InterruptedException e) {
            ch.close();
        }
    }
}
