package dev.meshlite.e2e;

/** An expectation of the demo that did not hold: it ends the demo, saying which. */
final class DemoFailure extends RuntimeException {
    DemoFailure(String message) {
        super(message);
    }
}
