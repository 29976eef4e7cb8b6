package dev.meshlite.e2e.apiserver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Server-side printing, as an API server does for {@code kubectl get}: objects become a
 * {@code meta.k8s.io/v1 Table} with the columns kubectl users know (wide columns at priority 1),
 * each row carrying its object so that kubectl can add NAMESPACE and LABELS itself.
 */
final class TableView {

    private static final ObjectMapper JSON = new ObjectMapper();

    private record Column(String name, String type, int priority, Function<JsonNode, Object> value) {
    }

    private TableView() {
    }

    /** Whether the client asked for a Table (kubectl does for get). */
    static boolean wanted(String accept) {
        return accept != null && accept.contains("as=Table") && accept.contains("g=meta.k8s.io");
    }

    /** A Table of a list or of one object. */
    static String of(JsonNode listOrObject, String kind, Instant now) {
        List<JsonNode> items = new ArrayList<>();
        if (listOrObject.has("items")) {
            listOrObject.path("items").forEach(items::add);
        } else {
            items.add(listOrObject);
        }
        List<Column> columns = columns(kind, now);
        ObjectNode table = JSON.createObjectNode().put("kind", "Table").put("apiVersion", "meta.k8s.io/v1");
        table.putObject("metadata").put("resourceVersion", listOrObject.path("metadata").path("resourceVersion").asText(""));
        ArrayNode defs = table.putArray("columnDefinitions");
        for (Column c : columns) {
            defs.addObject().put("name", c.name()).put("type", c.type()).put("format", c.name().equals("Name") ? "name" : "")
                    .put("description", "").put("priority", c.priority());
        }
        ArrayNode rows = table.putArray("rows");
        for (JsonNode item : items) {
            ObjectNode row = rows.addObject();
            ArrayNode cells = row.putArray("cells");
            for (Column c : columns) {
                Object v = c.value().apply(item);
                if (v instanceof Integer i) {
                    cells.add(i);
                } else {
                    cells.add(String.valueOf(v));
                }
            }
            ObjectNode object = JSON.createObjectNode().put("kind", "PartialObjectMetadata")
                    .put("apiVersion", "meta.k8s.io/v1");
            object.set("metadata", item.path("metadata"));
            row.set("object", object);
        }
        return table.toString();
    }

    private static List<Column> columns(String kind, Instant now) {
        Column name = new Column("Name", "string", 0, o -> o.path("metadata").path("name").asText());
        Column age = new Column("Age", "string", 0, o -> age(o.path("metadata").path("creationTimestamp").asText(), now));
        return switch (kind) {
            case "Pod" -> List.of(name,
                    new Column("Ready", "string", 0, TableView::podReady),
                    new Column("Status", "string", 0, TableView::podStatus),
                    new Column("Restarts", "integer", 0, o -> {
                        int n = 0;
                        for (JsonNode c : o.path("status").path("containerStatuses")) {
                            n += c.path("restartCount").asInt();
                        }
                        return n;
                    }),
                    age,
                    new Column("IP", "string", 1, o -> orNone(o.path("status").path("podIP").asText())),
                    new Column("Node", "string", 1, o -> orNone(o.path("spec").path("nodeName").asText())));
            case "Node" -> List.of(name,
                    new Column("Status", "string", 0, o -> {
                        for (JsonNode c : o.path("status").path("conditions")) {
                            if (c.path("type").asText().equals("Ready")) {
                                return c.path("status").asText().equals("True") ? "Ready" : "NotReady";
                            }
                        }
                        return "Unknown";
                    }),
                    age,
                    new Column("Version", "string", 0, o -> o.path("status").path("nodeInfo").path("kubeletVersion").asText("")),
                    new Column("Internal-IP", "string", 1, o -> {
                        for (JsonNode a : o.path("status").path("addresses")) {
                            if (a.path("type").asText().equals("InternalIP")) {
                                return a.path("address").asText();
                            }
                        }
                        return "<none>";
                    }),
                    new Column("Pod-CIDR", "string", 1, o -> orNone(o.path("spec").path("podCIDR").asText())));
            case "Service" -> List.of(name,
                    new Column("Type", "string", 0, o -> o.path("spec").path("type").asText("ClusterIP")),
                    new Column("Cluster-IP", "string", 0, o -> orNone(o.path("spec").path("clusterIP").asText())),
                    new Column("External-IP", "string", 0, o -> "<none>"),
                    new Column("Port(s)", "string", 0, o -> {
                        List<String> ports = new ArrayList<>();
                        o.path("spec").path("ports").forEach(p -> ports.add(p.path("port").asInt() + "/" + p.path("protocol").asText("TCP")));
                        return ports.isEmpty() ? "<none>" : String.join(",", ports);
                    }),
                    age,
                    new Column("Selector", "string", 1, o -> selector(o.path("spec").path("selector"))));
            case "Deployment" -> List.of(name,
                    new Column("Ready", "string", 0, o -> o.path("status").path("readyReplicas").asInt() + "/"
                            + o.path("spec").path("replicas").asInt(1)),
                    new Column("Up-to-date", "integer", 0, o -> o.path("status").path("updatedReplicas").asInt()),
                    new Column("Available", "integer", 0, o -> o.path("status").path("availableReplicas").asInt()),
                    age,
                    new Column("Images", "string", 1, o -> {
                        List<String> images = new ArrayList<>();
                        o.path("spec").path("template").path("spec").path("containers").forEach(c -> images.add(c.path("image").asText()));
                        return String.join(",", images);
                    }),
                    new Column("Selector", "string", 1, o -> selector(o.path("spec").path("selector").path("matchLabels"))));
            case "ReplicaSet" -> List.of(name,
                    new Column("Desired", "integer", 0, o -> o.path("spec").path("replicas").asInt(1)),
                    new Column("Current", "integer", 0, o -> o.path("status").path("replicas").asInt()),
                    new Column("Ready", "integer", 0, o -> o.path("status").path("readyReplicas").asInt()),
                    age);
            case "EndpointSlice" -> List.of(name,
                    new Column("AddressType", "string", 0, o -> o.path("addressType").asText()),
                    new Column("Ports", "string", 0, o -> {
                        List<String> ports = new ArrayList<>();
                        o.path("ports").forEach(p -> ports.add(Integer.toString(p.path("port").asInt())));
                        return ports.isEmpty() ? "<unset>" : String.join(",", ports);
                    }),
                    new Column("Endpoints", "string", 0, o -> {
                        List<String> ips = new ArrayList<>();
                        o.path("endpoints").forEach(e -> ips.add(e.path("addresses").path(0).asText()));
                        return ips.isEmpty() ? "<unset>" : String.join(",", ips);
                    }),
                    age);
            default -> List.of(name, age);
        };
    }

    private static String podReady(JsonNode pod) {
        int total = pod.path("spec").path("containers").size();
        int ready = 0;
        for (JsonNode c : pod.path("status").path("containerStatuses")) {
            if (c.path("ready").asBoolean()) {
                ready++;
            }
        }
        return ready + "/" + total;
    }

    private static String podStatus(JsonNode pod) {
        for (JsonNode c : pod.path("status").path("containerStatuses")) {
            String waiting = c.path("state").path("waiting").path("reason").asText("");
            if (!waiting.isEmpty()) {
                return waiting;
            }
        }
        return pod.path("status").path("phase").asText("Pending");
    }

    private static String selector(JsonNode labels) {
        List<String> kv = new ArrayList<>();
        labels.fields().forEachRemaining(e -> kv.add(e.getKey() + "=" + e.getValue().asText()));
        return kv.isEmpty() ? "<none>" : String.join(",", kv);
    }

    private static String orNone(String s) {
        return s == null || s.isEmpty() ? "<none>" : s;
    }

    /** kubectl's short age: 45s, 3m12s, 5h3m, 2d4h. */
    static String age(String timestamp, Instant now) {
        Duration d;
        try {
            d = Duration.between(Instant.parse(timestamp), now);
        } catch (DateTimeParseException e) {
            return "<unknown>";
        }
        long s = Math.max(0, d.getSeconds());
        if (s < 120) {
            return s + "s";
        }
        if (s < 600) {
            return s / 60 + "m" + (s % 60 == 0 ? "" : s % 60 + "s");
        }
        if (s < 3 * 3600) {
            return s / 60 + "m";
        }
        if (s < 8 * 3600) {
            return s / 3600 + "h" + (s % 3600 / 60 == 0 ? "" : s % 3600 / 60 + "m");
        }
        if (s < 48 * 3600) {
            return s / 3600 + "h";
        }
        return s / 86400 + "d" + (s % 86400 / 3600 == 0 ? "" : s % 86400 / 3600 + "h");
    }
}
