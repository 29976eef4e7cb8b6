package dev.meshlite.istiod.ca.client;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Runs scheduled tasks when the test moves the clock: time-driven logic without waiting. */
final class FakeScheduler implements RenewalScheduler {

    private final MutableClock clock;
    private final List<Task> tasks = new ArrayList<>();
    private long sequence;

    private final class Task implements Scheduled {
        final Instant due;
        final long order = sequence++;
        final Runnable body;
        boolean cancelled;

        Task(Instant due, Runnable body) {
            this.due = due;
            this.body = body;
        }

        @Override
        public void cancel() {
            cancelled = true;
        }
    }

    FakeScheduler(MutableClock clock) {
        this.clock = clock;
    }

    @Override
    public synchronized Scheduled schedule(Runnable task, Duration delay) {
        Task t = new Task(clock.instant().plus(delay), task);
        tasks.add(t);
        return t;
    }

    /** Moves the clock to {@code until}, running every task due on the way at its due time. */
    void advanceTo(Instant until) {
        while (true) {
            Task next;
            synchronized (this) {
                tasks.removeIf(t -> t.cancelled);
                next = tasks.stream().filter(t -> !t.due.isAfter(until))
                        .min(Comparator.<Task, Instant>comparing(t -> t.due).thenComparingLong(t -> t.order))
                        .orElse(null);
                if (next == null) {
                    break;
                }
                tasks.remove(next);
            }
            if (next.due.isAfter(clock.instant())) {
                clock.set(next.due);
            }
            next.body.run();
        }
        if (until.isAfter(clock.instant())) {
            clock.set(until);
        }
    }

    void advance(Duration d) {
        advanceTo(clock.instant().plus(d));
    }

    synchronized int pending() {
        tasks.removeIf(t -> t.cancelled);
        return tasks.size();
    }

    @Override
    public void close() {}
}
