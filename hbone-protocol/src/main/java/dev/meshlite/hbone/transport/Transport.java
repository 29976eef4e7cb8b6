package dev.meshlite.hbone.transport;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringDatagramChannel;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.Locale;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The I/O transport: epoll when the kernel offers it, else io_uring, else NIO.
 *
 * <p>Why epoll before io_uring: measured on the 2-core benchmark machine (kernel 6.18, iperf3 through
 * {@code hbone connect --listen} → {@code hbone serve}, one connection, warmed JVMs), the two proxies
 * spent 2.8 CPU-seconds per GB relayed on io_uring against 1.8-2.3 on epoll, and io_uring runs also
 * showed seconds-long dips to under 1 Gbit/s with idle CPU that epoll runs did not. io_uring stays
 * selectable ({@code -Dhbone.transport=io_uring}).
 *
 * <p>{@code -Dhbone.transport=io_uring|epoll|nio} (or the environment variable
 * {@code HBONE_TRANSPORT}) forces a choice; forcing one that is unavailable fails loudly rather than
 * silently falling back, so a benchmark never measures a transport it did not ask for.
 */
public enum Transport {
    IO_URING(IoUringIoHandler::newFactory, IoUringSocketChannel.class, IoUringServerSocketChannel.class),
    EPOLL(EpollIoHandler::newFactory, EpollSocketChannel.class, EpollServerSocketChannel.class),
    NIO(NioIoHandler::newFactory, NioSocketChannel.class, NioServerSocketChannel.class);

    public static final String PROPERTY = "hbone.transport";
    public static final String ENV = "HBONE_TRANSPORT";
    /** Preference without an override. */
    static final java.util.List<Transport> AUTO_ORDER = java.util.List.of(EPOLL, IO_URING, NIO);

    private final Supplier<IoHandlerFactory> factory;
    private final Class<? extends SocketChannel> socketChannel;
    private final Class<? extends ServerSocketChannel> serverChannel;

    Transport(Supplier<IoHandlerFactory> factory, Class<? extends SocketChannel> socketChannel,
              Class<? extends ServerSocketChannel> serverChannel) {
        this.factory = factory;
        this.socketChannel = socketChannel;
        this.serverChannel = serverChannel;
    }

    /** The transport to use here: the override if set, else the best available. */
    public static Transport select() {
        return select(System.getProperty(PROPERTY, System.getenv(ENV)), Transport::isAvailable);
    }

    /** Pure selection logic, separated for tests. */
    static Transport select(String override, Function<Transport, Boolean> available) {
        if (override != null && !override.isBlank()) {
            Transport forced = parse(override);
            if (!available.apply(forced)) {
                throw new IllegalStateException(PROPERTY + "=" + override + " but " + forced
                        + " is not available here: " + forced.unavailabilityCause());
            }
            return forced;
        }
        for (Transport t : AUTO_ORDER) {
            if (available.apply(t)) {
                return t;
            }
        }
        return NIO;
    }

    static Transport parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT).replace('-', '_')) {
            case "io_uring", "iouring", "uring" -> IO_URING;
            case "epoll" -> EPOLL;
            case "nio" -> NIO;
            default -> throw new IllegalArgumentException(PROPERTY + ": '" + name
                    + "' (expected: io_uring, epoll, nio)");
        };
    }

    public boolean isAvailable() {
        try {
            return switch (this) {
                case IO_URING -> IoUring.isAvailable();
                case EPOLL -> Epoll.isAvailable();
                case NIO -> true;
            };
        } catch (Throwable t) { // a missing native jar surfaces as a LinkageError
            return false;
        }
    }

    String unavailabilityCause() {
        try {
            Throwable cause = switch (this) {
                case IO_URING -> IoUring.unavailabilityCause();
                case EPOLL -> Epoll.unavailabilityCause();
                case NIO -> null;
            };
            return String.valueOf(cause);
        } catch (Throwable t) {
            return t.toString();
        }
    }

    /** An event loop group of {@code threads} loops ({@code 0}: one per core). */
    public EventLoopGroup newEventLoopGroup(int threads, String name) {
        int n = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        return new MultiThreadIoEventLoopGroup(n, new DefaultThreadFactory(name, true), factory.get());
    }

    public Class<? extends SocketChannel> socketChannel() {
        return socketChannel;
    }

    public Class<? extends ServerSocketChannel> serverChannel() {
        return serverChannel;
    }

    /** UDP sockets of this transport (ztunnel's DNS proxy). */
    public Class<? extends DatagramChannel> datagramChannel() {
        return switch (this) {
            case IO_URING -> IoUringDatagramChannel.class;
            case EPOLL -> EpollDatagramChannel.class;
            case NIO -> NioDatagramChannel.class;
        };
    }
}
