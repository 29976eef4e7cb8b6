package dev.meshlite.istiod.watch;

import dev.meshlite.istiod.lead.Leadership;
import dev.meshlite.istiod.model.AmbientModel;
import dev.meshlite.istiod.model.AmbientSnapshot;
import dev.meshlite.istiod.model.IncrementalModel;
import dev.meshlite.istiod.model.ModelInputs;
import dev.meshlite.istiod.model.Problem;
import dev.meshlite.istiod.xds.XdsSnapshot;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the cluster with shared informers and turns every change into a new model snapshot
 * ({@link AmbientModel}), published as an {@link XdsSnapshot}.
 *
 * <p>Rules:
 * <ul>
 *   <li>Nothing is published before Namespaces, Pods, Services, Nodes, EndpointSlices and
 *       ServiceAccounts have synced, nor before each custom-resource informer (policies, Gateways,
 *       HTTPRoutes) has either synced or failed once (its CRD may be absent: it then counts as
 *       empty and keeps retrying). Publishing a policy-less view while policies exist but were not
 *       read yet would open the mesh for a moment.</li>
 *   <li>Objects that change often for reasons the model ignores do not cause rebuilds: a Node
 *       only when its topology labels change, an EndpointSlice only when it belongs to a Service
 *       without selector, a ServiceAccount only when it comes or goes.</li>
 *   <li>The leader writes the status the model owes to waypoint Gateways and HTTPRoutes
 *       ({@link GatewayStatusWriter}), after each push, only where it differs.</li>
 *   <li>Changes are debounced ({@link Debounce}: a change after a quiet spell is built within
 *       10 ms, a burst once it has been quiet for 100 ms, at most 1 s after its first change); the
 *       model is rebuilt only where a change touched it ({@link IncrementalModel}); rebuilds run on one
 *       thread of their own, never on an informer's.</li>
 *   <li>Each problem is logged once when it appears (and once when it is gone), counted in
 *       {@code istiod_config_problems{kind}}, and raised as a Warning Event on the object when
 *       that object is known.</li>
 *   <li>Every replica watches, builds and serves; only the leader writes Events. A replica that
 *       gains leadership raises the Events of the problems standing at that moment that have
 *       none yet (those that appeared while no replica could write), and leaves alone the ones
 *       its predecessor wrote.</li>
 * </ul>
 */
public final class ClusterWatcher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ClusterWatcher.class);

    public static final ResourceDefinitionContext AUTHORIZATION_POLICY = new ResourceDefinitionContext.Builder()
            .withGroup("security.istio.io").withVersion("v1").withKind("AuthorizationPolicy")
            .withPlural("authorizationpolicies").withNamespaced(true).build();
    public static final ResourceDefinitionContext PEER_AUTHENTICATION = new ResourceDefinitionContext.Builder()
            .withGroup("security.istio.io").withVersion("v1").withKind("PeerAuthentication")
            .withPlural("peerauthentications").withNamespaced(true).build();
    public static final ResourceDefinitionContext GATEWAY = new ResourceDefinitionContext.Builder()
            .withGroup("gateway.networking.k8s.io").withVersion("v1").withKind("Gateway")
            .withPlural("gateways").withNamespaced(true).build();
    public static final ResourceDefinitionContext HTTP_ROUTE = new ResourceDefinitionContext.Builder()
            .withGroup("gateway.networking.k8s.io").withVersion("v1").withKind("HTTPRoute")
            .withPlural("httproutes").withNamespaced(true).build();

    /** Settings, built once. */
    public record Options(String rootNamespace, String trustDomain, Duration quiet, Duration maxDelay,
            Duration gather, Duration syncTimeout, boolean events) {
        public static Options defaults(String rootNamespace, String trustDomain) {
            return new Options(rootNamespace, trustDomain, Duration.ofMillis(100), Duration.ofSeconds(1),
                    Duration.ofMillis(10), Duration.ofSeconds(60), true);
        }
    }

    private final KubernetesClient client;
    private final Options options;
    private final Consumer<XdsSnapshot> publish;
    private final Clock clock;
    private final Debounce debounce;
    private final ScheduledExecutorService rebuilds;
    private final List<SharedIndexInformer<?>> informers = new ArrayList<>();
    private final Counter rebuildCount;
    private final Leadership leadership;
    private final ProblemEvents events;
    private final GatewayStatusWriter statusWriter;
    private final Leadership.Listener catchUp = new Leadership.Listener() {
        @Override
        public void gained() {
            if (!rebuilds.isShutdown()) {
                rebuilds.execute(ClusterWatcher.this::raiseStandingProblems);
            }
        }

        @Override
        public void lost() {}
    };

    private SharedIndexInformer<Namespace> namespaces;
    private SharedIndexInformer<Pod> pods;
    private SharedIndexInformer<Service> services;
    private SharedIndexInformer<GenericKubernetesResource> authorizationPolicies;
    private SharedIndexInformer<GenericKubernetesResource> peerAuthentications;
    private SharedIndexInformer<Node> nodes;
    private SharedIndexInformer<EndpointSlice> endpointSlices;
    private SharedIndexInformer<ServiceAccount> serviceAccounts;
    private SharedIndexInformer<GenericKubernetesResource> gateways;
    private SharedIndexInformer<GenericKubernetesResource> httpRoutes;
    private final List<CompletableFuture<Void>> customSeen = new ArrayList<>();

    // Rebuild-thread state.
    private Instant firstChange;
    private Instant lastChange;
    private Instant lastBuild;
    private ScheduledFuture<?> scheduled;
    private boolean ready;
    private long version;
    private Set<Problem> reported = Set.of();
    private final IncrementalModel model = new IncrementalModel();
    private final XdsSnapshot.Packer packer = new XdsSnapshot.Packer();
    private volatile AmbientSnapshot latest = AmbientSnapshot.EMPTY;

    /** A watcher that is the only writer (no other replica). */
    public ClusterWatcher(KubernetesClient client, Options options, Consumer<XdsSnapshot> publish,
            PrometheusRegistry registry, Clock clock) {
        this(client, options, publish, registry, clock, Leadership.always("istiod"));
    }

    public ClusterWatcher(KubernetesClient client, Options options, Consumer<XdsSnapshot> publish,
            PrometheusRegistry registry, Clock clock, Leadership leadership) {
        this.client = client;
        this.leadership = leadership;
        this.events = new ProblemEvents(client, leadership);
        this.statusWriter = new GatewayStatusWriter(client, clock);
        this.options = options;
        this.publish = publish;
        this.clock = clock;
        this.debounce = new Debounce(options.quiet(), options.maxDelay(), options.gather());
        this.rebuilds = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "model-rebuild");
            t.setDaemon(true);
            return t;
        });
        GaugeWithCallback.builder().name("istiod_config_problems")
                .help("Problems in the cluster's mesh configuration (invalid or degraded objects), by kind")
                .labelNames("kind")
                .callback(cb -> {
                    Map<String, Integer> byKind = new TreeMap<>();
                    latest.problems().forEach(p -> byKind.merge(p.kind(), 1, Integer::sum));
                    byKind.forEach((k, n) -> cb.call(n, k));
                }).register(registry);
        rebuildCount = Counter.builder().name("istiod_model_rebuilds_total").help("Model snapshots built")
                .register(registry);
    }

    /** Starts the informers, waits for their first sync, publishes the first snapshot. */
    public void start() throws Exception {
        namespaces = core(client.namespaces().runnableInformer(0), (a, b) -> true);
        pods = core(client.pods().inAnyNamespace().runnableInformer(0), (a, b) -> true);
        services = core(client.services().inAnyNamespace().runnableInformer(0), (a, b) -> true);
        nodes = core(client.nodes().runnableInformer(0),
                ClusterWatcher::topologyChanged);
        endpointSlices = core(client.discovery().v1().endpointSlices().inAnyNamespace().runnableInformer(0),
                (a, b) -> withoutSelector(a) || withoutSelector(b));
        serviceAccounts = core(client.serviceAccounts().inAnyNamespace().runnableInformer(0), (a, b) -> false);
        authorizationPolicies = custom(AUTHORIZATION_POLICY);
        peerAuthentications = custom(PEER_AUTHENTICATION);
        gateways = custom(GATEWAY);
        httpRoutes = custom(HTTP_ROUTE);
        List<CompletableFuture<Void>> synced = new ArrayList<>();
        for (SharedIndexInformer<?> i : List.of(namespaces, pods, services, nodes, endpointSlices, serviceAccounts)) {
            synced.add(i.start().toCompletableFuture());
        }
        synced.addAll(customSeen);
        CompletableFuture.allOf(synced.toArray(CompletableFuture[]::new))
                .get(options.syncTimeout().toMillis(), TimeUnit.MILLISECONDS);
        rebuilds.submit(() -> {
            ready = true;
            rebuild();
        }).get();
        if (options.events()) {
            leadership.subscribe(catchUp); // leading already: raises the first build's problems now
        }
    }

    /** @param matters whether an update (old, new) can change the model; adds and deletes always can */
    private <T extends HasMetadata> SharedIndexInformer<T> core(SharedIndexInformer<T> informer,
            BiPredicate<T, T> matters) {
        // Keep retrying whatever happens: the API server may restart under us.
        informer.exceptionHandler((started, t) -> {
            log.warn("watch of {} failed (retrying): {}", informer.getApiTypeClass().getSimpleName(), t.toString());
            return true;
        });
        informer.addEventHandler(new Changes<>(matters));
        informers.add(informer);
        return informer;
    }

    /** A custom resource's informer: its CRD may be missing (then it counts as none, retrying). */
    private SharedIndexInformer<GenericKubernetesResource> custom(ResourceDefinitionContext crd) {
        CompletableFuture<Void> seen = new CompletableFuture<>();
        SharedIndexInformer<GenericKubernetesResource> informer = client.genericKubernetesResources(crd)
                .inAnyNamespace().runnableInformer(0);
        informer.exceptionHandler((started, t) -> {
            if (!started && !seen.isDone()) {
                log.warn("cannot list {} (is its CRD installed? counted as none, retrying): {}", crd.getKind(),
                        t.toString());
                seen.complete(null);
            }
            return true;
        });
        // Our own status writes come back as updates: only a change of spec, labels, annotations
        // or presence matters.
        informer.addEventHandler(new Changes<>(ClusterWatcher::customChanged));
        informers.add(informer);
        informer.start().whenComplete((v, t) -> seen.complete(null));
        customSeen.add(seen);
        return informer;
    }

    /** A Node update the model sees: its topology labels (heartbeats and status are not read). */
    static boolean topologyChanged(Node before, Node after) {
        return !AmbientModel.locality(before).equals(AmbientModel.locality(after));
    }

    /** A custom resource update the model sees: spec, labels, annotations or deletion, not status. */
    static boolean customChanged(GenericKubernetesResource before, GenericKubernetesResource after) {
        return !Objects.equals(before.getAdditionalProperties().get("spec"), after.getAdditionalProperties().get("spec"))
                || !Objects.equals(before.getMetadata().getLabels(), after.getMetadata().getLabels())
                || !Objects.equals(before.getMetadata().getAnnotations(), after.getMetadata().getAnnotations())
                || !Objects.equals(before.getMetadata().getDeletionTimestamp(), after.getMetadata().getDeletionTimestamp());
    }

    /** An EndpointSlice of a Service that has no selector (the only slices the model reads). */
    private boolean withoutSelector(EndpointSlice slice) {
        String service = AmbientModel.labels(slice).get("kubernetes.io/service-name");
        if (service == null || services == null) {
            return false;
        }
        Service s = services.getStore().getByKey(slice.getMetadata().getNamespace() + "/" + service);
        return s == null || s.getSpec() == null || s.getSpec().getSelector() == null
                || s.getSpec().getSelector().isEmpty();
    }

    /** A change: schedule a rebuild, unless it is an update the model ignores. */
    private final class Changes<T> implements ResourceEventHandler<T> {
        private final BiPredicate<T, T> matters;

        Changes(BiPredicate<T, T> matters) {
            this.matters = matters;
        }

        @Override
        public void onAdd(T obj) {
            changed();
        }

        @Override
        public void onUpdate(T oldObj, T newObj) {
            if (matters.test(oldObj, newObj)) {
                changed();
            }
        }

        @Override
        public void onDelete(T obj, boolean deletedFinalStateUnknown) {
            changed();
        }
    }

    private void changed() {
        Instant now = clock.instant();
        rebuilds.execute(() -> {
            if (firstChange == null) {
                firstChange = now;
            }
            lastChange = now;
            scheduleRebuild();
        });
    }

    private void scheduleRebuild() {
        if (!ready || firstChange == null) {
            return; // the first build after sync covers it
        }
        Instant due = debounce.due(firstChange, lastChange, lastBuild);
        if (scheduled != null) {
            scheduled.cancel(false);
        }
        long delay = Math.max(0, Duration.between(clock.instant(), due).toMillis());
        scheduled = rebuilds.schedule(this::rebuildIfDue, delay, TimeUnit.MILLISECONDS);
    }

    private void rebuildIfDue() {
        if (firstChange != null && clock.instant().isBefore(debounce.due(firstChange, lastChange, lastBuild))) {
            scheduleRebuild();
            return;
        }
        rebuild();
    }

    private void rebuild() {
        lastBuild = clock.instant();
        firstChange = null;
        lastChange = null;
        scheduled = null;
        try {
            ModelInputs inputs = new ModelInputs(namespaces.getStore().list(), pods.getStore().list(),
                    services.getStore().list(), authorizationPolicies.getStore().list(),
                    peerAuthentications.getStore().list(), nodes.getStore().list(), endpointSlices.getStore().list(),
                    serviceAccounts.getStore().list(), gateways.getStore().list(), httpRoutes.getStore().list(),
                    options.rootNamespace(), options.trustDomain());
            AmbientSnapshot snapshot = model.build(inputs);
            latest = snapshot;
            version++;
            rebuildCount.inc();
            List<Problem> fresh = report(snapshot.problems());
            publish.accept(packer.pack(snapshot, "v" + version));
            // After the push: API calls are slow. The first build's problems stood before this
            // replica started (a previous leader may have raised them): raiseStandingProblems.
            if (options.events() && version > 1 && leadership.isLeader()) {
                fresh.forEach(p -> events.raise(p, storeFor(p.kind())));
            }
            if (options.events() && leadership.isLeader()) {
                statusWriter.write(snapshot.statuses(), gateways.getStore(), httpRoutes.getStore());
            }
            log.debug("model v{}: {} workloads, {} services, {} authorizations, {} problems; {} namespaces rebuilt",
                    version, snapshot.workloads().size(), snapshot.services().size(),
                    snapshot.authorizations().size(), snapshot.problems().size(), model.lastRebuilt());
        } catch (RuntimeException e) {
            // Keep serving the previous snapshot; the next change retries.
            log.error("model rebuild failed (previous configuration stays): {}", e.toString(), e);
        }
    }

    /** Logs what appeared and what went away; returns the new problems. */
    private List<Problem> report(List<Problem> problems) {
        Set<Problem> now = new HashSet<>(problems);
        List<Problem> fresh = new ArrayList<>();
        for (Problem p : problems) {
            if (!reported.contains(p)) {
                log.warn("config problem: {}", p);
                fresh.add(p);
            }
        }
        for (Problem p : reported) {
            if (!now.contains(p)) {
                log.info("config problem resolved: {}", p);
            }
        }
        reported = now;
        return fresh;
    }

    /**
     * On the rebuild thread, once this replica leads (at start, or after gaining leadership):
     * Events for the standing problems that have none, leaving those a predecessor wrote be, and
     * the Gateway API status owed.
     */
    private void raiseStandingProblems() {
        if (!ready || !leadership.isLeader()) {
            return;
        }
        for (Problem p : latest.problems()) {
            events.raiseIfAbsent(p, storeFor(p.kind()));
        }
        // Status: what a predecessor wrote is left as is (equal); what went unwritten while
        // nobody led is written now.
        statusWriter.write(latest.statuses(), gateways.getStore(), httpRoutes.getStore());
    }

    private List<? extends HasMetadata> storeFor(String kind) {
        return switch (kind) {
            case "AuthorizationPolicy" -> authorizationPolicies.getStore().list();
            case "PeerAuthentication" -> peerAuthentications.getStore().list();
            case "Namespace" -> namespaces.getStore().list();
            case "Service" -> services.getStore().list();
            case "Pod" -> pods.getStore().list();
            case "HTTPRoute" -> httpRoutes.getStore().list();
            case "Gateway" -> gateways.getStore().list();
            default -> List.of();
        };
    }

    /** The latest snapshot built (empty before the first). */
    public AmbientSnapshot latest() {
        return latest;
    }

    @Override
    public void close() {
        leadership.unsubscribe(catchUp);
        informers.forEach(SharedIndexInformer::stop);
        rebuilds.shutdownNow();
    }
}
