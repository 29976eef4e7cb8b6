package dev.meshlite.istiod.ca.client;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/** Runs renewal work later, off any event loop. Tests drive a fake one with a fake clock. */
public interface RenewalScheduler extends AutoCloseable {

    /** Something scheduled that can be called off. */
    interface Scheduled {
        void cancel();
    }

    Scheduled schedule(Runnable task, Duration delay);

    @Override
    void close();

    /** One daemon thread: renewals are rare and short (a key pair, a CSR, one RPC). */
    static RenewalScheduler singleThread(String name) {
        ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
        return new RenewalScheduler() {
            @Override
            public Scheduled schedule(Runnable task, Duration delay) {
                ScheduledFuture<?> f = executor.schedule(task, Math.max(0, delay.toMillis()), TimeUnit.MILLISECONDS);
                return () -> f.cancel(false);
            }

            @Override
            public void close() {
                executor.shutdownNow();
            }
        };
    }
}
