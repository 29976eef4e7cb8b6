package dev.meshlite.e2e.testing;

import java.time.Duration;
import java.time.Instant;
import java.util.function.Supplier;

/** Waits for a condition with a bound: the test fails with {@code what} if it never holds. */
public final class Await {

    private Await() {
    }

    public static void until(Duration bound, String what, Supplier<Boolean> condition) {
        Instant deadline = Instant.now().plus(bound);
        AssertionError last = null;
        while (Instant.now().isBefore(deadline)) {
            try {
                if (Boolean.TRUE.equals(condition.get())) {
                    return;
                }
            } catch (AssertionError | RuntimeException e) {
                last = e instanceof AssertionError a ? a : new AssertionError(e);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting for " + what);
            }
        }
        AssertionError failure = new AssertionError("not within " + bound.toSeconds() + " s: " + what);
        if (last != null) {
            failure.addSuppressed(last);
        }
        throw failure;
    }
}
