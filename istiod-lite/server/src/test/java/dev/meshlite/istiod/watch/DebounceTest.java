package dev.meshlite.istiod.watch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DebounceTest {

    static final Instant T0 = Instant.parse("2026-03-01T00:00:00Z");
    final Debounce debounce = new Debounce(Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ofMillis(10));
    /** A build 50 ms before T0: changes from T0 on are a burst. */
    static final Instant RECENT_BUILD = T0.minusMillis(50);

    @ParameterizedTest(name = "first +{0} ms, last +{1} ms -> due +{2} ms")
    @CsvSource({
            "0, 0, 100",        // a single change: after the quiet period
            "0, 50, 150",       // another change restarts the quiet period
            "0, 899, 999",
            "0, 900, 1000",     // the cap is reached exactly
            "0, 950, 1000",     // a steady trickle cannot push past first + max
            "0, 5000, 1000"})
    void inABurstDueIsTheQuietEndCappedAtMaxAfterTheFirstChange(long first, long last, long due) {
        assertEquals(T0.plusMillis(due), debounce.due(T0.plusMillis(first), T0.plusMillis(last), RECENT_BUILD));
    }

    @ParameterizedTest(name = "build -{0} ms, first +0, last +{1} ms -> due +{2} ms")
    @CsvSource({
            "-1, 0, 10",       // no build yet: the first change is built after the gather window
            "100, 0, 10",      // the last build a quiet period ago: this change leads, built at once
            "5000, 0, 10",
            "5000, 8, 10",     // a change within the gather window joins the leading build
            "5000, 30, 10",    // the leading build is already due when a later change comes
            "99, 0, 100"})     // a build 99 ms ago: still in a burst, the quiet period applies
    void aChangeAfterAQuietSpellIsBuiltAfterTheGatherWindow(long buildAgo, long last, long due) {
        Instant build = buildAgo < 0 ? null : T0.minusMillis(buildAgo);
        assertEquals(T0.plusMillis(due), debounce.due(T0, T0.plusMillis(last), build));
    }

    @Test
    void aGatherWindowAsLongAsTheQuietPeriodMakesEveryChangeWaitIt() {
        Debounce trailing = new Debounce(Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ofMillis(100));
        assertEquals(T0.plusMillis(100), trailing.due(T0, T0, null));
        assertEquals(T0.plusMillis(100), trailing.due(T0, T0, T0.minusSeconds(60)));
    }

    @Test
    void maxBelowQuietIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Debounce(Duration.ofSeconds(2), Duration.ofSeconds(1), Duration.ZERO));
        assertThrows(IllegalArgumentException.class,
                () -> new Debounce(Duration.ofMillis(10), Duration.ofSeconds(1), Duration.ofMillis(20)));
    }
}
