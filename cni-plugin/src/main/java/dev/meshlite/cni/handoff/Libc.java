package dev.meshlite.cni.handoff;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The libc calls the handoff socket needs, reached through the FFM API (x86_64/aarch64 Linux, LP64:
 * the struct offsets below assume 8-byte pointers and size_t). Every call captures errno at the
 * call itself, because anything the JVM does afterwards may overwrite it.
 */
final class Libc {

    static final int AF_UNIX = 1;
    static final int SOCK_SEQPACKET = 5;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int O_RDONLY = 0;
    static final int O_CLOEXEC = 0x80000;
    static final int SOL_SOCKET = 1;
    static final int SCM_RIGHTS = 1;
    static final int MSG_CTRUNC = 0x8;
    static final int MSG_TRUNC = 0x20;
    static final int MSG_DONTWAIT = 0x40;
    static final int MSG_NOSIGNAL = 0x4000;
    static final int MSG_CMSG_CLOEXEC = 0x40000000;
    static final short POLLIN = 0x1;
    static final short POLLOUT = 0x4;
    static final short POLLERR = 0x8;
    static final short POLLHUP = 0x10;
    static final short POLLNVAL = 0x20;
    static final int EINTR = 4;
    static final int EAGAIN = 11;

    /** struct msghdr: name, namelen(+pad), iov, iovlen, control, controllen, flags(+pad). */
    static final long MSGHDR_SIZE = 56;
    static final long MSG_IOV = 16;
    static final long MSG_IOVLEN = 24;
    static final long MSG_CONTROL = 32;
    static final long MSG_CONTROLLEN = 40;
    static final long MSG_FLAGS = 48;
    /** struct cmsghdr: size_t len, int level, int type, then data aligned to 8. */
    static final long CMSG_HDR = 16;
    /** struct sockaddr_un: sa_family_t, then sun_path[108]. */
    static final int SUN_PATH_MAX = 108;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(PathElement.groupElement("errno"));

    private static final MethodHandle SOCKET = errnoCall("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = errnoCall("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN = errnoCall("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 = errnoCall("accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = errnoCall("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDMSG = errnoCall("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECVMSG = errnoCall("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle POLL = errnoCall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle CLOSE = errnoCall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    // open(2) is variadic (the mode follows only with O_CREAT); it is declared with its mode so
    // the call follows the variadic convention exactly.
    private static final MethodHandle OPEN = errnoCall("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow("strerror"),
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private Libc() {
    }

    private static MethodHandle errnoCall(String name, FunctionDescriptor fd, Linker.Option... more) {
        Linker.Option[] options = new Linker.Option[more.length + 1];
        options[0] = Linker.Option.captureCallState("errno");
        System.arraycopy(more, 0, options, 1, more.length);
        return LINKER.downcallHandle(LINKER.defaultLookup().findOrThrow(name), fd, options);
    }

    /** A failed call: what was attempted and the errno it ended with. */
    static final class ErrnoException extends IOException {
        private final int errno;

        ErrnoException(String what, int errno) {
            super(what + ": " + strerror(errno) + " (errno " + errno + ")");
            this.errno = errno;
        }

        int errno() {
            return errno;
        }
    }

    static MemorySegment state(Arena arena) {
        return arena.allocate(CAPTURE);
    }

    private static long check(long rc, MemorySegment state, String what) throws ErrnoException {
        if (rc == -1) {
            throw new ErrnoException(what, (int) ERRNO.get(state, 0L));
        }
        return rc;
    }

    static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    static int socket(int domain, int type, int protocol) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            return (int) check((int) SOCKET.invokeExact(st, domain, type, protocol), st, "socket");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static void bind(int fd, MemorySegment addr, String what) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            check((int) BIND.invokeExact(st, fd, addr, (int) addr.byteSize()), st, what);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static void listen(int fd, int backlog) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            check((int) LISTEN.invokeExact(st, fd, backlog), st, "listen");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int accept4(int fd, int flags) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            return (int) check((int) ACCEPT4.invokeExact(st, fd, MemorySegment.NULL, MemorySegment.NULL, flags), st, "accept4");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static void connect(int fd, MemorySegment addr, String what) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            check((int) CONNECT.invokeExact(st, fd, addr, (int) addr.byteSize()), st, what);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long sendmsg(int fd, MemorySegment msghdr, int flags) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            return check((long) SENDMSG.invokeExact(st, fd, msghdr, flags), st, "sendmsg");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static long recvmsg(int fd, MemorySegment msghdr, int flags) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            return check((long) RECVMSG.invokeExact(st, fd, msghdr, flags), st, "recvmsg");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** poll(2) over {@code pollfds} (struct pollfd: int fd, short events, short revents). */
    static int poll(MemorySegment pollfds, long count, int timeoutMillis) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            return (int) check((int) POLL.invokeExact(st, pollfds, count, timeoutMillis), st, "poll");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static int open(String path, int flags) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            return (int) check((int) OPEN.invokeExact(st, arena.allocateFrom(path), flags, 0), st, "open " + path);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * close(2). Linux releases the descriptor even when close reports an error (EINTR included),
     * so it is never retried: a retry could close a descriptor another thread just got.
     */
    static void close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = state(arena);
            int rc = (int) CLOSE.invokeExact(st, fd);
            assert rc == 0 || rc == -1;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
