package dev.meshlite.ztunnel.socket;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.bootstrap.ServerBootstrapConfig;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.ServerChannel;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.AttributeKey;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;

/**
 * The socket options Netty does not offer, reached through FFM, and the glue that creates Netty
 * sockets inside a pod's network namespace.
 *
 * <p>What Netty 4.2.18 does offer, to use as plain channel options: {@code UnixChannelOption.SO_REUSEPORT}
 * and {@code EpollChannelOption.IP_TRANSPARENT} / {@code IoUringChannelOption.IP_TRANSPARENT}.
 * Neither transport has SO_MARK, hence {@link #setMark} and {@link #marked}.
 *
 * <p>Where sockets are created: for epoll and io_uring (and NIO), the channel's constructor
 * opens the socket ({@code LinuxSocket.newSocketStream()} in {@code EpollSocketChannel()},
 * {@code EpollServerSocketChannel()}, {@code IoUringSocketChannel()},
 * {@code IoUringServerSocketChannel()}), and {@code AbstractBootstrap.initAndRegister()} calls
 * {@code channelFactory.newChannel()} on the thread that called {@code bind()} or {@code connect()}.
 * So a channel factory that runs the original one inside {@link Netns#run} puts the socket in that
 * namespace, and only that step needs to run there: registration, which may start an event-loop
 * thread (a thread inherits its creator's namespace for good), stays outside. Accepted sockets
 * are created by the kernel in the listening socket's namespace.
 *
 * <p>The methods that take a channel use its descriptor directly; call them while the channel is
 * open (ideally on its event loop), since a closed descriptor number may be reused.
 */
public final class SocketOptions {

    private SocketOptions() {
    }

    /** The channel's file descriptor, for epoll and io_uring channels (both implement {@link UnixChannel}). */
    public static int fd(Channel ch) {
        if (ch instanceof UnixChannel u) {
            return u.fd().intValue();
        }
        throw new UnsupportedOperationException(ch.getClass().getName()
                + " exposes no file descriptor (expected an epoll or io_uring channel, a io.netty.channel.unix.UnixChannel)");
    }

    /**
     * SO_ORIGINAL_DST of an accepted, REDIRECTed TCP connection: the address the client dialled
     * before netfilter rewrote it. IPv4 connections (also on a dual-stack socket) ask SOL_IP;
     * IPv6 ones ask SOL_IPV6 (IP6T_SO_ORIGINAL_DST). Needs a conntrack entry, which exists once
     * any nat rule is in the namespace; without one the kernel answers ENOENT.
     */
    public static InetSocketAddress originalDestination(Channel ch) {
        int fd = fd(ch);
        boolean v6 = ch.localAddress() instanceof InetSocketAddress local && local.getAddress() instanceof Inet6Address;
        try (Arena arena = Arena.ofConfined()) {
            if (!v6) {
                // struct sockaddr_in: family, port (network order), address (network order), zero[8]
                MemorySegment sin = arena.allocate(16, 4);
                Libc.getsockopt(fd, Libc.SOL_IP, Libc.SO_ORIGINAL_DST, sin, "getsockopt(SO_ORIGINAL_DST)");
                return address(sin, 4, 4);
            }
            // struct sockaddr_in6: family, port, flowinfo, address[16], scope id
            MemorySegment sin6 = arena.allocate(28, 4);
            Libc.getsockopt(fd, Libc.SOL_IPV6, Libc.SO_ORIGINAL_DST, sin6, "getsockopt(IP6T_SO_ORIGINAL_DST)");
            return address(sin6, 8, 16);
        } catch (IOException e) {
            throw new UncheckedIOException("original destination of " + ch
                    + " (expected an accepted TCP connection with a conntrack entry, e.g. one REDIRECTed by iptables)", e);
        }
    }

    private static InetSocketAddress address(MemorySegment sa, int offset, int length) throws UnknownHostException {
        int port = Short.toUnsignedInt(Short.reverseBytes(sa.get(JAVA_SHORT, 2)));
        byte[] addr = sa.asSlice(offset, length).toArray(JAVA_BYTE);
        return new InetSocketAddress(InetAddress.getByAddress(addr), port);
    }

    /**
     * Sets SO_MARK (needs CAP_NET_ADMIN). Set it before connect: routing and the capture rules
     * look at the mark of the very first packet.
     */
    public static void setMark(Channel ch, int mark) {
        try {
            Libc.setsockoptInt(fd(ch), Libc.SOL_SOCKET, Libc.SO_MARK, mark, "setsockopt(SO_MARK, 0x" + Integer.toHexString(mark) + ")");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A channel factory whose sockets are created inside {@code ns} (see the class comment for why
     * that is enough). For client {@code Bootstrap}s dialling from a pod's namespace.
     */
    public static <C extends Channel> ChannelFactory<C> inNamespace(Netns ns, ChannelFactory<? extends C> factory) {
        return () -> {
            try {
                return ns.run(factory::newChannel);
            } catch (ChannelException e) {
                throw e;
            } catch (Exception e) {
                throw new ChannelException("cannot create a channel in " + ns, e);
            }
        };
    }

    /** A channel factory whose sockets carry SO_MARK {@code mark} from creation, before any connect. */
    public static <C extends Channel> ChannelFactory<C> marked(int mark, ChannelFactory<? extends C> factory) {
        return () -> {
            C ch = factory.newChannel();
            try {
                setMark(ch, mark);
            } catch (RuntimeException e) {
                ch.unsafe().closeForcibly();
                throw new ChannelException("cannot mark a new channel 0x" + Integer.toHexString(mark), e);
            }
            return ch;
        };
    }

    /**
     * Binds a copy of {@code b} whose server socket is created inside {@code ns}; {@code b} itself
     * is left as it was. Accepted connections belong to {@code ns} too.
     *
     * <p>The copy is a new ServerBootstrap carrying {@code b}'s groups, handlers, options and
     * attributes ({@code b.clone()} cannot be used: Netty refuses to replace a channel factory).
     * Only the channel's construction runs inside the namespace, never {@code bind()} as a whole:
     * that would register the channel from inside it, and registering may start an event-loop
     * thread, which would then live in the pod's namespace for good.
     */
    @SuppressWarnings({"deprecation", "unchecked", "rawtypes"}) // config() types: the old ChannelFactory, wildcard maps
    public static ChannelFuture bindIn(Netns ns, ServerBootstrap b, SocketAddress address) {
        ServerBootstrapConfig c = b.config();
        io.netty.bootstrap.ChannelFactory<? extends ServerChannel> original = c.channelFactory();
        if (original == null || c.childHandler() == null) {
            throw new IllegalStateException("the ServerBootstrap is incomplete (expected channel(...) and childHandler(...) set)");
        }
        ChannelFactory<ServerChannel> inside = () -> {
            try {
                return ns.run(original::newChannel);
            } catch (ChannelException e) {
                throw e;
            } catch (Exception e) {
                throw new ChannelException("cannot create a server channel in " + ns, e);
            }
        };
        ServerBootstrap copy = new ServerBootstrap().group(c.group(), c.childGroup()).channelFactory(inside)
                .childHandler(c.childHandler());
        if (c.handler() != null) {
            copy.handler(c.handler());
        }
        c.options().forEach((k, v) -> copy.option((ChannelOption) k, v));
        c.attrs().forEach((k, v) -> copy.attr((AttributeKey) k, v));
        c.childOptions().forEach((k, v) -> copy.childOption((ChannelOption) k, v));
        c.childAttrs().forEach((k, v) -> copy.childAttr((AttributeKey) k, v));
        return copy.bind(address);
    }
}
