package dev.meshlite.istiod.watch;

import java.time.Duration;
import java.time.Instant;

/**
 * When to rebuild after a burst of changes: once the cluster has been quiet for {@code quiet}
 * since the last change, but never later than {@code max} after the first unbuilt change, so a
 * steady trickle of pod updates cannot hold a namespace label change back.
 */
record Debounce(Duration quiet, Duration max) {

    Debounce {
        if (quiet.isNegative() || max.compareTo(quiet) < 0) {
            throw new IllegalArgumentException("debounce: quiet " + quiet + ", max " + max
                    + " (expected: 0 <= quiet <= max)");
        }
    }

    /** The rebuild time for changes from {@code first} to {@code last} (both not yet built). */
    Instant due(Instant first, Instant last) {
        Instant quietEnd = last.plus(quiet);
        Instant cap = first.plus(max);
        return quietEnd.isBefore(cap) ? quietEnd : cap;
    }
}
