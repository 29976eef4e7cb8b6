package dev.meshlite.e2e.bench;

/** A benchmark run that cannot produce honest figures: it stops and says why. */
final class BenchFailure extends RuntimeException {
    BenchFailure(String message) {
        super(message);
    }
}
