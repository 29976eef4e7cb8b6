package dev.meshlite.istiod.model;

/**
 * Something wrong with one Kubernetes object, worded for the operator: which object, which field,
 * and why (saying what was expected). An invalid object is ignored whole; a problem may also
 * describe a degraded translation (an L7 rule made fail-closed, an unsupported action).
 *
 * @param kind the object's kind, e.g. {@code AuthorizationPolicy}
 * @param field a path into the object, e.g. {@code spec.rules[0].from[1].source.ipBlocks[0]}
 */
public record Problem(String kind, String namespace, String name, String field, String reason) {

    @Override
    public String toString() {
        return kind + " " + namespace + "/" + name + " " + field + ": " + reason;
    }
}
