package dev.meshlite.ztunnel.socket;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What needs no privilege: identity, ownership and the virtual-thread guard. */
class NetnsTest {

    static long inode(Path p) throws Exception {
        return ((Number) Files.getAttribute(p, "unix:ino")).longValue();
    }

    @Test
    void currentIsTheProcesssOwnNamespaceAndIsShared() throws Exception {
        Netns host = Netns.current();
        assertEquals(inode(Path.of("/proc/self/ns/net")), host.inode());
        host.close(); // shared: must stay usable
        assertSame(host, Netns.current());
        try (Netns again = Netns.open(Path.of("/proc/self/ns/net"))) {
            assertEquals(host.inode(), again.inode());
        }
    }

    @Test
    void adoptRefusesAndClosesADescriptorThatIsNoNetworkNamespace(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("plain"), "x");
        int fd = Libc.open(file.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Netns.adopt(fd));
        assertTrue(e.getMessage().contains("is not a network namespace"), e.getMessage());
        assertTrue(!Files.exists(Path.of("/proc/self/fd/" + fd)) || !Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).equals(file),
                "the refused descriptor was closed");
    }

    @Test
    void dupGivesAnIndependentHandle() throws Exception {
        try (Netns a = Netns.open(Path.of("/proc/self/ns/net"))) {
            int raw = Libc.open("/proc/self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC);
            Netns b = Netns.dup(raw);
            Libc.close(raw); // the caller's own descriptor; b has its own
            assertEquals(a.inode(), b.inode());
            b.close();
            b.close(); // idempotent
        }
    }

    @Test
    void runRefusesVirtualThreads() throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread.ofVirtual().start(() -> {
            try {
                Netns.current().run(() -> "never");
            } catch (Throwable t) {
                thrown.set(t);
            }
        }).join();
        assertTrue(thrown.get() instanceof IllegalStateException, String.valueOf(thrown.get()));
        assertTrue(thrown.get().getMessage().contains("expected a platform thread"));
    }

    @Test
    void aClosedNamespaceCannotBeEntered() {
        Netns ns = Netns.open(Path.of("/proc/self/ns/net"));
        ns.close();
        assertThrows(IllegalStateException.class, () -> ns.run(() -> 1));
    }
}
