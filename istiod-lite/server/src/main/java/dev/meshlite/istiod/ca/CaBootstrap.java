package dev.meshlite.istiod.ca;

import dev.meshlite.istiod.lead.Leadership;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CA's keys at start-up. Stored keys are loaded by every replica. On the very first start
 * there are none: the leader creates the root; any other replica waits until the root appears or
 * it becomes the leader itself (a replica cannot serve without keys: its own TLS certificate is
 * signed by them).
 */
final class CaBootstrap {

    private static final Logger log = LoggerFactory.getLogger(CaBootstrap.class);

    /** How often a waiting replica looks for the root; leadership wakes it earlier. */
    static final Duration POLL = Duration.ofMillis(500);
    private static final Duration NOTE_EVERY = Duration.ofSeconds(10);

    private CaBootstrap() {}

    static CaKeys keys(CaSecretStore store, Leadership leadership, String where) {
        long nextNote = System.nanoTime();
        while (true) {
            Optional<CaKeys> stored = store.load();
            if (stored.isPresent()) {
                return stored.get();
            }
            if (leadership.isLeader()) {
                return store.loadOrCreate();
            }
            if (System.nanoTime() >= nextNote) {
                log.info("no CA root in {} yet: waiting for the leader to create it", where);
                nextNote = System.nanoTime() + NOTE_EVERY.toNanos();
            }
            try {
                leadership.awaitLeader(POLL);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the CA root in " + where, e);
            }
        }
    }
}
