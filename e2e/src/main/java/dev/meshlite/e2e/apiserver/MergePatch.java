package dev.meshlite.e2e.apiserver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Map;

/**
 * JSON merge patch (RFC 7386): objects merge key by key, {@code null} removes a key, anything else
 * replaces. The local API server applies strategic-merge patches this way too, which is what kubectl
 * sends for {@code label}, {@code annotate} and {@code apply}; lists are replaced whole rather than
 * merged by key, the one place where the two differ.
 */
final class MergePatch {

    private MergePatch() {
    }

    /** Returns {@code target} patched; {@code target} itself is modified when it is an object. */
    static JsonNode apply(JsonNode target, JsonNode patch) {
        if (!patch.isObject()) {
            return patch.deepCopy();
        }
        ObjectNode result = target != null && target.isObject()
                ? (ObjectNode) target
                : com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        Iterator<Map.Entry<String, JsonNode>> fields = patch.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> field = fields.next();
            if (field.getValue().isNull()) {
                result.remove(field.getKey());
            } else {
                result.set(field.getKey(), apply(result.get(field.getKey()), field.getValue()));
            }
        }
        return result;
    }
}
