package dev.meshlite.istiod.model;

import java.util.List;
import java.util.Map;

/**
 * The status the mesh owes a Gateway API object it serves: a waypoint {@code Gateway}'s
 * conditions and address, or an {@code HTTPRoute}'s entry for each parent the mesh is responsible
 * for (a Service, or a waypoint Gateway). Computed by the model, written by the leader.
 *
 * @param kind {@code Gateway} or {@code HTTPRoute}
 * @param generation the object's {@code metadata.generation} the status is about
 * @param addresses a Gateway's addresses (empty for a route)
 * @param conditions a Gateway's conditions (empty for a route)
 * @param parents a route's parents (empty for a Gateway)
 */
public record GatewayStatus(String kind, String namespace, String name, long generation, List<String> addresses,
        List<Condition> conditions, List<Parent> parents) {

    /** Written as {@code status.parents[].controllerName}; the one a GatewayClass names to hand its routes to us. */
    public static final String CONTROLLER = "meshlite.dev/mesh-controller";

    public GatewayStatus {
        addresses = List.copyOf(addresses);
        conditions = List.copyOf(conditions);
        parents = List.copyOf(parents);
    }

    /** One Gateway API condition; {@code reason} is CamelCase as the API asks. */
    public record Condition(String type, boolean status, String reason, String message) {}

    /** A route's parent as the route names it (group, kind, namespace, name, and port/sectionName when set). */
    public record Parent(Map<String, Object> parentRef, List<Condition> conditions) {
        public Parent {
            parentRef = Map.copyOf(parentRef);
            conditions = List.copyOf(conditions);
        }
    }

    public String key() {
        return kind + "/" + namespace + "/" + name;
    }
}
