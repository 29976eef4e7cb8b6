package dev.meshlite.istiod.ca.client;

import java.time.Duration;
import java.util.random.RandomGenerator;

/**
 * Exponential backoff with jitter for retries while the CA is away: attempt n waits
 * {@code min(max, initial * 2^(n-1))} scaled by a random factor in [0.5, 1), so a fleet of
 * proxies that lost the CA together does not return together.
 */
public record Backoff(Duration initial, Duration max) {

    public static final Backoff DEFAULT = new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(1));

    public Backoff {
        if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("backoff: initial " + initial + ", max " + max
                    + " (expected: 0 < initial <= max)");
        }
    }

    public Duration delay(int failures, RandomGenerator random) {
        int shift = Math.min(Math.max(failures, 1) - 1, 30);
        long ceiling = Math.min(max.toMillis(), initial.toMillis() << shift);
        return Duration.ofMillis((long) (ceiling * (0.5 + 0.5 * random.nextDouble())));
    }
}
