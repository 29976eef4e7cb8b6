package dev.meshlite.hbone.client;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * One HTTP/2 connection of the pool and its stream accounting. All mutable fields are guarded by
 * the owning {@link ConnectionPool}'s lock; {@code channel} is written once before the connection
 * is established.
 */
final class PooledConnection {

    final PoolKey key;
    /** The loop the connection is created on, or {@code null} for any (the group picks). */
    final EventLoop loop;
    /** Streams reserved (opening or open). Never above {@code limit} once established. */
    int reserved;
    /** min(our maximum, the server's SETTINGS_MAX_CONCURRENT_STREAMS). */
    int limit;
    /** False once dead, draining (GOAWAY) or idle-closed: it takes no new streams. */
    boolean usable = true;
    boolean established;
    /** Bumped on every reservation so an idle timer armed earlier can tell it is stale. */
    long generation;
    /** Reservations made before the connection was established, completed in order. */
    final List<CompletableFuture<PooledConnection>> waiters = new ArrayList<>();
    volatile Channel channel;

    PooledConnection(PoolKey key, int limit, EventLoop loop) {
        this.key = key;
        this.loop = loop;
        this.limit = limit;
    }

    /**
     * Whether the connection lives on {@code loop}: created there, or created for any loop and
     * registered on this one by the group.
     */
    boolean livesOn(EventLoop loop) {
        Channel ch = channel;
        return this.loop == loop || (this.loop == null && ch != null && ch.eventLoop() == loop);
    }

    @Override
    public String toString() {
        return "PooledConnection[" + key.destination() + ", " + reserved + "/" + limit
                + (usable ? "" : ", draining") + "]";
    }
}
