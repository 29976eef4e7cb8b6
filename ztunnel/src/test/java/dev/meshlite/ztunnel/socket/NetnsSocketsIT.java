package dev.meshlite.ztunnel.socket;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The native socket layer against real network namespaces (ip netns), real iptables and both
 * Linux Netty transports. Needs root.
 */
@Tag("root")
class NetnsSocketsIT {

    private static final long WAIT = 30;
    private static final Map<Transport, EventLoopGroup> GROUPS = new EnumMap<>(Transport.class);

    private String name;
    private Netns ns;
    private final List<Channel> channels = new ArrayList<>();

    static String run(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(WAIT, TimeUnit.SECONDS), String.join(" ", argv) + " hung");
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
        return out;
    }

    private String in(String... argv) throws Exception {
        List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", name));
        all.addAll(List.of(argv));
        return run(all.toArray(String[]::new));
    }

    @BeforeEach
    void namespace() throws Exception {
        name = "mesh-sock-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24));
        run("ip", "netns", "add", name);
        run("ip", "-n", name, "link", "set", "lo", "up");
        ns = Netns.open(Path.of("/run/netns/" + name));
    }

    @AfterEach
    void cleanup() throws Exception {
        for (Channel ch : channels) {
            ch.close().await(WAIT, TimeUnit.SECONDS);
        }
        if (ns != null) {
            ns.close();
        }
        run("ip", "netns", "del", name);
    }

    @AfterAll
    static void loops() {
        GROUPS.values().forEach(g -> g.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly());
    }

    private static EventLoopGroup group(Transport t) {
        Assumptions.assumeTrue(t.isAvailable(), t + " is not available here");
        return GROUPS.computeIfAbsent(t, x -> x.newEventLoopGroup(1, "netns-it-" + x.name().toLowerCase()));
    }

    /** A server in the namespace that answers each connection with {@code reply(channel)} and closes. */
    private Channel serve(Transport t, String host, java.util.function.Function<Channel, String> reply) throws Exception {
        ServerBootstrap b = new ServerBootstrap().group(group(t)).channel(t.serverChannel())
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        String text = reply.apply(ctx.channel());
                        ctx.writeAndFlush(Unpooled.copiedBuffer(text + "\n", StandardCharsets.UTF_8))
                                .addListener(ChannelFutureListener.CLOSE);
                    }
                });
        Channel server = SocketOptions.bindIn(ns, b, new InetSocketAddress(host, 0)).sync().channel();
        channels.add(server);
        return server;
    }

    private static int port(Channel server) {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"EPOLL", "IO_URING"})
    void bindInPutsTheListenerInsideTheNamespaceAndNowhereElse(Transport t) throws Exception {
        Channel server = serve(t, "127.0.0.1", ch -> "pong");
        int port = port(server);
        // reachable from inside
        assertEquals("pong", in("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + port + "; cat <&3"));
        // (a dual-stack socket shows as [::ffff:127.0.0.1]:port)
        assertTrue(in("ss", "-Htln").contains("127.0.0.1]:" + port + " ") || in("ss", "-Htln").contains("127.0.0.1:" + port + " "),
                "listening inside");
        // not on the host
        assertFalse(run("ss", "-Htln").contains(":" + port + " "), "not listening on the host");
        assertThrows(ConnectException.class, () -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
            }
        });
        // the caller's thread is back where it was
        assertEquals(Netns.current().inode(), NetnsTest.inode(Path.of("/proc/thread-self/ns/net")));
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"EPOLL", "IO_URING"})
    void originalDestinationOfARedirectedConnection(Transport t) throws Exception {
        CompletableFuture<InetSocketAddress> seen = new CompletableFuture<>();
        Channel server = serve(t, "127.0.0.1", ch -> {
            try {
                seen.complete(SocketOptions.originalDestination(ch));
            } catch (RuntimeException e) {
                seen.completeExceptionally(e);
            }
            return "ok";
        });
        in("ip", "addr", "add", "10.1.2.3/32", "dev", "lo");
        in("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "10.1.2.3", "--dport", "80",
                "-j", "REDIRECT", "--to-ports", Integer.toString(port(server)));
        assertEquals("ok", in("bash", "-c", "exec 3<>/dev/tcp/10.1.2.3/80; cat <&3"));
        assertEquals(new InetSocketAddress("10.1.2.3", 80), seen.get(WAIT, TimeUnit.SECONDS));
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"EPOLL", "IO_URING"})
    void inNamespaceClientsDialFromInsideAndMarkedOnesCarryTheMark(Transport t) throws Exception {
        // 10.1.2.3 exists only inside the namespace
        in("ip", "addr", "add", "10.1.2.3/32", "dev", "lo");
        Channel server = serve(t, "10.1.2.3", ch -> "inside " + ((InetSocketAddress) ch.remoteAddress()).getAddress().getHostAddress());
        @SuppressWarnings("unchecked")
        ChannelFactory<SocketChannel> plain = () -> {
            try {
                return (SocketChannel) t.socketChannel().getConstructor().newInstance();
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        };
        CompletableFuture<String> reply = new CompletableFuture<>();
        // Read on the event loop as soon as the connection is up: the server answers and closes
        // at once, and after the close the descriptor is gone.
        CompletableFuture<Integer> marked = new CompletableFuture<>();
        Bootstrap b = new Bootstrap().group(group(t))
                .channelFactory(SocketOptions.inNamespace(ns, SocketOptions.marked(0x539, plain)))
                .handler(new SimpleChannelInboundHandler<ByteBuf>() {
                    private final StringBuilder got = new StringBuilder();

                    @Override
                    public void channelActive(ChannelHandlerContext ctx) throws Exception {
                        try {
                            marked.complete(mark(ctx.channel()));
                        } catch (Exception e) {
                            marked.completeExceptionally(e);
                        }
                        super.channelActive(ctx);
                    }

                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                        got.append(msg.toString(StandardCharsets.UTF_8));
                    }

                    @Override
                    public void channelInactive(ChannelHandlerContext ctx) {
                        reply.complete(got.toString().strip());
                    }
                });
        Channel client = b.connect(new InetSocketAddress("10.1.2.3", port(server))).sync().channel();
        channels.add(client);
        assertEquals(0x539, marked.get(WAIT, TimeUnit.SECONDS));
        assertEquals("inside 10.1.2.3", reply.get(WAIT, TimeUnit.SECONDS));
    }

    private static int mark(Channel ch) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            Libc.getsockopt(SocketOptions.fd(ch), Libc.SOL_SOCKET, Libc.SO_MARK, v, "getsockopt(SO_MARK)");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    @Test
    void runSwitchesTheThreadAndAlwaysSwitchesBackWithoutLeakingDescriptors() throws Exception {
        Path self = Path.of("/proc/thread-self/ns/net");
        long host = NetnsTest.inode(self);
        assertEquals(ns.inode(), (long) ns.run(() -> NetnsTest.inode(self)));
        assertEquals(host, NetnsTest.inode(self));
        assertThrows(IllegalStateException.class, () -> ns.run(() -> {
            throw new IllegalStateException("inside");
        }));
        assertEquals(host, NetnsTest.inode(self));
        // nested: back to the outer namespace, then to the host
        try (Netns again = Netns.open(Path.of("/run/netns/" + name))) {
            long inner = Netns.current().run(() -> ns.run(() -> again.run(() -> NetnsTest.inode(self))));
            assertEquals(ns.inode(), inner);
        }
        long before = openFds();
        for (int i = 0; i < 500; i++) {
            ns.run(() -> null);
        }
        assertEquals(before, openFds());
        assertEquals(host, NetnsTest.inode(self));
    }

    @Test
    void adoptTakesAHandedOverDescriptor() throws Exception {
        int fd = Libc.open("/run/netns/" + name, Libc.O_RDONLY | Libc.O_CLOEXEC);
        try (Netns adopted = Netns.adopt(fd)) {
            assertEquals(ns.inode(), adopted.inode());
            assertEquals(Long.parseLong(run("stat", "-L", "-c", "%i", "/run/netns/" + name)), adopted.inode());
        }
        assertFalse(Files.exists(Path.of("/proc/self/fd/" + fd)) && Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString().equals("net:[" + ns.inode() + "]"),
                "closing the Netns closed the adopted descriptor");
    }

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }
}
