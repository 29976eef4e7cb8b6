package dev.meshlite.istiod.xds.client;

import com.google.protobuf.Any;
import dev.meshlite.istiod.api.xds.v1.DeltaRequest;
import dev.meshlite.istiod.api.xds.v1.DeltaResponse;
import dev.meshlite.istiod.api.xds.v1.ErrorDetail;
import dev.meshlite.istiod.api.xds.v1.Node;
import dev.meshlite.istiod.api.xds.v1.Resource;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.BearerTokenHeader;
import dev.meshlite.istiod.grpc.GrpcChannel;
import dev.meshlite.istiod.grpc.GrpcStatus;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A proxy's delta xDS client (contract: {@code meshlite/xds/v1/xds.proto}).
 *
 * <p>Rules:
 * <ul>
 *   <li>One stream at a time; every type in {@code typeUrls} is subscribed with the wildcard
 *       {@code "*"}. The first request of each stream carries the {@link Node}; every request
 *       carries {@code authorization: Bearer <token>}, read from the supplier per stream.</li>
 *   <li>Every response is answered: an ACK naming its nonce once the handler applied it, or a NACK
 *       with the handler's message when it threw. A NACKed response changes nothing here either,
 *       so the versions held always describe what the handler holds.</li>
 *   <li>Nothing is dropped when the stream breaks: the proxy keeps serving on its last good state,
 *       and the next stream lists it in {@code initial_resource_versions}, so the control plane
 *       sends only what differs (including removals that happened meanwhile).</li>
 *   <li>Reconnects back off ({@link Backoff}) and go on until {@link #close()}; a stream that
 *       delivered a response resets the backoff.</li>
 *   <li>All stream work, response parsing and every {@link ResourceHandler} call run on one
 *       thread of this client's own, never on an event loop.</li>
 * </ul>
 * The channel belongs to the caller: {@link #close()} ends the stream, not the channel.
 */
public final class XdsClient implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(XdsClient.class);
    static final String WILDCARD = "*";
    /** The discovery method (service {@code meshlite.xds.v1.DiscoveryService}). */
    public static final String DELTA_RESOURCES = "/meshlite.xds.v1.DiscoveryService/DeltaResources";

    private final GrpcChannel channel;
    private final Supplier<String> bearerToken;
    private final Node node;
    private final List<String> typeUrls;
    private final ResourceHandler handler;
    private final Backoff backoff;
    private final InstantSource clock;
    private final RandomGenerator random = RandomGenerator.getDefault();
    private final ScheduledExecutorService executor;
    /** Stream callbacks go through this; after close they are dropped rather than rejected loudly. */
    private final Executor callbacks;

    /** type -> name -> version held; written only on the client thread, read from anywhere. */
    private final Map<String, Map<String, String>> held = new ConcurrentHashMap<>();
    private final Set<String> syncedTypes = ConcurrentHashMap.newKeySet();
    private final Counter updates;
    private volatile boolean connected;
    private volatile Instant lastUpdate;
    private volatile boolean closed;

    // Client-thread state.
    private Stream stream;
    private int failures;
    private boolean started;

    public XdsClient(GrpcChannel channel, Supplier<String> bearerToken, Node node, List<String> typeUrls,
            ResourceHandler handler, Backoff backoff, InstantSource clock) {
        if (typeUrls.isEmpty()) {
            throw new IllegalArgumentException("typeUrls: empty (expected: at least one type to subscribe to)");
        }
        if (new HashSet<>(typeUrls).size() != typeUrls.size()) {
            throw new IllegalArgumentException("typeUrls: " + typeUrls + " (expected: no duplicates)");
        }
        this.channel = channel;
        this.bearerToken = bearerToken;
        this.node = node;
        this.typeUrls = List.copyOf(typeUrls);
        this.handler = handler;
        this.backoff = backoff;
        this.clock = clock;
        this.typeUrls.forEach(t -> held.put(t, new ConcurrentHashMap<>()));
        this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "xds-client-" + node.getId());
            t.setDaemon(true);
            return t;
        });
        this.callbacks = task -> {
            try {
                executor.execute(task);
            } catch (RejectedExecutionException e) {
                // Closed: nothing is listening any more.
            }
        };
        this.updates = Counter.builder().withoutExemplars().name("xds_client_updates_total")
                .help("xDS responses handled, by type and result (ack or nack)")
                .labelNames("type", "result").build();
    }

    /** Connects; reconnects with backoff forever until {@link #close()}. Idempotent. */
    public void start() {
        callbacks.execute(() -> {
            if (!started && !closed) {
                started = true;
                connect();
            }
        });
    }

    /** Every subscribed type got its first response applied (stays true across reconnects). */
    public boolean synced() {
        return syncedTypes.size() == typeUrls.size();
    }

    /** A stream is open and has delivered at least one response. */
    public boolean connected() {
        return connected;
    }

    /** Seconds since a response was last applied; empty before the first. */
    public OptionalDouble secondsSinceLastUpdate() {
        Instant last = lastUpdate;
        return last == null ? OptionalDouble.empty()
                : OptionalDouble.of(Duration.between(last, clock.instant()).toNanos() / 1e9);
    }

    /** type -> name -> version held (a copy). */
    public Map<String, Map<String, String>> versions() {
        Map<String, Map<String, String>> out = new TreeMap<>();
        held.forEach((type, names) -> out.put(type, Map.copyOf(names)));
        return out;
    }

    /**
     * Registers {@code xds_client_connected}, {@code xds_client_synced},
     * {@code xds_client_seconds_since_update} (computed at scrape; absent before the first
     * update), {@code xds_client_resources{type}} and {@code xds_client_updates_total{type,result}}.
     */
    public void register(PrometheusRegistry registry) {
        GaugeWithCallback.builder().name("xds_client_connected")
                .help("1 while a discovery stream is open and answering")
                .callback(cb -> cb.call(connected ? 1 : 0)).register(registry);
        GaugeWithCallback.builder().name("xds_client_synced")
                .help("1 once every subscribed type has received its first response")
                .callback(cb -> cb.call(synced() ? 1 : 0)).register(registry);
        GaugeWithCallback.builder().name("xds_client_seconds_since_update")
                .help("Seconds since configuration was last applied (alert on staleness, not only liveness)")
                .callback(cb -> secondsSinceLastUpdate().ifPresent(cb::call)).register(registry);
        GaugeWithCallback.builder().name("xds_client_resources")
                .help("Resources held, by type").labelNames("type")
                .callback(cb -> held.forEach((type, names) -> cb.call(names.size(), type))).register(registry);
        registry.register(updates);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            executor.submit(() -> {
                closed = true;
                connected = false;
                if (stream != null) {
                    stream.cancel("client closed");
                    stream = null;
                }
            }).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            closed = true;
            log.debug("xDS client close: {}", e.toString());
        } finally {
            executor.shutdownNow();
        }
    }

    // ---- client thread from here on ----

    private void connect() {
        if (closed) {
            return;
        }
        Stream s = new Stream();
        stream = s;
        String token;
        try {
            token = bearerToken.get();
        } catch (RuntimeException e) {
            log.warn("xDS: no bearer token ({}); retrying", e.toString());
            streamEnded(s, GrpcStatus.of(GrpcStatus.Code.UNAUTHENTICATED, e.getMessage()));
            return;
        }
        s.requests = channel.stream(DELTA_RESOURCES, BearerTokenHeader.metadata(token), DeltaResponse.parser(), s,
                callbacks);
        boolean first = true;
        for (String type : typeUrls) {
            DeltaRequest.Builder r = DeltaRequest.newBuilder().setTypeUrl(type).addResourceNamesSubscribe(WILDCARD)
                    .putAllInitialResourceVersions(held.get(type));
            if (first) {
                r.setNode(node);
                first = false;
            }
            s.send(r.build());
        }
    }

    private void onResponse(Stream s, DeltaResponse response) {
        if (s != stream || closed) {
            return;
        }
        String type = response.getTypeUrl();
        Map<String, Any> upserts = new LinkedHashMap<>();
        Map<String, String> versions = new HashMap<>();
        Set<String> removed = new LinkedHashSet<>(response.getRemovedResourcesList());
        String error;
        try {
            validate(response, upserts, versions, removed);
            handler.apply(type, java.util.Collections.unmodifiableMap(upserts),
                    java.util.Collections.unmodifiableSet(removed));
            error = null;
        } catch (Exception e) {
            error = e.getMessage() == null ? e.toString() : e.getMessage();
        }
        DeltaRequest.Builder answer = DeltaRequest.newBuilder().setTypeUrl(type).setResponseNonce(response.getNonce());
        String label = typeUrls.contains(type) ? shortType(type) : "unknown";
        if (error == null) {
            Map<String, String> names = held.get(type);
            removed.forEach(names::remove);
            names.putAll(versions);
            syncedTypes.add(type);
            lastUpdate = clock.instant();
            updates.labelValues(label, "ack").inc();
            log.debug("xDS {}: applied {} upserts, {} removals (version {})", label, upserts.size(), removed.size(),
                    response.getSystemVersionInfo());
        } else {
            answer.setErrorDetail(ErrorDetail.newBuilder().setCode(GrpcStatus.Code.INVALID_ARGUMENT.value())
                    .setMessage(error));
            updates.labelValues(label, "nack").inc();
            log.warn("xDS {}: rejected response {} (keeping the last good state): {}", label,
                    response.getSystemVersionInfo(), error);
        }
        connected = true;
        failures = 0;
        s.send(answer.build());
    }

    /** Fills the maps from {@code response}, or throws saying what was expected. */
    private void validate(DeltaResponse response, Map<String, Any> upserts, Map<String, String> versions,
            Set<String> removed) {
        String type = response.getTypeUrl();
        if (!typeUrls.contains(type)) {
            throw new IllegalArgumentException("type_url: " + type + " (expected: one of " + typeUrls + ")");
        }
        for (Resource r : response.getResourcesList()) {
            if (r.getName().isEmpty()) {
                throw new IllegalArgumentException("resource without a name (expected: every resource named)");
            }
            if (!r.getResource().getTypeUrl().equals(type)) {
                throw new IllegalArgumentException("resource " + r.getName() + ": type "
                        + r.getResource().getTypeUrl() + " (expected: " + type + ")");
            }
            if (upserts.put(r.getName(), r.getResource()) != null) {
                throw new IllegalArgumentException("resource " + r.getName() + ": sent twice (expected: once)");
            }
            if (removed.contains(r.getName())) {
                throw new IllegalArgumentException("resource " + r.getName()
                        + ": both updated and removed (expected: one or the other)");
            }
            versions.put(r.getName(), r.getVersion());
        }
    }

    private void streamEnded(Stream s, GrpcStatus status) {
        if (s != stream || closed) {
            return;
        }
        stream = null;
        connected = false;
        failures++;
        Duration wait = backoff.delay(failures, random);
        // Logged on attempts 1, 2, 4, 8, ...: an outage is visible without flooding the log.
        if (Integer.bitCount(failures) == 1) {
            log.warn("xDS stream ended ({}: {}); keeping {} resources, reconnecting in {} ms (attempt {})",
                    status.code(), status.description(), held.values().stream().mapToInt(Map::size).sum(),
                    wait.toMillis(), failures);
        }
        try {
            executor.schedule(this::connect, wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // Closed meanwhile.
        }
    }

    static String shortType(String typeUrl) {
        int slash = typeUrl.lastIndexOf('/');
        return slash < 0 ? typeUrl : typeUrl.substring(slash + 1);
    }

    /** One stream's callbacks; stale ones (of an earlier stream) are ignored by identity. */
    private final class Stream implements GrpcChannel.Listener<DeltaResponse> {
        private GrpcChannel.ClientStream<DeltaRequest> requests;
        private boolean done;

        void send(DeltaRequest r) {
            if (!done) {
                requests.send(r);
            }
        }

        void cancel(String why) {
            if (!done) {
                done = true;
                requests.cancel(why);
            }
        }

        @Override
        public void onMessage(DeltaResponse value) {
            onResponse(this, value);
        }

        @Override
        public void onClose(GrpcStatus status) {
            done = true;
            streamEnded(this, status.ok() ? GrpcStatus.of(GrpcStatus.Code.UNAVAILABLE, "server ended the stream")
                    : status);
        }
    }
}
