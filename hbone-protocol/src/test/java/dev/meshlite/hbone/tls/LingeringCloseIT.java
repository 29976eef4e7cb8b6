package dev.meshlite.hbone.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.transport.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A server writes a reply and closes while a byte its peer sent is still unread: exactly what a
 * drained HBONE connection meets when the client's WINDOW_UPDATE or PING crosses the server's
 * close. A plain close makes the kernel answer with a RST, which purges the reply from the
 * client's receive queue; the lingering close delivers all of it, then the FIN.
 */
@Timeout(60)
class LingeringCloseIT {

    static final int REPLY = 256 << 10;

    EventLoopGroup group;
    Transport transport;

    @BeforeEach
    void start() {
        transport = Transport.select();
        group = transport.newEventLoopGroup(1, "linger-test");
    }

    @AfterEach
    void stop() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    @Test
    void theWholeReplyArrivesThenEndOfStream() throws Exception {
        byte[] reply = reply();
        CountDownLatch closeCalled = new CountDownLatch(1);
        Channel server = server(true, reply, closeCalled);
        try (Socket s = connect(server)) {
            assertTrue(closeCalled.await(10, TimeUnit.SECONDS), "server never closed");
            byte[] got = s.getInputStream().readNBytes(REPLY);
            assertArrayEquals(reply, got);
            assertEquals(-1, s.getInputStream().read(), "FIN after the reply");
        } finally {
            server.close().sync();
        }
    }

    @Test
    void withoutItThePeersUnreadByteTurnsTheCloseIntoAResetThatLosesTheReply() throws Exception {
        CountDownLatch closeCalled = new CountDownLatch(1);
        Channel server = server(false, reply(), closeCalled);
        try (Socket s = connect(server)) {
            assertTrue(closeCalled.await(10, TimeUnit.SECONDS), "server never closed");
            InputStream in = s.getInputStream();
            assertThrows(IOException.class, () -> in.readNBytes(REPLY), "the RST purged the reply");
        } finally {
            server.close().sync();
        }
    }

    private static byte[] reply() {
        byte[] b = new byte[REPLY];
        new Random(7).nextBytes(b);
        return b;
    }

    private Socket connect(Channel server) throws IOException {
        Socket s = new Socket();
        s.setSoTimeout(20_000);
        s.connect(server.localAddress());
        s.getOutputStream().write('x'); // the server never reads it before it closes
        s.getOutputStream().flush();
        server.read(); // now accept it
        return s;
    }

    /**
     * Accepts nothing until {@link #connect} has sent its byte (the listener does not auto-read),
     * so that byte is already queued, unread, when the accepted socket writes {@code reply} and
     * closes.
     */
    private Channel server(boolean linger, byte[] reply, CountDownLatch closeCalled) throws InterruptedException {
        return new ServerBootstrap()
                .group(group)
                .channel(transport.serverChannel())
                .option(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.SO_SNDBUF, 1 << 20)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (linger) {
                            ch.pipeline().addLast(LingeringClose.NAME, new LingeringClose());
                        }
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                ctx.writeAndFlush(Unpooled.wrappedBuffer(reply))
                                        .addListener((ChannelFutureListener) f -> {
                                            ctx.channel().close();
                                            closeCalled.countDown();
                                        });
                            }
                        });
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
    }
}
