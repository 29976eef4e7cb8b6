package dev.meshlite.e2e.controllers;

import dev.meshlite.e2e.cluster.OnAnyChange;
import dev.meshlite.e2e.cluster.Readiness;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.ReplicaSet;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controllers a real control plane runs, for the local cluster: scheduling, Deployments →
 * ReplicaSets → Pods, garbage collection by owner, EndpointSlices from ready Pods, the
 * {@code default} ServiceAccount, namespace cleanup and the cluster's name resolution files.
 *
 * <p>Level-triggered: any change to a watched kind schedules one reconcile of everything
 * (debounced), which reads the informer caches and converges. Writes the caches have not seen yet
 * are remembered ({@link Expectations}) so a reconcile never acts twice on the same gap.
 */
public final class ControllerManager implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ControllerManager.class);

    private final KubernetesClient client;
    private final ScheduledExecutorService loop = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("controllers").factory());
    private final AtomicBoolean pending = new AtomicBoolean();
    private final List<SharedIndexInformer<?>> informers = new ArrayList<>();
    private final Expectations expectations = new Expectations();
    private final Workloads workloads;
    private final Scheduler scheduler;
    private final EndpointSlices endpointSlices;
    private final ClusterDns dns;

    private SharedIndexInformer<Namespace> namespaces;
    private SharedIndexInformer<Node> nodes;
    private SharedIndexInformer<Pod> pods;
    private SharedIndexInformer<Service> services;
    private SharedIndexInformer<ServiceAccount> serviceAccounts;
    private SharedIndexInformer<Deployment> deployments;
    private SharedIndexInformer<ReplicaSet> replicaSets;
    private SharedIndexInformer<EndpointSlice> slices;

    public ControllerManager(KubernetesClient client, Path dnsDir) {
        this.client = client;
        this.workloads = new Workloads(client, expectations);
        this.scheduler = new Scheduler(client, expectations);
        this.endpointSlices = new EndpointSlices(client);
        this.dns = new ClusterDns(dnsDir);
    }

    public void start() {
        namespaces = watch(client.namespaces().inform(handler(), 60_000L));
        nodes = watch(client.nodes().inform(handler(), 60_000L));
        pods = watch(client.pods().inAnyNamespace().inform(handler(), 60_000L));
        services = watch(client.services().inAnyNamespace().inform(handler(), 60_000L));
        serviceAccounts = watch(client.serviceAccounts().inAnyNamespace().inform(handler(), 60_000L));
        deployments = watch(client.apps().deployments().inAnyNamespace().inform(handler(), 60_000L));
        replicaSets = watch(client.apps().replicaSets().inAnyNamespace().inform(handler(), 60_000L));
        slices = watch(client.discovery().v1().endpointSlices().inAnyNamespace().inform(handler(), 60_000L));
        // A periodic pass as well, for what no event announces (an expectation that timed out).
        loop.scheduleWithFixedDelay(this::request, 5, 5, TimeUnit.SECONDS);
        request();
        LOG.info("controllers running");
    }

    private <T extends HasMetadata> SharedIndexInformer<T> watch(SharedIndexInformer<T> informer) {
        informers.add(informer);
        return informer;
    }

    private <T> ResourceEventHandler<T> handler() {
        return new OnAnyChange<>(this::request);
    }

    private void request() {
        if (pending.compareAndSet(false, true)) {
            loop.schedule(this::reconcile, 30, TimeUnit.MILLISECONDS);
        }
    }

    private void reconcile() {
        pending.set(false);
        Snapshot s = new Snapshot(namespaces.getStore().list(), nodes.getStore().list(), pods.getStore().list(),
                services.getStore().list(), serviceAccounts.getStore().list(), deployments.getStore().list(),
                replicaSets.getStore().list(), slices.getStore().list());
        expectations.observe(s);
        step("service accounts", () -> Workloads.ensureDefaultServiceAccounts(client, s));
        step("garbage collection", () -> workloads.collectGarbage(s));
        step("deployments", () -> workloads.reconcileDeployments(s));
        step("replica sets", () -> workloads.reconcileReplicaSets(s));
        step("scheduling", () -> scheduler.schedule(s));
        step("endpoint slices", () -> endpointSlices.reconcile(s));
        step("dns", () -> dns.write(s));
    }

    private void step(String name, Runnable r) {
        try {
            r.run();
        } catch (KubernetesClientException e) {
            LOG.warn("{}: {} (will retry)", name, e.getMessage());
            request();
        } catch (RuntimeException e) {
            LOG.error("{} failed", name, e);
        }
    }

    /** One consistent read of the caches for a reconcile pass. */
    record Snapshot(List<Namespace> namespaces, List<Node> nodes, List<Pod> pods, List<Service> services,
                    List<ServiceAccount> serviceAccounts, List<Deployment> deployments,
                    List<ReplicaSet> replicaSets, List<EndpointSlice> slices) {
    }

    static boolean ownedBy(HasMetadata object, String ownerUid) {
        List<OwnerReference> refs = object.getMetadata().getOwnerReferences();
        return refs != null && refs.stream().anyMatch(r -> ownerUid.equals(r.getUid()));
    }

    static boolean isReady(Pod p) {
        return Readiness.ready(p);
    }

    @Override
    public void close() {
        informers.forEach(SharedIndexInformer::close);
        loop.shutdownNow();
    }
}
