package dev.meshlite.cni.handoff;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One Unix SOCK_SEQPACKET socket: each send is one packet and each receive returns exactly one,
 * so the handoff needs no framing, and file descriptors ride along as SCM_RIGHTS.
 *
 * <p>The instance owns its descriptor and is used by one thread at a time (its owner serializes
 * access); {@link #close()} is idempotent. No call blocks without a bound: waits go through
 * poll(2) with a timeout and the I/O itself is non-blocking ({@code MSG_DONTWAIT}).
 */
final class UnixSeqpacket implements AutoCloseable {

    /** Handoff messages are small JSON objects; anything larger is refused rather than read in part. */
    static final int MAX_MESSAGE = 64 * 1024;
    /** A message carries at most one descriptor; room for a few more lets extras be seen and closed. */
    private static final int MAX_FDS = 8;

    private final int fd;
    private boolean closed;

    private UnixSeqpacket(int fd) {
        this.fd = fd;
    }

    int fd() {
        return fd;
    }

    /** What one receive returned: the payload, the descriptors it carried, and whether it was cut. */
    record Packet(byte[] data, List<NetnsFd> fds, boolean truncated) {
        Packet {
            fds = List.copyOf(fds);
        }

        void closeFds() {
            fds.forEach(NetnsFd::close);
        }
    }

    static UnixSeqpacket listen(Path path) throws IOException {
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            Libc.bind(fd, address(arena, path), "bind " + path);
            Libc.listen(fd, 8);
            return new UnixSeqpacket(fd);
        } catch (IOException | RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    static UnixSeqpacket connect(Path path) throws IOException {
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            Libc.connect(fd, address(arena, path), "connect " + path);
            return new UnixSeqpacket(fd);
        } catch (IOException | RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    private static MemorySegment address(Arena arena, Path path) {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length >= Libc.SUN_PATH_MAX) {
            throw new IllegalArgumentException("socket path " + path + " is " + name.length
                    + " bytes (expected: < " + Libc.SUN_PATH_MAX + ")");
        }
        MemorySegment sun = arena.allocate(2 + Libc.SUN_PATH_MAX);
        sun.set(JAVA_SHORT, 0, (short) Libc.AF_UNIX);
        MemorySegment.copy(name, 0, sun, JAVA_BYTE, 2, name.length);
        // the rest is already zero: sun_path is NUL-terminated
        return sun;
    }

    /** Accepts one pending connection, or returns null when none is waiting. */
    UnixSeqpacket accept() throws IOException {
        try {
            return new UnixSeqpacket(Libc.accept4(fd, Libc.SOCK_CLOEXEC));
        } catch (Libc.ErrnoException e) {
            if (e.errno() == Libc.EAGAIN || e.errno() == Libc.EINTR) {
                return null;
            }
            throw e;
        }
    }

    /**
     * Waits up to {@code timeoutMillis} for any of {@code sockets} to have something to report
     * (a packet, a connection, the peer gone) and returns each one's poll revents, in order.
     */
    static short[] poll(List<UnixSeqpacket> sockets, short events, long timeoutMillis) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(8L * sockets.size());
            for (int i = 0; i < sockets.size(); i++) {
                fds.set(JAVA_INT, 8L * i, sockets.get(i).fd);
                fds.set(JAVA_SHORT, 8L * i + 4, events);
            }
            int wait = (int) Math.max(0, Math.min(Integer.MAX_VALUE, timeoutMillis));
            try {
                Libc.poll(fds, sockets.size(), wait);
            } catch (Libc.ErrnoException e) {
                if (e.errno() != Libc.EINTR) {
                    throw e;
                }
            }
            short[] revents = new short[sockets.size()];
            for (int i = 0; i < revents.length; i++) {
                revents[i] = fds.get(JAVA_SHORT, 8L * i + 6);
            }
            return revents;
        }
    }

    /** Whether a packet (or the peer's close) is waiting, after up to {@code timeoutMillis}. */
    boolean awaitReadable(long timeoutMillis) throws IOException {
        return poll(List.of(this), Libc.POLLIN, timeoutMillis)[0] != 0;
    }

    /**
     * Sends {@code data} as one packet, with {@code passFd} attached as SCM_RIGHTS unless it is -1.
     * The caller keeps its descriptor: the kernel holds its own reference while the packet is in flight.
     */
    void send(byte[] data, int passFd, long timeoutMillis) throws IOException {
        if (data.length == 0 || data.length > MAX_MESSAGE) {
            throw new IllegalArgumentException("packet of " + data.length + " bytes (expected: 1.." + MAX_MESSAGE + ")");
        }
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(data.length);
            MemorySegment.copy(data, 0, buf, JAVA_BYTE, 0, data.length);
            MemorySegment iov = arena.allocate(16, 8);
            iov.set(JAVA_LONG, 0, buf.address());
            iov.set(JAVA_LONG, 8, data.length);
            MemorySegment msg = arena.allocate(Libc.MSGHDR_SIZE, 8);
            msg.set(JAVA_LONG, Libc.MSG_IOV, iov.address());
            msg.set(JAVA_LONG, Libc.MSG_IOVLEN, 1);
            if (passFd >= 0) {
                long space = Libc.CMSG_HDR + 8; // CMSG_SPACE(sizeof(int))
                MemorySegment control = arena.allocate(space, 8);
                control.set(JAVA_LONG, 0, Libc.CMSG_HDR + 4); // CMSG_LEN(sizeof(int))
                control.set(JAVA_INT, 8, Libc.SOL_SOCKET);
                control.set(JAVA_INT, 12, Libc.SCM_RIGHTS);
                control.set(JAVA_INT, Libc.CMSG_HDR, passFd);
                msg.set(JAVA_LONG, Libc.MSG_CONTROL, control.address());
                msg.set(JAVA_LONG, Libc.MSG_CONTROLLEN, space);
            }
            while (true) {
                try {
                    Libc.sendmsg(fd, msg, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
                    return;
                } catch (Libc.ErrnoException e) {
                    if (e.errno() != Libc.EAGAIN && e.errno() != Libc.EINTR) {
                        throw e;
                    }
                }
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) {
                    throw new IOException("the peer did not take a packet within " + timeoutMillis + " ms");
                }
                poll(List.of(this), Libc.POLLOUT, left);
            }
        }
    }

    /**
     * Receives one packet without blocking: null when none is waiting; EOFException when the peer
     * has closed. Descriptors arrive close-on-exec and are owned by the returned packet.
     */
    Packet receive() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(MAX_MESSAGE);
            MemorySegment iov = arena.allocate(16, 8);
            iov.set(JAVA_LONG, 0, buf.address());
            iov.set(JAVA_LONG, 8, MAX_MESSAGE);
            long space = Libc.CMSG_HDR + 4L * MAX_FDS;
            MemorySegment control = arena.allocate(space, 8);
            MemorySegment msg = arena.allocate(Libc.MSGHDR_SIZE, 8);
            msg.set(JAVA_LONG, Libc.MSG_IOV, iov.address());
            msg.set(JAVA_LONG, Libc.MSG_IOVLEN, 1);
            msg.set(JAVA_LONG, Libc.MSG_CONTROL, control.address());
            msg.set(JAVA_LONG, Libc.MSG_CONTROLLEN, space);
            long n;
            try {
                n = Libc.recvmsg(fd, msg, Libc.MSG_DONTWAIT | Libc.MSG_CMSG_CLOEXEC);
            } catch (Libc.ErrnoException e) {
                if (e.errno() == Libc.EAGAIN || e.errno() == Libc.EINTR) {
                    return null;
                }
                throw e;
            }
            List<NetnsFd> fds = new ArrayList<>();
            long controlLen = msg.get(JAVA_LONG, Libc.MSG_CONTROLLEN);
            for (long off = 0; off + Libc.CMSG_HDR <= controlLen; ) {
                long len = control.get(JAVA_LONG, off);
                if (len < Libc.CMSG_HDR || off + len > controlLen) {
                    break;
                }
                if (control.get(JAVA_INT, off + 8) == Libc.SOL_SOCKET && control.get(JAVA_INT, off + 12) == Libc.SCM_RIGHTS) {
                    for (long p = off + Libc.CMSG_HDR; p + 4 <= off + len; p += 4) {
                        fds.add(new NetnsFd(control.get(JAVA_INT, p)));
                    }
                }
                off += (len + 7) & ~7L;
            }
            // A zero-length read is the peer's close: the handoff never sends empty packets.
            if (n == 0) {
                fds.forEach(NetnsFd::close);
                throw new EOFException("the peer closed the handoff socket");
            }
            int flags = msg.get(JAVA_INT, Libc.MSG_FLAGS);
            byte[] data = buf.asSlice(0, Math.min(n, MAX_MESSAGE)).toArray(JAVA_BYTE);
            return new Packet(data, fds, (flags & (Libc.MSG_TRUNC | Libc.MSG_CTRUNC)) != 0);
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }
}
