package dev.meshlite.e2e.manifests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code kubectl kustomize manifests/} run for real and parsed into one tree per object, plus the
 * few ways into a Kubernetes object the checks need. Rendering is kubectl's, not ours: what is
 * checked is what {@code kubectl apply -k} would send.
 */
final class RenderedManifests {

    static final YAMLMapper YAML = new YAMLMapper();
    private static final long RENDER_TIMEOUT_SECONDS = 60;

    private RenderedManifests() {
    }

    /** kubectl on the PATH, if there is one. */
    static Optional<Path> kubectl() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, "kubectl");
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The objects {@code kubectl kustomize dir} renders, in its order. */
    static List<JsonNode> render(Path kubectl, Path dir) throws IOException, InterruptedException {
        Path err = Files.createTempFile("kustomize", ".err");
        try {
            Process p = new ProcessBuilder(kubectl.toString(), "kustomize", dir.toString())
                    .redirectError(err.toFile()).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (!p.waitFor(RENDER_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("kubectl kustomize " + dir + ": no result within " + RENDER_TIMEOUT_SECONDS + " s");
            }
            if (p.exitValue() != 0) {
                throw new AssertionError("kubectl kustomize " + dir + " failed (exit " + p.exitValue() + "): "
                        + Files.readString(err).strip());
            }
            return parseAll(out);
        } finally {
            Files.deleteIfExists(err);
        }
    }

    /** Every non-empty document of a multi-document YAML text. */
    static List<JsonNode> parseAll(String yaml) throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            while (it.hasNextValue()) {
                JsonNode doc = it.nextValue();
                if (doc != null && !doc.isNull() && !doc.isEmpty()) {
                    docs.add(doc);
                }
            }
        }
        return docs;
    }

    static String kind(JsonNode o) {
        return o.path("kind").asText();
    }

    static String name(JsonNode o) {
        return o.path("metadata").path("name").asText();
    }

    static String namespace(JsonNode o) {
        return o.path("metadata").path("namespace").asText();
    }

    static String id(JsonNode o) {
        return kind(o) + " " + (namespace(o).isEmpty() ? "" : namespace(o) + "/") + name(o);
    }

    static Map<String, String> labels(JsonNode metadataOwner) {
        return stringMap(metadataOwner.path("metadata").path("labels"));
    }

    static Map<String, String> stringMap(JsonNode node) {
        Map<String, String> m = new HashMap<>();
        node.properties().forEach(e -> m.put(e.getKey(), e.getValue().asText()));
        return m;
    }

    static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    static boolean isWorkload(JsonNode o) {
        return kind(o).equals("Deployment") || kind(o).equals("DaemonSet") || kind(o).equals("StatefulSet");
    }

    static JsonNode podTemplate(JsonNode workload) {
        return workload.path("spec").path("template");
    }

    static JsonNode podSpec(JsonNode workload) {
        return podTemplate(workload).path("spec");
    }

    /** Init containers first, then the others: every container the pod runs. */
    static Stream<JsonNode> containers(JsonNode workload) {
        List<JsonNode> all = new ArrayList<>();
        podSpec(workload).path("initContainers").forEach(all::add);
        podSpec(workload).path("containers").forEach(all::add);
        return all.stream();
    }

    /**
     * Whether a label selector selects these labels: a Service's plain map, or a
     * {@code LabelSelector} with matchLabels and matchExpressions. An empty selector selects
     * nothing here (for a workload Kubernetes refuses it; for a Service it means no endpoints).
     */
    static boolean selects(JsonNode selector, Map<String, String> labels) {
        boolean structured = selector.has("matchLabels") || selector.has("matchExpressions");
        Map<String, String> match = stringMap(structured ? selector.path("matchLabels") : selector);
        if (match.isEmpty() && !selector.has("matchExpressions")) {
            return false;
        }
        for (var e : match.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        for (JsonNode x : selector.path("matchExpressions")) {
            String key = x.path("key").asText();
            List<String> values = strings(x.path("values"));
            boolean ok = switch (x.path("operator").asText()) {
                case "In" -> labels.containsKey(key) && values.contains(labels.get(key));
                case "NotIn" -> !labels.containsKey(key) || !values.contains(labels.get(key));
                case "Exists" -> labels.containsKey(key);
                case "DoesNotExist" -> !labels.containsKey(key);
                default -> throw new AssertionError("selector operator " + x.path("operator").asText()
                        + " (expected: In, NotIn, Exists or DoesNotExist)");
            };
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
