package dev.meshlite.ztunnel.socket;

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
 * The libc calls ztunnel's socket layer needs, through the FFM API (Linux, LP64). errno is
 * captured at the call itself, since whatever the JVM runs afterwards may overwrite it. None of
 * these calls blocks, so they are safe on Netty event-loop threads.
 */
final class Libc {

    static final int O_RDONLY = 0;
    static final int O_CLOEXEC = 0x80000;
    static final int CLONE_NEWNET = 0x40000000;
    static final int F_DUPFD_CLOEXEC = 1030;
    /** ioctl on a namespace descriptor: which kind of namespace it is (a CLONE_NEW* value). */
    static final long NS_GET_NSTYPE = 0xb703;
    static final int SOL_IP = 0;
    static final int SOL_SOCKET = 1;
    static final int SOL_IPV6 = 41;
    /** SO_ORIGINAL_DST for SOL_IP; IP6T_SO_ORIGINAL_DST has the same number for SOL_IPV6. */
    static final int SO_ORIGINAL_DST = 80;
    static final int SO_MARK = 36;
    static final int AF_INET = 2;
    static final int AF_INET6 = 10;
    static final int ENOENT = 2;
    static final int ENOPROTOOPT = 92;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(PathElement.groupElement("errno"));

    // open(2) and fcntl(2) are variadic: declared with their third argument so the call follows
    // the variadic convention exactly.
    private static final MethodHandle OPEN = errnoCall("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle FCNTL = errnoCall("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL = errnoCall("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = errnoCall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SETNS = errnoCall("setns", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle GETSOCKOPT = errnoCall("getsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SETSOCKOPT = errnoCall("setsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
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

    private static int check(int rc, MemorySegment state, String what) throws ErrnoException {
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

    static int open(String path, int flags) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CAPTURE);
            return check((int) OPEN.invokeExact(st, arena.allocateFrom(path), flags, 0), st, "open " + path);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** A new close-on-exec descriptor for what {@code fd} refers to. */
    static int dup(int fd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CAPTURE);
            return check((int) FCNTL.invokeExact(st, fd, F_DUPFD_CLOEXEC, 0), st, "fcntl(" + fd + ", F_DUPFD_CLOEXEC)");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The CLONE_NEW* type of a namespace descriptor (ENOTTY or EINVAL: not a namespace). */
    static int nsType(int fd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CAPTURE);
            return check((int) IOCTL.invokeExact(st, fd, NS_GET_NSTYPE, 0L), st, "ioctl(" + fd + ", NS_GET_NSTYPE)");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** close(2); never retried (Linux frees the descriptor even when close reports an error). */
    static void close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CAPTURE);
            int rc = (int) CLOSE.invokeExact(st, fd);
            assert rc == 0 || rc == -1;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static void setns(int fd, int nstype) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CAPTURE);
            check((int) SETNS.invokeExact(st, fd, nstype), st, "setns(" + fd + ")");
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** getsockopt(2) into {@code value}; returns the length the kernel wrote. */
    static int getsockopt(int fd, int level, int name, MemorySegment value, String what) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CAPTURE);
            MemorySegment len = arena.allocate(JAVA_INT);
            len.set(JAVA_INT, 0, (int) value.byteSize());
            check((int) GETSOCKOPT.invokeExact(st, fd, level, name, value, len), st, what);
            return len.get(JAVA_INT, 0);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static void setsockoptInt(int fd, int level, int name, int value, String what) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CAPTURE);
            MemorySegment v = arena.allocate(JAVA_INT);
            v.set(JAVA_INT, 0, value);
            check((int) SETSOCKOPT.invokeExact(st, fd, level, name, v, 4), st, what);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }
}
