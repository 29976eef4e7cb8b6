package dev.meshlite.istiod.lead;

import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether this replica may write to the API server now (DESIGN §6: several replicas serve, one
 * writes). Every replica serves certificates and xDS; only the one holding leadership creates the
 * CA root, publishes root ConfigMaps and raises Events.
 *
 * <p>Rules:
 * <ul>
 *   <li>{@link #isLeader()} flips first, inside the transition; listeners run afterwards. A writer
 *       checks {@code isLeader()} right before each request, so losing leadership stops writes at
 *       once even while a listener is still busy.</li>
 *   <li>Listeners run on one thread of their own, in transition order, never on the elector's:
 *       catching up (a ConfigMap in every namespace) must not delay a lease renewal.</li>
 *   <li>Each listener sees gained and lost strictly alternating, starting with gained: one that
 *       subscribes while this replica leads is told so at once.</li>
 * </ul>
 * A check-then-write can still race a loss by one request; a lease cannot fence that (Kubernetes'
 * own controllers live with the same window), which is why every write here is idempotent.
 */
public final class Leadership {

    private static final Logger log = LoggerFactory.getLogger(Leadership.class);

    /** Told when this replica starts and stops writing. */
    public interface Listener {
        void gained();

        void lost();
    }

    private final String identity;
    private final List<Listener> listeners = new ArrayList<>();
    // At most one thread, created when there is work and gone when idle: order is kept, and a
    // Leadership nobody transitions holds no thread.
    private final ThreadPoolExecutor transitions = new ThreadPoolExecutor(0, 1, 1, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), Thread.ofPlatform().name("leadership").daemon().factory());
    private volatile boolean leader;

    private Leadership(String identity, boolean leader) {
        this.identity = identity;
        this.leader = leader;
    }

    /** Leader for good: leader election is off (one replica), so this replica writes. */
    public static Leadership always(String identity) {
        return new Leadership(identity, true);
    }

    /** Not leading until an elector says otherwise. */
    public static Leadership elected(String identity) {
        return new Leadership(identity, false);
    }

    public String identity() {
        return identity;
    }

    public boolean isLeader() {
        return leader;
    }

    /** Adds {@code l}; if this replica leads now, {@code l.gained()} follows. */
    public synchronized void subscribe(Listener l) {
        listeners.add(l);
        if (leader) {
            transitions.execute(() -> notify(l, true));
        }
    }

    public synchronized void unsubscribe(Listener l) {
        listeners.remove(l);
    }

    /** The elector's side: this replica holds the lease. */
    public void gain() {
        transition(true);
    }

    /** The elector's side: this replica no longer holds the lease (or is shutting down). */
    public void lose() {
        transition(false);
    }

    private synchronized void transition(boolean now) {
        if (leader == now) {
            return;
        }
        leader = now;
        notifyAll();
        log.info(now ? "{} is now the leader: it writes (CA root, root ConfigMaps, events)"
                : "{} is no longer the leader: it stops writing and keeps serving", identity);
        for (Listener l : List.copyOf(listeners)) {
            transitions.execute(() -> notify(l, now));
        }
    }

    private void notify(Listener l, boolean gained) {
        try {
            if (gained) {
                l.gained();
            } else {
                l.lost();
            }
        } catch (RuntimeException e) {
            log.warn("leadership listener {} failed on {}: {}", l, gained ? "gain" : "loss", e.toString(), e);
        }
    }

    /** Waits until this replica leads or {@code bound} has passed; returns whether it leads. */
    public synchronized boolean awaitLeader(Duration bound) throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        while (!leader) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return true;
    }

    /** {@code istiod_leader}: 1 on the replica that writes, 0 on the others. */
    public void exportTo(PrometheusRegistry registry) {
        GaugeWithCallback.builder().name("istiod_leader")
                .help("1 if this replica holds leadership (it writes to the API server), else 0")
                .callback(cb -> cb.call(leader ? 1 : 0))
                .register(registry);
    }

    @Override
    public String toString() {
        return identity + (leader ? " (leader)" : " (follower)");
    }
}
