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
    final Debounce debounce = new Debounce(Duration.ofMillis(100), Duration.ofSeconds(1));

    @ParameterizedTest(name = "first +{0} ms, last +{1} ms -> due +{2} ms")
    @CsvSource({
            "0, 0, 100",        // a single change: after the quiet period
            "0, 50, 150",       // another change restarts the quiet period
            "0, 899, 999",
            "0, 900, 1000",     // the cap is reached exactly
            "0, 950, 1000",     // a steady trickle cannot push past first + max
            "0, 5000, 1000"})
    void dueIsTheQuietEndCappedAtMaxAfterTheFirstChange(long first, long last, long due) {
        assertEquals(T0.plusMillis(due), debounce.due(T0.plusMillis(first), T0.plusMillis(last)));
    }

    @Test
    void maxBelowQuietIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Debounce(Duration.ofSeconds(2), Duration.ofSeconds(1)));
    }
}
