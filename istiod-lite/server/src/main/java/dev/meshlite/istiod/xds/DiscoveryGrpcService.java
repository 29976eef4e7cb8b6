package dev.meshlite.istiod.xds;

import dev.meshlite.istiod.api.xds.v1.DeltaRequest;
import dev.meshlite.istiod.api.xds.v1.DeltaResponse;
import dev.meshlite.istiod.api.xds.v1.DiscoveryServiceGrpc;
import dev.meshlite.istiod.api.xds.v1.Node;
import dev.meshlite.istiod.api.xds.v1.Resource;
import dev.meshlite.istiod.ca.auth.CallerAuthenticator;
import dev.meshlite.istiod.ca.auth.ServiceAccountRef;
import dev.meshlite.istiod.ca.grpc.BearerToken;
import io.grpc.BindableService;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The delta discovery server (contract: {@code meshlite/xds/v1/xds.proto}). One {@link ProxyStream}
 * per proxy; {@link #publish} hands every stream the new snapshot and each sends only what
 * changed for its subscriptions (nothing when nothing did).
 *
 * <p>What a proxy receives: for now every ztunnel gets all ambient workloads, services and
 * authorizations. The rule to narrow it to (later): a ztunnel needs the workloads on its node
 * (inbound), everything its node's workloads may connect to (services and their endpoints, and
 * their waypoints), and the authorizations that apply to its node's workloads (global, their
 * namespaces', and the selector policies they list).
 *
 * <p>Cost of a push: streams told the same change (most of them, after a snapshot) share one
 * serialized response body; only the nonce is written per stream ({@link EncodedResponse}). The
 * bodies are kept with the snapshot they came from, up to {@link #MAX_SHARED_BYTES}.
 *
 * <p>Threads: gRPC's executor runs requests; {@link #publish} runs on the caller's thread. Each
 * stream's state and its sends are guarded by the stream's lock, so a push and an ACK never
 * interleave. A stream whose transport is not ready is marked and pushed when it becomes ready:
 * a slow proxy gets the latest state once, not every intermediate one.
 */
public final class DiscoveryGrpcService implements BindableService {

    private static final Logger log = LoggerFactory.getLogger(DiscoveryGrpcService.class);

    static final int ON_READY_THRESHOLD = 256 * 1024;
    /** Shared response bodies kept per snapshot; past this, bodies are encoded per stream. */
    static final long MAX_SHARED_BYTES = 16L << 20;

    private final ProxyAccess access;
    private final Set<ProxyStream> streams = ConcurrentHashMap.newKeySet();
    private final AtomicLong streamIds = new AtomicLong();
    /** Null until the first publish: before it, streams are refused rather than told "nothing exists". */
    private volatile Served current;
    private final Counter pushes;
    private final Counter bytesSent;
    private final Counter nacks;
    private final Counter refused;

    public DiscoveryGrpcService(CallerAuthenticator authenticator, Set<ServiceAccountRef> nodeAgents,
            PrometheusRegistry registry) {
        this.access = new ProxyAccess(authenticator, nodeAgents);
        GaugeWithCallback.builder().name("istiod_xds_connected_proxies")
                .help("Authenticated discovery streams open").callback(cb -> cb.call(connectedProxies()))
                .register(registry);
        pushes = Counter.builder().name("istiod_xds_pushes_total").help("Delta responses sent, by type")
                .labelNames("type").register(registry);
        bytesSent = Counter.builder().name("istiod_xds_bytes_sent_total")
                .help("Serialized bytes of delta responses sent, by type").labelNames("type").register(registry);
        nacks = Counter.builder().name("istiod_xds_nacks_total").help("Responses proxies rejected, by type")
                .labelNames("type").register(registry);
        refused = Counter.builder().name("istiod_xds_streams_refused_total")
                .help("Discovery streams refused, by status code").labelNames("code").register(registry);
    }

    /** Makes {@code snapshot} current and pushes what changed to every stream. */
    public synchronized void publish(XdsSnapshot snapshot) {
        Served previous = current;
        // What changed, computed once for every stream: each then looks only at those names, and a
        // stream up to date with the previous snapshot is sent that change as it is.
        Map<String, Subscription.Diff> changes = previous == null ? Map.of() : changes(previous.snapshot, snapshot);
        current = new Served(snapshot, previous == null ? null : previous.snapshot, changes);
        Map<String, Set<String>> changed = previous == null ? null : changedNames(changes);
        for (ProxyStream s : streams) {
            s.pushAll(changed);
        }
    }

    /** Per type, what brings a proxy holding all of {@code before} to {@code after}: upserts and removals in name order. */
    static Map<String, Subscription.Diff> changes(XdsSnapshot before, XdsSnapshot after) {
        Map<String, Subscription.Diff> out = new HashMap<>();
        for (String type : XdsSnapshot.TYPES) {
            Map<String, XdsSnapshot.Versioned> a = before.of(type);
            Map<String, XdsSnapshot.Versioned> b = after.of(type);
            Map<String, XdsSnapshot.Versioned> upserts = new LinkedHashMap<>();
            b.forEach((name, v) -> { // in name order (XdsSnapshot's maps are)
                XdsSnapshot.Versioned old = a.get(name);
                if (old == null || !old.version().equals(v.version())) {
                    upserts.put(name, v);
                }
            });
            List<String> removed = new ArrayList<>();
            a.keySet().forEach(name -> {
                if (!b.containsKey(name)) {
                    removed.add(name);
                }
            });
            out.put(type, new Subscription.Diff(java.util.Collections.unmodifiableMap(upserts), List.copyOf(removed)));
        }
        return out;
    }

    /** The names each change touches, in name order. */
    static Map<String, Set<String>> changedNames(Map<String, Subscription.Diff> changes) {
        Map<String, Set<String>> out = new HashMap<>();
        changes.forEach((type, d) -> {
            List<String> names = new ArrayList<>(d.upserts().keySet());
            names.addAll(d.removed());
            names.sort(null);
            out.put(type, java.util.Collections.unmodifiableSet(new java.util.LinkedHashSet<>(names)));
        });
        return out;
    }

    /** The snapshot being served, or null before the first publish. */
    public XdsSnapshot current() {
        Served s = current;
        return s == null ? null : s.snapshot;
    }

    @Override
    public ServerServiceDefinition bindService() {
        MethodDescriptor<DeltaRequest, DeltaResponse> generated = DiscoveryServiceGrpc.getDeltaResourcesMethod();
        MethodDescriptor<DeltaRequest, EncodedResponse> method = generated
                .toBuilder(generated.getRequestMarshaller(), EncodedResponse.MARSHALLER).build();
        return ServerServiceDefinition.builder(DiscoveryServiceGrpc.SERVICE_NAME)
                .addMethod(method, ServerCalls.asyncBidiStreamingCall(this::deltaResources)).build();
    }

    public int connectedProxies() {
        return (int) streams.stream().filter(s -> s.node != null).count();
    }

    StreamObserver<DeltaRequest> deltaResources(StreamObserver<EncodedResponse> responses) {
        ServerCallStreamObserver<EncodedResponse> out = (ServerCallStreamObserver<EncodedResponse>) responses;
        // gRPC's default (32 KiB queued) would hold back the next type's response behind any
        // sizeable one (a namespace's workloads); a slow proxy still stops receiving past this.
        out.setOnReadyThreshold(ON_READY_THRESHOLD);
        ProxyStream s = new ProxyStream(streamIds.incrementAndGet(), BearerToken.current(), out);
        out.setOnReadyHandler(s::onReady);
        out.setOnCancelHandler(s::ended);
        return s;
    }

    static String shortType(String typeUrl) {
        int slash = typeUrl.lastIndexOf('/');
        return slash < 0 ? typeUrl : typeUrl.substring(slash + 1);
    }

    /** One proxy's stream. All state is guarded by {@code this}. */
    final class ProxyStream implements StreamObserver<DeltaRequest> {
        private final long id;
        private final String token;
        private final ServerCallStreamObserver<EncodedResponse> out;
        private final Map<String, Subscription> subscriptions = new HashMap<>();
        private volatile Node node;
        private long nonces;
        private boolean ended;
        private boolean pushWhenReady;

        ProxyStream(long id, String token, ServerCallStreamObserver<EncodedResponse> out) {
            this.id = id;
            this.token = token;
            this.out = out;
        }

        @Override
        public synchronized void onNext(DeltaRequest request) {
            if (ended) {
                return;
            }
            if (node == null) {
                if (current == null) {
                    // A reconnecting proxy told "nothing" would drop its good state: make it wait.
                    refused.labelValues(Status.Code.UNAVAILABLE.name()).inc();
                    ended = true;
                    out.onError(Status.UNAVAILABLE.withDescription("istiod-lite has not read the cluster yet; retry")
                            .asRuntimeException());
                    return;
                }
                try {
                    access.check(token, request.hasNode() ? request.getNode() : null);
                } catch (ProxyAccess.StatusExceptionWithReason e) {
                    refused.labelValues(e.status.getCode().name()).inc();
                    log.info("refused discovery stream {}: {}: {}", request.getNode().getId(), e.status.getCode(),
                            e.getMessage());
                    ended = true;
                    out.onError(e.status.withDescription(e.getMessage()).asRuntimeException());
                    return;
                }
                node = request.getNode();
                streams.add(this);
                log.info("proxy {} ({} on {}) connected", node.getId(), node.getRole(), node.getNodeName());
            }
            String type = request.getTypeUrl();
            Subscription sub = subscriptions.get(type);
            if (!request.getResponseNonce().isEmpty() && sub != null) {
                String nonce = request.getResponseNonce();
                if (request.hasErrorDetail()) {
                    if (sub.nack(nonce)) {
                        nacks.labelValues(shortType(type)).inc();
                        log.warn("proxy {} rejected {} response {} (it keeps its last good state): {}", node.getId(),
                                shortType(type), nonce, request.getErrorDetail().getMessage());
                    }
                } else if (!sub.ack(nonce)) {
                    log.debug("proxy {}: answer to unknown nonce {} ignored", node.getId(), nonce);
                }
            }
            boolean changesSubscription = request.getResourceNamesSubscribeCount() > 0
                    || request.getResourceNamesUnsubscribeCount() > 0;
            if (sub == null && (changesSubscription || request.getResponseNonce().isEmpty())) {
                sub = new Subscription(type, request.getInitialResourceVersionsMap());
                subscriptions.put(type, sub);
            }
            if (sub != null && changesSubscription) {
                sub.subscribe(request.getResourceNamesSubscribeList(), request.getResourceNamesUnsubscribeList());
                push(sub);
            }
        }

        /** @param changed names changed since the previous snapshot, by type; null: compare all */
        synchronized void pushAll(Map<String, Set<String>> changed) {
            if (ended || node == null) {
                return;
            }
            for (Subscription sub : subscriptions.values()) {
                push(sub, changed == null ? null : changed.getOrDefault(sub.typeUrl, Set.of()));
            }
        }

        void onReady() {
            synchronized (this) {
                if (!pushWhenReady) {
                    return;
                }
                pushWhenReady = false;
            }
            pushAll(Map.of()); // nothing new beyond what each subscription deferred
        }

        private void push(Subscription sub) {
            push(sub, null);
        }

        private void push(Subscription sub, Set<String> changed) {
            if (!out.isReady()) {
                // Snapshots may pass while the proxy is slow: it gets the latest of what changed once ready.
                sub.defer(changed);
                pushWhenReady = true;
                return;
            }
            Served served = current;
            Subscription.Diff diff = changed != null && served.previous != null && sub.mirrors(served.previous)
                    ? served.changes.getOrDefault(sub.typeUrl, Subscription.Diff.EMPTY)
                    : sub.diff(served.snapshot.of(sub.typeUrl), changed);
            if (diff.isEmpty() && !sub.needsFirstResponse()) {
                sub.pushed(served.snapshot);
                return;
            }
            String nonce = id + "-" + (++nonces);
            EncodedResponse response = EncodedResponse.of(served.body(sub.typeUrl, diff), nonce);
            sub.sent(nonce, diff);
            sub.pushed(served.snapshot);
            out.onNext(response);
            String type = shortType(sub.typeUrl);
            pushes.labelValues(type).inc();
            bytesSent.labelValues(type).inc(response.size());
            log.debug("pushed {} to {}: {} upserts, {} removals, version {}", type, node.getId(),
                    diff.upserts().size(), diff.removed().size(), served.snapshot.version());
        }

        @Override
        public void onError(Throwable t) {
            ended();
        }

        @Override
        public void onCompleted() {
            synchronized (this) {
                if (!ended) {
                    out.onCompleted();
                }
            }
            ended();
        }

        void ended() {
            synchronized (this) {
                ended = true;
            }
            if (streams.remove(this)) {
                log.info("proxy {} disconnected", node.getId());
            }
        }
    }

    /** Ends every stream (shutting down); proxies reconnect to another replica. */
    public void closeAll() {
        for (ProxyStream s : streams) {
            synchronized (s) {
                if (!s.ended) {
                    s.ended = true;
                    s.out.onError(Status.UNAVAILABLE.withDescription("istiod-lite shutting down").asRuntimeException());
                }
            }
        }
        streams.clear();
    }

    /** A snapshot being served, with the response bodies encoded from it so far. */
    private static final class Served {
        final XdsSnapshot snapshot;
        /** The snapshot served before this one (null for the first), and per type the change from it. */
        final XdsSnapshot previous;
        final Map<String, Subscription.Diff> changes;
        private final Map<BodyKey, byte[]> bodies = new ConcurrentHashMap<>();
        private final Map<String, byte[]> changeBodies = new ConcurrentHashMap<>();
        private final AtomicLong sharedBytes = new AtomicLong();

        Served(XdsSnapshot snapshot, XdsSnapshot previous, Map<String, Subscription.Diff> changes) {
            this.snapshot = snapshot;
            this.previous = previous;
            this.changes = changes;
        }

        /** The serialized response (without nonce) carrying {@code diff}: encoded once per distinct diff. */
        byte[] body(String typeUrl, Subscription.Diff diff) {
            if (diff == changes.get(typeUrl)) { // the common case: no key to build and compare
                return changeBodies.computeIfAbsent(typeUrl, t -> encode(t, diff));
            }
            BodyKey key = BodyKey.of(typeUrl, diff);
            byte[] body = bodies.get(key);
            if (body != null) {
                return body;
            }
            body = encode(typeUrl, diff);
            if (sharedBytes.addAndGet(body.length) <= MAX_SHARED_BYTES) {
                bodies.putIfAbsent(key, body);
            } else {
                sharedBytes.addAndGet(-body.length);
            }
            return body;
        }

        private byte[] encode(String typeUrl, Subscription.Diff diff) {
            DeltaResponse.Builder r = DeltaResponse.newBuilder().setTypeUrl(typeUrl)
                    .setSystemVersionInfo(snapshot.version()).addAllRemovedResources(diff.removed());
            diff.upserts().forEach((name, v) -> r.addResources(Resource.newBuilder().setName(name)
                    .setVersion(v.version()).setResource(v.resource())));
            return EncodedResponse.body(r.build());
        }
    }

    /** What makes two responses' bodies equal: type, the resources by name and version, the removals, in order. */
    private record BodyKey(String typeUrl, List<String> names, List<String> versions, List<String> removed) {
        static BodyKey of(String typeUrl, Subscription.Diff diff) {
            List<String> names = new ArrayList<>(diff.upserts().size());
            List<String> versions = new ArrayList<>(diff.upserts().size());
            diff.upserts().forEach((n, v) -> {
                names.add(n);
                versions.add(v.version());
            });
            return new BodyKey(typeUrl, names, versions, diff.removed());
        }
    }
}
