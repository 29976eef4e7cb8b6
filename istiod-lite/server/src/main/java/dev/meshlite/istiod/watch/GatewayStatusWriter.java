package dev.meshlite.istiod.watch;

import dev.meshlite.istiod.model.GatewayStatus;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.cache.Store;
import java.time.Clock;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the status the model owes to waypoint Gateways and HTTPRoutes (the leader's job).
 *
 * <p>Rules:
 * <ul>
 *   <li>Written only where it differs from what the object holds: a rebuild that changes nothing
 *       writes nothing, and our own write (which comes back as an update with the same spec) does
 *       not cause another.</li>
 *   <li>Only what is ours is replaced: a Gateway's {@code addresses} and {@code conditions} (other
 *       keys stay), an HTTPRoute's {@code parents} entries with our controller name (another
 *       controller's entries stay).</li>
 *   <li>A condition keeps its {@code lastTransitionTime} while its status stays the same.</li>
 *   <li>Best effort: a refused write (a conflict, the object gone, no permission) is logged and
 *       retried on the next rebuild that concerns the object.</li>
 * </ul>
 */
final class GatewayStatusWriter {

    private static final Logger log = LoggerFactory.getLogger(GatewayStatusWriter.class);

    private final KubernetesClient client;
    private final Clock clock;

    GatewayStatusWriter(KubernetesClient client, Clock clock) {
        this.client = client;
        this.clock = clock;
    }

    /** @return how many objects were written */
    int write(List<GatewayStatus> statuses, Store<GenericKubernetesResource> gateways,
            Store<GenericKubernetesResource> routes) {
        int written = 0;
        for (GatewayStatus st : statuses) {
            boolean gateway = st.kind().equals("Gateway");
            GenericKubernetesResource current = (gateway ? gateways : routes).getByKey(st.namespace() + "/" + st.name());
            if (current == null) {
                continue;
            }
            Map<String, Object> existing = asMap(current.getAdditionalProperties().get("status"));
            Map<String, Object> desired = gateway ? gatewayStatus(st, existing) : routeStatus(st, existing);
            if (desired.equals(existing)) {
                continue;
            }
            GenericKubernetesResource copy = client.getKubernetesSerialization().clone(current);
            copy.getAdditionalProperties().put("status", desired);
            try {
                client.genericKubernetesResources(gateway ? ClusterWatcher.GATEWAY : ClusterWatcher.HTTP_ROUTE)
                        .inNamespace(st.namespace()).resource(copy).updateStatus();
                written++;
                log.debug("status of {} written", st.key());
            } catch (KubernetesClientException e) {
                log.warn("cannot write the status of {} (retried on its next change): {}", st.key(), e.getMessage());
            }
        }
        return written;
    }

    private Map<String, Object> gatewayStatus(GatewayStatus st, Map<String, Object> existing) {
        Map<String, Object> out = new LinkedHashMap<>(existing);
        List<Object> addresses = new ArrayList<>();
        st.addresses().forEach(a -> addresses.add(Map.of("type", "IPAddress", "value", a)));
        out.put("addresses", addresses);
        out.put("conditions", conditions(st.conditions(), st.generation(), asList(existing.get("conditions"))));
        return out;
    }

    private Map<String, Object> routeStatus(GatewayStatus st, Map<String, Object> existing) {
        List<Object> before = asList(existing.get("parents"));
        List<Object> parents = new ArrayList<>();
        for (Object p : before) {
            if (!GatewayStatus.CONTROLLER.equals(asMap(p).get("controllerName"))) {
                parents.add(p); // another controller's
            }
        }
        for (GatewayStatus.Parent parent : st.parents()) {
            List<Object> previous = before.stream().map(GatewayStatusWriter::asMap)
                    .filter(p -> GatewayStatus.CONTROLLER.equals(p.get("controllerName"))
                            && sameRef(asMap(p.get("parentRef")), parent.parentRef()))
                    .findFirst().map(p -> asList(p.get("conditions"))).orElse(List.of());
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("parentRef", new LinkedHashMap<>(parent.parentRef()));
            entry.put("controllerName", GatewayStatus.CONTROLLER);
            entry.put("conditions", conditions(parent.conditions(), st.generation(), previous));
            parents.add(entry);
        }
        Map<String, Object> out = new LinkedHashMap<>(existing);
        out.put("parents", parents);
        return out;
    }

    private List<Object> conditions(List<GatewayStatus.Condition> conditions, long generation, List<Object> before) {
        String now = clock.instant().truncatedTo(ChronoUnit.SECONDS).toString();
        List<Object> out = new ArrayList<>();
        for (GatewayStatus.Condition c : conditions) {
            String status = c.status() ? "True" : "False";
            String since = before.stream().map(GatewayStatusWriter::asMap)
                    .filter(b -> c.type().equals(b.get("type")) && status.equals(b.get("status")))
                    .map(b -> b.get("lastTransitionTime")).filter(String.class::isInstance).map(String.class::cast)
                    .findFirst().orElse(now);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("type", c.type());
            m.put("status", status);
            m.put("reason", c.reason());
            m.put("message", c.message());
            // As the API server's JSON reads back (an int when it fits), so an unchanged status compares equal.
            m.put("observedGeneration", generation <= Integer.MAX_VALUE ? (Object) (int) generation : generation);
            m.put("lastTransitionTime", since);
            out.add(m);
        }
        return out;
    }

    /** Parent references compared on what both name (a stored one may carry defaults we did not). */
    private static boolean sameRef(Map<String, Object> stored, Map<String, Object> ours) {
        for (String k : List.of("group", "kind", "namespace", "name", "sectionName")) {
            if (stored.containsKey(k) && ours.containsKey(k) && !Objects.equals(stored.get(k), ours.get(k))) {
                return false;
            }
        }
        return Objects.equals(String.valueOf(stored.get("port")), String.valueOf(ours.get("port")));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object o) {
        return o instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }

    @SuppressWarnings("unchecked")
    private static List<Object> asList(Object o) {
        return o instanceof List<?> l ? (List<Object>) l : List.of();
    }
}
