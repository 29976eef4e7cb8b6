package dev.meshlite.istiod.watch;

import dev.meshlite.istiod.lead.Leadership;
import dev.meshlite.istiod.model.Problem;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Raises a problem as a Warning Event on its object ({@code kubectl describe} shows it), best
 * effort: the log line and the metric are the record; an Event that cannot be written is skipped.
 *
 * <p>Only the leader writes Events. The Event's name is derived from the problem alone, so every
 * replica names it alike: a new leader catching up ({@link #raiseIfAbsent}) recognises the Events
 * its predecessor wrote and leaves them be, instead of raising them a second time.
 */
final class ProblemEvents {

    private static final Logger log = LoggerFactory.getLogger(ProblemEvents.class);
    static final String REASON = "InvalidMeshConfig";

    private final KubernetesClient client;
    private final Leadership leadership;

    ProblemEvents(KubernetesClient client, Leadership leadership) {
        this.client = client;
        this.leadership = leadership;
    }

    /** A problem this replica just noticed: writes its Event, refreshing one left from before. */
    void raise(Problem p, List<? extends HasMetadata> candidates) {
        write(p, candidates, false);
    }

    /** A problem noticed before this replica led: writes its Event only if nobody did. */
    void raiseIfAbsent(Problem p, List<? extends HasMetadata> candidates) {
        write(p, candidates, true);
    }

    /** The Event's name: the object's, and a hash fixed by the problem's text (Arrays.hashCode is specified). */
    static String eventName(Problem p) {
        int h = Arrays.hashCode(new String[] {p.kind(), p.namespace(), p.name(), p.field(), p.reason()});
        return p.name() + "." + HexFormat.of().toHexDigits(h);
    }

    private void write(Problem p, List<? extends HasMetadata> candidates, boolean onlyIfAbsent) {
        HasMetadata target = candidates.stream()
                .filter(o -> p.name().equals(o.getMetadata().getName())
                        && (p.namespace().isEmpty() || p.namespace().equals(o.getMetadata().getNamespace())))
                .findFirst().orElse(null);
        if (target == null || !leadership.isLeader()) {
            return;
        }
        String ns = target.getMetadata().getNamespace() == null ? "default" : target.getMetadata().getNamespace();
        String name = eventName(p);
        String now = Instant.now().toString();
        Event event = new EventBuilder()
                .withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                .withInvolvedObject(new ObjectReferenceBuilder().withApiVersion(target.getApiVersion())
                        .withKind(target.getKind()).withNamespace(target.getMetadata().getNamespace())
                        .withName(target.getMetadata().getName()).withUid(target.getMetadata().getUid()).build())
                .withType("Warning").withReason(REASON)
                .withMessage(p.field() + ": " + p.reason())
                .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                .withNewSource().withComponent("istiod-lite").endSource()
                .build();
        try {
            var events = client.v1().events().inNamespace(ns);
            if (onlyIfAbsent) {
                if (events.withName(name).get() != null || !leadership.isLeader()) {
                    return;
                }
                events.resource(event).create();
            } else {
                events.resource(event).createOr(existing -> leadership.isLeader() ? existing.update() : null);
            }
        } catch (RuntimeException e) {
            // 409 on a catch-up create: another leader wrote it between the read and the create.
            if (!(onlyIfAbsent && e instanceof KubernetesClientException k && k.getCode() == 409)) {
                log.debug("event for {} not written: {}", p, e.toString());
            }
        }
    }
}
