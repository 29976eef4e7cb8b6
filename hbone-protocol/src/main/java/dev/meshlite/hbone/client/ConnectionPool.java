package dev.meshlite.hbone.client;

import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The rules of the pool (DESIGN §4):
 * <ol>
 *   <li>Connections are shared only by tunnels with the same {@link PoolKey}.
 *   <li>A connection carries at most {@code min(maxStreams, server's SETTINGS_MAX_CONCURRENT_STREAMS)}
 *       streams; when every connection of a key is full, another one is opened.
 *   <li>Opens that arrive while a connection is still handshaking reserve a slot on it and wait:
 *       concurrent opens for one key share one handshake. If the server's limit turns out smaller
 *       than the reservations, the surplus goes through the pool again.
 *   <li>A connection that dies, or receives GOAWAY, leaves the pool at once; its open streams end
 *       on their own.
 *   <li>A connection without streams for {@code idleTimeout} is closed.
 *   <li>A caller on one of the client's event loops is given only connections living on that
 *       loop, and a new connection is opened on it when they are full or missing; other callers
 *       take any (and a connection one of them opened serves later callers of the loop the group
 *       gave it). A key therefore holds up to one set of connections per loop, as a proxy's worker
 *       threads each keep their own upstream pools: a socket whose stream rode a connection on
 *       another loop would hand every read to that loop (a queued task and an eventfd wake-up),
 *       both ways, for the whole life of the tunnel.
 * </ol>
 * The pool's state is guarded by this object's monitor; no I/O is ever done while holding it.
 */
final class ConnectionPool {

    private final Map<PoolKey, List<PooledConnection>> byKey = new HashMap<>();
    private final int maxStreams;
    private final Duration idleTimeout;
    private final Consumer<PooledConnection> connector;
    private boolean closed;

    ConnectionPool(int maxStreams, Duration idleTimeout, Consumer<PooledConnection> connector) {
        this.maxStreams = maxStreams;
        this.idleTimeout = idleTimeout;
        this.connector = connector;
    }

    /**
     * Reserves one stream slot for {@code key} on a connection of {@code loop} ({@code null}: any
     * connection); completes once its connection is established.
     */
    CompletableFuture<PooledConnection> acquire(PoolKey key, EventLoop loop) {
        PooledConnection toStart;
        CompletableFuture<PooledConnection> waiter = new CompletableFuture<>();
        synchronized (this) {
            if (closed) {
                return CompletableFuture.failedFuture(new HboneTunnelException(0, "client closed"));
            }
            List<PooledConnection> list = byKey.computeIfAbsent(key, k -> new ArrayList<>());
            for (PooledConnection c : list) {
                if (c.usable && c.reserved < c.limit && (loop == null || c.livesOn(loop))) {
                    c.reserved++;
                    c.generation++;
                    if (c.established) {
                        return CompletableFuture.completedFuture(c);
                    }
                    c.waiters.add(waiter);
                    return waiter;
                }
            }
            toStart = new PooledConnection(key, maxStreams, loop);
            toStart.reserved = 1;
            toStart.waiters.add(waiter);
            list.add(toStart);
        }
        connector.accept(toStart);
        return waiter;
    }

    /** The server's first SETTINGS arrived: the connection is ready with {@code serverLimit}. */
    void established(PooledConnection c, long serverLimit) {
        List<CompletableFuture<PooledConnection>> ready;
        List<CompletableFuture<PooledConnection>> surplus;
        synchronized (this) {
            c.established = true;
            c.limit = (int) Math.min(maxStreams, serverLimit);
            int n = Math.min(c.limit, c.waiters.size());
            ready = new ArrayList<>(c.waiters.subList(0, n));
            surplus = new ArrayList<>(c.waiters.subList(n, c.waiters.size()));
            c.waiters.clear();
            c.reserved -= surplus.size();
            if (c.limit == 0) {
                c.usable = false;
                remove(c);
            }
        }
        ready.forEach(w -> w.complete(c));
        if (c.limit == 0) {
            surplus.forEach(w -> w.completeExceptionally(new HboneTunnelException(0,
                    "server allows 0 concurrent streams")));
            c.channel.close();
            return;
        }
        for (CompletableFuture<PooledConnection> w : surplus) {
            acquire(c.key, c.loop).whenComplete((other, e) -> {
                if (e != null) {
                    w.completeExceptionally(e);
                } else {
                    w.complete(other);
                }
            });
        }
        armIdleIfUnused(c);
    }

    /** A later SETTINGS changed the server's limit. */
    synchronized void limitChanged(PooledConnection c, long serverLimit) {
        c.limit = (int) Math.min(maxStreams, serverLimit);
    }

    /** The connection failed before or after it was established; it leaves the pool now. */
    void failed(PooledConnection c, Throwable cause) {
        List<CompletableFuture<PooledConnection>> waiting;
        synchronized (this) {
            c.usable = false;
            remove(c);
            waiting = new ArrayList<>(c.waiters);
            c.waiters.clear();
        }
        waiting.forEach(w -> w.completeExceptionally(cause));
    }

    /** GOAWAY: no new streams here, the open ones may finish. */
    synchronized void draining(PooledConnection c) {
        c.usable = false;
        remove(c);
    }

    /** A stream of {@code c} ended (or failed to open). */
    void release(PooledConnection c) {
        synchronized (this) {
            c.reserved--;
        }
        armIdleIfUnused(c);
    }

    private void armIdleIfUnused(PooledConnection c) {
        long generation;
        synchronized (this) {
            if (c.reserved != 0 || !c.usable || !c.established) {
                return;
            }
            generation = c.generation;
        }
        c.channel.eventLoop().schedule(() -> {
            boolean close = false;
            synchronized (this) {
                if (c.reserved == 0 && c.usable && c.generation == generation) {
                    c.usable = false;
                    remove(c);
                    close = true;
                }
            }
            if (close) {
                c.channel.close(); // the codec sends GOAWAY first
            }
        }, idleTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void remove(PooledConnection c) {
        List<PooledConnection> list = byKey.get(c.key);
        if (list != null) {
            list.remove(c);
            if (list.isEmpty()) {
                byKey.remove(c.key);
            }
        }
    }

    synchronized int connections(PoolKey key) {
        List<PooledConnection> list = byKey.get(key);
        return list == null ? 0 : list.size();
    }

    synchronized int connections() {
        return byKey.values().stream().mapToInt(List::size).sum();
    }

    /** Stops handing out connections; returns every connection still pooled. */
    synchronized List<PooledConnection> close() {
        closed = true;
        List<PooledConnection> all = new ArrayList<>();
        byKey.values().forEach(all::addAll);
        byKey.clear();
        all.forEach(c -> c.usable = false);
        return all;
    }
}
