package dev.meshlite.e2e.apiserver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.Buffer;
import io.fabric8.mockwebserver.http.Headers;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.ConcurrentModificationException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the API server's objects on disk so that restarting the API server (a
 * {@code ./mesh component restart apiserver}) loses nothing. Every mutation marks the store dirty;
 * a writer thread saves a snapshot at most every 200 ms (write, then atomic rename). On start the
 * snapshot is replayed through the dispatcher as creates, CRDs and namespaces first.
 */
final class ApiStore implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ApiStore.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final KubernetesCrudDispatcher crud;
    private final AtomicBoolean dirty = new AtomicBoolean();
    private final ScheduledExecutorService writer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("apiserver-store").daemon().factory());

    ApiStore(Path file, KubernetesCrudDispatcher crud) {
        this.file = file;
        this.crud = crud;
    }

    void start() {
        writer.scheduleWithFixedDelay(this::saveIfDirty, 200, 200, TimeUnit.MILLISECONDS);
    }

    void markDirty() {
        dirty.set(true);
    }

    /** Replays the saved objects through {@code dispatcher}; returns how many were restored. */
    int restore(ApiDispatcher dispatcher, ApiResources resources) throws IOException {
        if (!Files.exists(file)) {
            return 0;
        }
        JsonNode saved = JSON.readTree(file.toFile());
        List<JsonNode> objects = new ArrayList<>();
        saved.forEach(objects::add);
        objects.sort(Comparator.comparingInt(ApiStore::restoreOrder));
        int restored = 0;
        for (JsonNode object : objects) {
            String kind = object.path("kind").asText();
            if (kind.equals("CustomResourceDefinition")) {
                dispatcher.registerCustomResource(object);
            }
            Optional<ApiResource> resource = resources.byKind(object.path("apiVersion").asText(), kind);
            if (resource.isEmpty()) {
                LOG.warn("snapshot holds {} {} of unknown type; skipped", kind, object.path("metadata").path("name"));
                continue;
            }
            String path = resource.get().collectionPath(object.path("metadata").path("namespace").asText(null));
            Uids.prepareFor(object.path("metadata").path("uid").asText(""));
            MockResponse r = dispatcher.dispatch(new RecordedRequest("HTTP/1.1", HttpMethod.POST, path,
                    Headers.builder().add("Content-Type", "application/json").build(),
                    new Buffer().writeUtf8(object.toString())));
            if (r.code() < 300) {
                restored++;
            } else {
                LOG.warn("could not restore {} {}: {}", kind, object.path("metadata").path("name"), r.getBody().readUtf8());
            }
        }
        Uids.continueAfterRestore();
        keepCreationTimestamps(objects);
        return restored;
    }

    /**
     * A create stamps the current time; a restored object keeps the time it was first created
     * (kubectl's AGE, and anything ordering by creation). The store's keys do not include the
     * timestamp, so the stored documents are amended in place.
     */
    private void keepCreationTimestamps(List<JsonNode> saved) throws IOException {
        java.util.Map<String, String> created = new java.util.HashMap<>();
        for (JsonNode o : saved) {
            String ts = o.path("metadata").path("creationTimestamp").asText("");
            if (!ts.isEmpty()) {
                created.put(o.path("metadata").path("uid").asText(), ts);
            }
        }
        for (var entry : crud.getMap().entrySet()) {
            JsonNode stored = JSON.readTree(entry.getValue());
            String ts = created.get(stored.path("metadata").path("uid").asText());
            if (ts != null && stored.path("metadata").isObject()) {
                ((com.fasterxml.jackson.databind.node.ObjectNode) stored.get("metadata")).put("creationTimestamp", ts);
                entry.setValue(stored.toString());
            }
        }
    }

    private static int restoreOrder(JsonNode object) {
        return switch (object.path("kind").asText()) {
            case "CustomResourceDefinition" -> 0;
            case "Namespace" -> 1;
            case "Node" -> 2;
            default -> 3;
        };
    }

    private void saveIfDirty() {
        if (!dirty.getAndSet(false)) {
            return;
        }
        try {
            ArrayNode all = JSON.createArrayNode();
            for (String json : List.copyOf(crud.getMap().values())) {
                all.add(JSON.readTree(json));
            }
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, all.toString());
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (ConcurrentModificationException e) {
            dirty.set(true);
        } catch (IOException | RuntimeException e) {
            dirty.set(true);
            LOG.warn("could not save the API snapshot to {}", file, e);
        }
    }

    @Override
    public void close() {
        writer.shutdown();
        try {
            writer.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        saveIfDirty();
    }

    /**
     * The mock store gives every created object a uid from a counter (fabric8's
     * {@code Utils.generateId}: {@code 00000000-0000-0000-0000-<counter>}) and ignores the uid in the
     * request. Replaying a snapshot must keep each object's uid, or every pod would look new to the
     * kubelets after an API server restart; so the counter is set just below the saved uid before
     * each replayed create, and past the largest one afterwards.
     */
    static final class Uids {
        private static final java.util.regex.Pattern COUNTER_UID =
                java.util.regex.Pattern.compile("00000000-0000-0000-0000-([0-9a-f]{12})");
        private static long highest;

        private Uids() {
        }

        static void prepareFor(String uid) {
            java.util.regex.Matcher m = COUNTER_UID.matcher(uid);
            if (m.matches()) {
                long value = Long.parseLong(m.group(1), 16);
                highest = Math.max(highest, value);
                counter().set(value - 1);
            }
        }

        static void continueAfterRestore() {
            java.util.concurrent.atomic.AtomicLong c = counter();
            c.set(Math.max(c.get(), highest));
        }

        private static java.util.concurrent.atomic.AtomicLong counter() {
            try {
                java.lang.reflect.Field f = io.fabric8.kubernetes.client.utils.Utils.class.getDeclaredField("leastSigBits");
                f.setAccessible(true);
                return (java.util.concurrent.atomic.AtomicLong) f.get(null);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("cannot keep uids across an API server restart", e);
            }
        }
    }
}
