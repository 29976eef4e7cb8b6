package dev.meshlite.hbone.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class TransportTest {

    @Test
    void prefersEpollThenIoUringThenNio() {
        assertEquals(Transport.EPOLL, Transport.select(null, t -> true));
        assertEquals(Transport.IO_URING, Transport.select(null, t -> t != Transport.EPOLL));
        assertEquals(Transport.NIO, Transport.select("", t -> t == Transport.NIO));
    }

    @Test
    void anOverrideWinsAndAnUnavailableOverrideFailsLoudly() {
        assertEquals(Transport.NIO, Transport.select("nio", t -> true));
        assertEquals(Transport.EPOLL, Transport.select("EPOLL", t -> true));
        assertThrows(IllegalStateException.class, () -> Transport.select("io_uring", t -> t == Transport.NIO));
        assertThrows(IllegalArgumentException.class, () -> Transport.select("kqueue", t -> true));
    }

    @Test
    void theSelectedTransportIsAvailableHere() {
        assertEquals(true, Transport.select().isAvailable());
    }
}
