package dev.meshlite.e2e.kubeproxy;

import dev.meshlite.e2e.cluster.OnAnyChange;
import dev.meshlite.e2e.cluster.Sh;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * kube-proxy-lite: keeps the node's nat table in step with Services and EndpointSlices, so pods
 * outside the mesh reach a ClusterIP. Runs inside the node's network namespace; every change
 * (debounced) rewrites the MESH-* chains in one {@code iptables-restore --noflush} transaction.
 */
public final class KubeProxy implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KubeProxy.class);

    private final KubernetesClient client;
    private final String podCidr;
    private final ScheduledExecutorService sync = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("kube-proxy-sync").factory());
    private final AtomicBoolean pending = new AtomicBoolean();
    private SharedIndexInformer<Service> services;
    private SharedIndexInformer<EndpointSlice> slices;
    private String applied = "";

    public KubeProxy(KubernetesClient client, String podCidr) {
        this.client = client;
        this.podCidr = podCidr;
    }

    public void start() {
        for (String hook : List.of("PREROUTING", "OUTPUT")) {
            ensureJump(hook, NatRules.SERVICES_CHAIN);
        }
        ensureJump("POSTROUTING", NatRules.POSTROUTING_CHAIN);
        services = client.services().inAnyNamespace().inform(new OnAnyChange<>(this::requestSync), 60_000L);
        slices = client.discovery().v1().endpointSlices().inAnyNamespace().inform(new OnAnyChange<>(this::requestSync), 60_000L);
        requestSync();
        LOG.info("kube-proxy-lite running");
    }

    private void ensureJump(String hook, String chain) {
        Sh.tryRun("iptables", "-t", "nat", "-N", chain);
        if (!Sh.tryRun("iptables", "-t", "nat", "-C", hook, "-j", chain).ok()) {
            Sh.run("iptables", "-t", "nat", "-I", hook, "1", "-j", chain);
        }
    }

    private void requestSync() {
        if (pending.compareAndSet(false, true)) {
            sync.schedule(this::syncNow, 50, TimeUnit.MILLISECONDS);
        }
    }

    private void syncNow() {
        pending.set(false);
        if (services == null || slices == null) {
            return; // an informer fired before both exist; start() requests a sync once they do
        }
        try {
            List<NatRules.ServicePort> ports = servicePorts(services.getStore().list(), slices.getStore().list());
            Set<String> existing = Arrays.stream(Sh.run("iptables", "-t", "nat", "-S").split("\n"))
                    .filter(l -> l.startsWith("-N MESH-")).map(l -> l.substring(3).strip()).collect(Collectors.toSet());
            // Without br_netfilter, replies between pods on one bridge bypass the node's conntrack:
            // then same-bridge Service traffic must be masqueraded to come back through the node.
            boolean bridgeNetfilter = java.nio.file.Files.exists(
                    java.nio.file.Path.of("/proc/sys/net/bridge/bridge-nf-call-iptables"));
            String rules = NatRules.build(ports, existing, bridgeNetfilter ? null : podCidr);
            if (rules.equals(applied)) {
                return;
            }
            Sh.Result r = Sh.exec(List.of("iptables-restore", "--noflush"), rules, java.util.Map.of());
            if (!r.ok()) {
                LOG.error("iptables-restore rejected the service rules: {}", r.stderr().strip());
                sync.schedule(this::requestSync, 1, TimeUnit.SECONDS);
                return;
            }
            applied = rules;
            LOG.info("synced {} service port(s)", ports.size());
        } catch (RuntimeException e) {
            LOG.error("service sync failed", e);
            sync.schedule(this::requestSync, 1, TimeUnit.SECONDS);
        }
    }

    /** Joins Services with their EndpointSlices: ready endpoints only, target port by port name. */
    public static List<NatRules.ServicePort> servicePorts(List<Service> services, List<EndpointSlice> slices) {
        List<NatRules.ServicePort> out = new ArrayList<>();
        for (Service svc : services) {
            String ns = svc.getMetadata().getNamespace();
            String name = svc.getMetadata().getName();
            if (svc.getSpec() == null || svc.getSpec().getPorts() == null) {
                continue;
            }
            List<EndpointSlice> mine = slices.stream()
                    .filter(s -> ns.equals(s.getMetadata().getNamespace()) && s.getMetadata().getLabels() != null
                            && name.equals(s.getMetadata().getLabels().get("kubernetes.io/service-name")))
                    .toList();
            for (ServicePort p : svc.getSpec().getPorts()) {
                List<NatRules.Endpoint> eps = new ArrayList<>();
                for (EndpointSlice slice : mine) {
                    Integer target = slice.getPorts() == null ? null : slice.getPorts().stream()
                            .filter(sp -> Objects.equals(emptyToNull(sp.getName()), emptyToNull(p.getName())))
                            .map(io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort::getPort)
                            .filter(Objects::nonNull).findFirst().orElse(null);
                    if (target == null || slice.getEndpoints() == null) {
                        continue;
                    }
                    for (var ep : slice.getEndpoints()) {
                        boolean ready = ep.getConditions() == null || ep.getConditions().getReady() == null
                                || ep.getConditions().getReady();
                        if (ready && ep.getAddresses() != null && !ep.getAddresses().isEmpty()) {
                            eps.add(new NatRules.Endpoint(ep.getAddresses().get(0), target));
                        }
                    }
                }
                out.add(new NatRules.ServicePort(ns, name, p.getName(), svc.getSpec().getClusterIP(), p.getPort(),
                        p.getProtocol(), eps));
            }
        }
        return out;
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    @Override
    public void close() {
        if (services != null) {
            services.close();
        }
        if (slices != null) {
            slices.close();
        }
        sync.shutdownNow();
    }
}
