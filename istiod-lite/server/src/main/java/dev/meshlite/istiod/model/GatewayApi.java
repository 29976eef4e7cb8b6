package dev.meshlite.istiod.model;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Service;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The Gateway API as the mesh reads it ({@code gateway.networking.k8s.io/v1}): waypoint Gateways
 * (class {@value #WAYPOINT_CLASS}) and the HTTPRoutes attached to a Service or to a waypoint.
 *
 * <p>Rules:
 * <ul>
 *   <li>A waypoint Gateway's address is the ClusterIP of the Service of the same name and
 *       namespace (what the waypoint deployment creates), else its first IP in
 *       {@code spec.addresses}. Status: Accepted; Programmed with that address, or
 *       {@code AddressNotAssigned} while there is none.</li>
 *   <li>Gateways of another class belong to another controller: not read, no status.</li>
 *   <li>An HTTPRoute's L7 rules are carried out by a waypoint, so a parent is accepted when it is
 *       a waypoint Gateway, or a Service that sends its traffic through a waypoint. A Service
 *       parent without one is refused ({@code NoWaypoint}) and reported: ztunnel is L4 and would
 *       silently ignore the route. A missing parent is {@code NoMatchingParent}. A backendRef to a
 *       Service that does not exist is {@code BackendNotFound}. Parents of other kinds (another
 *       controller's Gateways) get no status from us.</li>
 *   <li>A route that cannot be read (a field of the wrong type) is reported and gets no status.</li>
 * </ul>
 */
final class GatewayApi {

    static final String WAYPOINT_CLASS = "istio-waypoint";
    static final String GROUP = "gateway.networking.k8s.io";

    private final Map<String, GenericKubernetesResource> gateways = new HashMap<>();

    GatewayApi(List<GenericKubernetesResource> gateways) {
        gateways.forEach(g -> this.gateways.put(g.getMetadata().getNamespace() + "/" + g.getMetadata().getName(), g));
    }

    Optional<GenericKubernetesResource> gateway(String namespace, String name) {
        return gateway(namespace + "/" + name);
    }

    /** @param key "namespace/name" */
    Optional<GenericKubernetesResource> gateway(String key) {
        return Optional.ofNullable(gateways.get(key));
    }

    static String className(GenericKubernetesResource g) {
        Object spec = g.getAdditionalProperties().get("spec");
        return spec instanceof Map<?, ?> m && m.get("gatewayClassName") instanceof String s ? s : "";
    }

    static boolean isWaypoint(GenericKubernetesResource g) {
        return WAYPOINT_CLASS.equals(className(g));
    }

    /** The waypoint's address (see the class rules), or empty while it has none. */
    static Optional<String> address(GenericKubernetesResource g, Map<String, Service> servicesByName) {
        Service s = servicesByName.get(g.getMetadata().getNamespace() + "/" + g.getMetadata().getName());
        String ip = s == null || s.getSpec() == null ? null : s.getSpec().getClusterIP();
        if (ip != null && !ip.isEmpty() && !ip.equals("None")) {
            return Optional.of(ip);
        }
        Object spec = g.getAdditionalProperties().get("spec");
        if (spec instanceof Map<?, ?> m && m.get("addresses") instanceof List<?> addresses) {
            for (Object a : addresses) {
                if (a instanceof Map<?, ?> am && am.get("value") instanceof String v && !v.isEmpty()
                        && (am.get("type") == null || "IPAddress".equals(am.get("type")))) {
                    return Optional.of(v);
                }
            }
        }
        return Optional.empty();
    }

    /** The status of every waypoint Gateway. */
    List<GatewayStatus> gatewayStatuses(Map<String, Service> servicesByName) {
        List<GatewayStatus> out = new ArrayList<>();
        for (GenericKubernetesResource g : gateways.values()) {
            if (!isWaypoint(g)) {
                continue;
            }
            Optional<String> address = address(g, servicesByName);
            GatewayStatus.Condition programmed = address.isPresent()
                    ? new GatewayStatus.Condition("Programmed", true, "Programmed", "waypoint reachable at "
                            + address.get())
                    : new GatewayStatus.Condition("Programmed", false, "AddressNotAssigned", "no Service "
                            + g.getMetadata().getName() + " with a ClusterIP in " + g.getMetadata().getNamespace()
                            + " and no IP in spec.addresses");
            out.add(new GatewayStatus("Gateway", g.getMetadata().getNamespace(), g.getMetadata().getName(),
                    generation(g), address.map(List::of).orElse(List.of()),
                    List.of(new GatewayStatus.Condition("Accepted", true, "Accepted", "waypoint of the mesh"),
                            programmed),
                    List.of()));
        }
        return out;
    }

    /**
     * Judges {@code route}'s parents and backends; adds its problems to {@code problems}; returns
     * the status to write, or empty when no parent is the mesh's (or the route cannot be read).
     *
     * @param servicesByName every Service by "namespace/name"
     * @param withWaypoint "namespace/name" of the Services whose traffic passes a waypoint
     */
    Optional<GatewayStatus> routeStatus(GenericKubernetesResource route, Map<String, Service> servicesByName,
            Set<String> withWaypoint, List<Problem> problems) {
        String ns = route.getMetadata().getNamespace();
        String name = route.getMetadata().getName();
        try {
            SpecReader spec = SpecReader.of("spec", route.getAdditionalProperties().get("spec"));
            // Backends first: every accepted parent carries the same ResolvedRefs.
            List<String> missing = new ArrayList<>();
            List<SpecReader> rules = spec.objects("rules");
            for (SpecReader rule : rules) {
                for (SpecReader ref : rule.objects("backendRefs")) {
                    String group = ref.string("group", "");
                    String kind = ref.string("kind", "Service");
                    if (!group.isEmpty() || !kind.equals("Service")) {
                        continue; // not a Service: another implementation's concern
                    }
                    String backend = ref.string("namespace", ns) + "/" + ref.string("name", "");
                    if (!servicesByName.containsKey(backend)) {
                        missing.add(backend);
                        problems.add(new Problem("HTTPRoute", ns, name, ref.path(), "backend Service " + backend
                                + " not found (expected: an existing Service); requests to it will fail"));
                    }
                }
            }
            GatewayStatus.Condition resolved = missing.isEmpty()
                    ? new GatewayStatus.Condition("ResolvedRefs", true, "ResolvedRefs", "all backends found")
                    : new GatewayStatus.Condition("ResolvedRefs", false, "BackendNotFound",
                            "not found: " + String.join(", ", missing));
            List<GatewayStatus.Parent> parents = new ArrayList<>();
            for (SpecReader ref : spec.objects("parentRefs")) {
                String group = ref.string("group", GROUP);
                String kind = ref.string("kind", "Gateway");
                String parentNs = ref.string("namespace", ns);
                String parentName = ref.string("name", "");
                Map<String, Object> parentRef = new LinkedHashMap<>();
                parentRef.put("group", group);
                parentRef.put("kind", kind);
                parentRef.put("namespace", parentNs);
                parentRef.put("name", parentName);
                if (ref.has("port")) {
                    parentRef.put("port", ref.entries().get("port"));
                }
                if (ref.has("sectionName")) {
                    parentRef.put("sectionName", ref.string("sectionName", ""));
                }
                String key = parentNs + "/" + parentName;
                GatewayStatus.Condition accepted;
                if ((group.isEmpty() || group.equals("core")) && kind.equals("Service")) {
                    if (!servicesByName.containsKey(key)) {
                        accepted = refused(route, ref, "NoMatchingParent", "Service " + key + " not found", problems);
                    } else if (!withWaypoint.contains(key)) {
                        accepted = refused(route, ref, "NoWaypoint", "Service " + key + " sends its traffic through"
                                + " no waypoint (expected: istio.io/use-waypoint on it or its namespace); ztunnel"
                                + " carries it at L4 and the route's rules are not applied", problems);
                    } else {
                        accepted = new GatewayStatus.Condition("Accepted", true, "Accepted",
                                "applied by the Service's waypoint");
                    }
                } else if (group.equals(GROUP) && kind.equals("Gateway")) {
                    Optional<GenericKubernetesResource> gw = gateway(parentNs, parentName);
                    if (gw.isPresent() && !isWaypoint(gw.get())) {
                        continue; // another controller's Gateway
                    }
                    accepted = gw.isPresent()
                            ? new GatewayStatus.Condition("Accepted", true, "Accepted", "applied by the waypoint")
                            : refused(route, ref, "NoMatchingParent", "Gateway " + key + " not found", problems);
                } else {
                    continue;
                }
                parents.add(new GatewayStatus.Parent(parentRef, List.of(accepted, resolved)));
            }
            if (parents.isEmpty()) {
                return Optional.empty();
            }
            return Optional.of(new GatewayStatus("HTTPRoute", ns, name, generation(route), List.of(), List.of(),
                    parents));
        } catch (InvalidFieldException e) {
            problems.add(new Problem("HTTPRoute", ns, name, e.field(), e.getMessage()));
            return Optional.empty();
        }
    }

    private static GatewayStatus.Condition refused(GenericKubernetesResource route, SpecReader ref, String reason,
            String message, List<Problem> problems) {
        problems.add(new Problem("HTTPRoute", route.getMetadata().getNamespace(), route.getMetadata().getName(),
                ref.path(), message));
        return new GatewayStatus.Condition("Accepted", false, reason, message);
    }

    private static long generation(GenericKubernetesResource o) {
        Long g = o.getMetadata().getGeneration();
        return g == null ? 0 : g;
    }
}
