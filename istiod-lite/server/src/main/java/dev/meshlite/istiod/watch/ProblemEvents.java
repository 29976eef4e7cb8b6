package dev.meshlite.istiod.watch;

import dev.meshlite.istiod.model.Problem;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Raises a problem as a Warning Event on its object ({@code kubectl describe} shows it), best
 * effort: the log line and the metric are the record; an Event that cannot be written is skipped.
 */
final class ProblemEvents {

    private static final Logger log = LoggerFactory.getLogger(ProblemEvents.class);
    static final String REASON = "InvalidMeshConfig";

    private ProblemEvents() {}

    static void raise(KubernetesClient client, Problem p, List<? extends HasMetadata> candidates) {
        HasMetadata target = candidates.stream()
                .filter(o -> p.name().equals(o.getMetadata().getName())
                        && (p.namespace().isEmpty() || p.namespace().equals(o.getMetadata().getNamespace())))
                .findFirst().orElse(null);
        if (target == null) {
            return;
        }
        String ns = target.getMetadata().getNamespace() == null ? "default" : target.getMetadata().getNamespace();
        String now = Instant.now().toString();
        try {
            client.v1().events().inNamespace(ns).resource(new EventBuilder()
                    .withNewMetadata().withNamespace(ns)
                    .withName(target.getMetadata().getName() + "." + HexFormat.of().toHexDigits(p.hashCode()))
                    .endMetadata()
                    .withInvolvedObject(new ObjectReferenceBuilder().withApiVersion(target.getApiVersion())
                            .withKind(target.getKind()).withNamespace(target.getMetadata().getNamespace())
                            .withName(target.getMetadata().getName()).withUid(target.getMetadata().getUid()).build())
                    .withType("Warning").withReason(REASON)
                    .withMessage(p.field() + ": " + p.reason())
                    .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                    .withNewSource().withComponent("istiod-lite").endSource()
                    .build()).createOr(existing -> existing.update());
        } catch (RuntimeException e) {
            log.debug("event for {} not written: {}", p, e.toString());
        }
    }
}
