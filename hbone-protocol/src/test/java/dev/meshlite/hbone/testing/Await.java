package dev.meshlite.hbone.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waits for a condition with a bound; the bound only limits a failing test, never passes one. */
public final class Await {

    public static final Duration DEFAULT = Duration.ofSeconds(30);

    private Await() {}

    public static void until(BooleanSupplier condition, Supplier<String> whatFailed) {
        until(DEFAULT, condition, whatFailed);
    }

    public static void until(Duration bound, BooleanSupplier condition, Supplier<String> whatFailed) {
        long deadline = System.nanoTime() + bound.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + bound + ": " + whatFailed.get());
            }
            Thread.onSpinWait();
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting: " + whatFailed.get());
            }
        }
    }
}
