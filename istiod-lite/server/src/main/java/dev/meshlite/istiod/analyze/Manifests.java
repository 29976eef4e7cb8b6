package dev.meshlite.istiod.analyze;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.snakeyaml.engine.v2.exceptions.MarkedYamlEngineException;

/**
 * Manifests read the way {@code kubectl apply -f} reads them, turned into the objects the control
 * plane watches. Pure: text in, objects and complaints out.
 *
 * <p>Rules:
 * <ul>
 *   <li>Documents are separated by a line that starts with {@code ---} followed by nothing but
 *       blanks or a comment (kubectl's rule). A document of blanks and comments only is skipped
 *       and not counted; documents are numbered from 1 among the others.</li>
 *   <li>A document that does not parse, or is not an object with {@code apiVersion}, {@code kind}
 *       and {@code metadata.name}, is an <em>error</em> of the input (the file is wrong, not the
 *       mesh configuration), named by source, document number and line.</li>
 *   <li>Kinds read are those the control plane watches ({@link #KINDS}), and {@code v1 List}
 *       (its items). A known kind under another apiVersion is an error: the API server would
 *       refuse it. Any other kind is skipped with a <em>note</em>.</li>
 *   <li>A namespaced object without {@code metadata.namespace} goes to {@code default}, where
 *       kubectl with a default context puts it.</li>
 * </ul>
 */
final class Manifests {

    static final String DEFAULT_NAMESPACE = "default";

    /** A kind the control plane reads, and the class the informers give it as. */
    record Kind(String apiVersion, String kind, Class<? extends HasMetadata> type, boolean namespaced) {}

    static final List<Kind> KINDS = List.of(
            new Kind("v1", "Namespace", Namespace.class, false),
            new Kind("v1", "Pod", Pod.class, true),
            new Kind("v1", "Service", Service.class, true),
            new Kind("security.istio.io/v1", "AuthorizationPolicy", GenericKubernetesResource.class, true),
            new Kind("security.istio.io/v1", "PeerAuthentication", GenericKubernetesResource.class, true),
            new Kind("v1", "Node", io.fabric8.kubernetes.api.model.Node.class, false),
            new Kind("discovery.k8s.io/v1", "EndpointSlice",
                    io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice.class, true),
            new Kind("v1", "ServiceAccount", io.fabric8.kubernetes.api.model.ServiceAccount.class, true),
            new Kind("gateway.networking.k8s.io/v1", "Gateway", GenericKubernetesResource.class, true),
            new Kind("gateway.networking.k8s.io/v1", "HTTPRoute", GenericKubernetesResource.class, true));

    /** What one source gave: objects in document order, errors (the input is unusable), notes. */
    record Read(List<HasMetadata> objects, List<String> errors, List<String> notes) {
        Read {
            objects = List.copyOf(objects);
            errors = List.copyOf(errors);
            notes = List.copyOf(notes);
        }
    }

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private Manifests() {}

    /** Reads every document of {@code text}; {@code source} names it in errors and notes. */
    static Read read(String source, String text) {
        List<HasMetadata> objects = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        int number = 0;
        for (Document d : split(text)) {
            number++;
            String where = source + ": document " + number + " (line " + d.firstLine() + ")";
            Object parsed;
            try {
                parsed = SERIALIZATION.unmarshal(d.text(), Object.class);
            } catch (RuntimeException e) {
                errors.add(where + ": not valid YAML or JSON: " + parserMessage(e));
                continue;
            }
            object(where, parsed, objects, errors, notes, true);
        }
        return new Read(objects, errors, notes);
    }

    /** One document, its text padded with blank lines so the parser's line numbers are the file's. */
    record Document(int firstLine, String text) {}

    static List<Document> split(String text) {
        List<Document> out = new ArrayList<>();
        String[] lines = text.split("\r?\n"); // trailing empty lines dropped: they hold nothing
        StringBuilder current = new StringBuilder();
        int first = 0; // first line with content in the current document, 1-based; 0 when none yet
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (separator(line)) {
                if (first > 0) {
                    out.add(new Document(first, current.toString()));
                }
                current.setLength(0);
                first = 0;
                current.append("\n".repeat(i + 1)); // keeps the next document's lines where they are
                continue;
            }
            String trimmed = line.strip();
            if (first == 0 && !trimmed.isEmpty() && !trimmed.startsWith("#")) {
                first = i + 1;
            }
            current.append(line).append('\n');
        }
        if (first > 0) {
            out.add(new Document(first, current.toString()));
        }
        return out;
    }

    private static boolean separator(String line) {
        if (!line.startsWith("---")) {
            return false;
        }
        String rest = line.substring(3).strip();
        return rest.isEmpty() || rest.startsWith("#");
    }

    /** One object (a document, or an item of a List): checked, converted, or refused. */
    private static void object(String where, Object parsed, List<HasMetadata> objects, List<String> errors,
            List<String> notes, boolean listAllowed) {
        if (!(parsed instanceof Map<?, ?> map)) {
            errors.add(where + ": a " + typeName(parsed) + " (expected: an object with apiVersion, kind and metadata)");
            return;
        }
        Object apiVersion = map.get("apiVersion");
        Object kind = map.get("kind");
        Object metadata = map.get("metadata");
        if (!(apiVersion instanceof String v) || v.isEmpty()) {
            errors.add(where + ": apiVersion missing or not a string (expected: e.g. v1, security.istio.io/v1)");
            return;
        }
        if (!(kind instanceof String k) || k.isEmpty()) {
            errors.add(where + ": kind missing or not a string (expected: e.g. AuthorizationPolicy)");
            return;
        }
        if (listAllowed && v.equals("v1") && k.equals("List")) {
            Object items = map.get("items");
            if (!(items instanceof List<?> list)) {
                errors.add(where + ": List without items (expected: items, a list of objects)");
                return;
            }
            for (int i = 0; i < list.size(); i++) {
                object(where + ", items[" + i + "]", list.get(i), objects, errors, notes, false);
            }
            return;
        }
        Object name = metadata instanceof Map<?, ?> m ? m.get("name") : null;
        if (!(name instanceof String n) || n.isEmpty()) {
            errors.add(where + ": " + k + " without metadata.name (expected: metadata.name, a non-empty string)");
            return;
        }
        Kind known = KINDS.stream().filter(x -> x.kind().equals(k)).findFirst().orElse(null);
        if (known == null) {
            notes.add(where + ": " + v + " " + k + " " + n + " skipped (the control plane does not read it)");
            return;
        }
        if (!known.apiVersion().equals(v)) {
            errors.add(where + ": " + k + " " + n + " has apiVersion " + v + " (expected: " + known.apiVersion() + ")");
            return;
        }
        HasMetadata object;
        try {
            object = SERIALIZATION.convertValue(map, known.type());
        } catch (RuntimeException e) {
            errors.add(where + ": " + k + " " + n + " does not fit its schema: " + parserMessage(e));
            return;
        }
        String ns = object.getMetadata().getNamespace();
        if (known.namespaced() && (ns == null || ns.isEmpty())) {
            object.getMetadata().setNamespace(DEFAULT_NAMESPACE);
        } else if (!known.namespaced() && ns != null && !ns.isEmpty()) {
            object.getMetadata().setNamespace(null); // cluster-scoped: the API server ignores it too
        }
        objects.add(object);
    }

    /** The parser's own words on one line, with the position when it gave one. */
    static String parserMessage(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof MarkedYamlEngineException y) {
                String at = y.getProblemMark().map(m -> " at line " + (m.getLine() + 1) + ", column "
                        + (m.getColumn() + 1)).orElse("");
                String context = y.getContext() == null ? "" : y.getContext() + ": ";
                return context + y.getProblem() + at;
            }
            if (t instanceof JsonProcessingException j) {
                String at = j.getLocation() == null || j.getLocation().getLineNr() < 1 ? ""
                        : " at line " + j.getLocation().getLineNr() + ", column " + j.getLocation().getColumnNr();
                String field = j instanceof JsonMappingException jm && !jm.getPath().isEmpty()
                        ? " (field " + path(jm.getPath()) + ")" : "";
                return j.getOriginalMessage().replaceAll("\\s+", " ").strip() + field + at;
            }
        }
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replaceAll("\\s*at \\[Source:[^]]*]", "").replaceAll("\\s+", " ").strip();
    }

    private static String path(List<JsonMappingException.Reference> references) {
        StringBuilder out = new StringBuilder();
        for (JsonMappingException.Reference r : references) {
            if (r.getFieldName() != null) {
                out.append(out.isEmpty() ? "" : ".").append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                out.append('[').append(r.getIndex()).append(']');
            }
        }
        return out.toString();
    }

    private static String typeName(Object v) {
        return switch (v) {
            case null -> "null";
            case List<?> l -> "list";
            case String s -> "string";
            case Number n -> "number";
            case Boolean b -> "boolean";
            default -> v.getClass().getSimpleName();
        };
    }
}
