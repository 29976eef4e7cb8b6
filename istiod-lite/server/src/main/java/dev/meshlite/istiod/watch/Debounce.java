package dev.meshlite.istiod.watch;

import java.time.Duration;
import java.time.Instant;

/**
 * When to rebuild after changes.
 *
 * <ul>
 *   <li>A change that comes after a quiet spell (no build for {@code quiet}) is built after
 *       {@code gather} only: a lone change (a label, a policy) takes effect at once, with the few
 *       events one API write causes together (a Service and its EndpointSlice) gathered in one build.</li>
 *   <li>Changes that follow a build closely are a burst (a rollout, an enrollment annotating every
 *       pod): built once the cluster has been quiet for {@code quiet} since the last change, but
 *       never later than {@code max} after the first unbuilt one, so a steady trickle of pod updates
 *       cannot hold a namespace label change back.</li>
 * </ul>
 * Builds cost what a change touches ({@code IncrementalModel}), so the leading build of a burst is
 * cheap; the quiet period bounds how often a burst rebuilds and pushes.
 */
record Debounce(Duration quiet, Duration max, Duration gather) {

    Debounce {
        if (gather.isNegative() || quiet.compareTo(gather) < 0 || max.compareTo(quiet) < 0) {
            throw new IllegalArgumentException("debounce: gather " + gather + ", quiet " + quiet + ", max " + max
                    + " (expected: 0 <= gather <= quiet <= max)");
        }
    }

    /**
     * The rebuild time for changes from {@code first} to {@code last} (both not yet built).
     *
     * @param previousBuild when the last build started; null when there was none
     */
    Instant due(Instant first, Instant last, Instant previousBuild) {
        if (previousBuild == null || !first.isBefore(previousBuild.plus(quiet))) {
            Instant gathered = first.plus(gather);
            Instant quietEnd = last.plus(quiet);
            return gathered.isBefore(quietEnd) ? gathered : quietEnd;
        }
        Instant quietEnd = last.plus(quiet);
        Instant cap = first.plus(max);
        return quietEnd.isBefore(cap) ? quietEnd : cap;
    }
}
