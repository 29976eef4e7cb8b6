package dev.meshlite.ztunnel.state;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Everything the proxy knows of the mesh at one moment: an immutable snapshot, replaced whole when
 * the control plane sends a change, so a connection decides against one consistent view and never
 * sees half an update. Lookups are by map; building a new snapshot is linear in its size.
 */
public final class ProxyState {

    public static final ProxyState EMPTY = new ProxyState(Map.of(), Map.of(), Map.of());

    private final Map<String, Workload> workloads;
    private final Map<String, Service> services;
    private final Map<String, Authorization> policies;
    private final Map<InetAddress, Workload> workloadsByIp;
    private final Map<InetAddress, Service> servicesByVip;
    /** Each Service hostname (lower case) with the VIPs of every Service of that name. */
    private final Map<String, List<InetAddress>> addressesByHostname;
    private final Map<String, List<Workload>> endpoints;
    private final List<Authorization> global;
    private final Map<String, List<Authorization>> byNamespace;

    private ProxyState(Map<String, Workload> workloads, Map<String, Service> services,
                       Map<String, Authorization> policies) {
        this.workloads = Map.copyOf(workloads);
        this.services = Map.copyOf(services);
        this.policies = Map.copyOf(policies);
        Map<InetAddress, Workload> ips = new HashMap<>();
        Map<String, List<Workload>> eps = new HashMap<>();
        // Sorted by uid so that two snapshots of the same content balance identically.
        List<Workload> sorted = new ArrayList<>(workloads.values());
        sorted.sort(Comparator.comparing(Workload::uid));
        for (Workload w : sorted) {
            for (InetAddress ip : w.addresses()) {
                ips.put(ip, w);
            }
            for (String svc : w.services().keySet()) {
                eps.computeIfAbsent(svc, k -> new ArrayList<>()).add(w);
            }
        }
        Map<InetAddress, Service> vips = new HashMap<>();
        Map<String, List<Service>> named = new HashMap<>();
        for (Service s : services.values()) {
            for (InetAddress ip : s.addresses()) {
                vips.put(ip, s);
            }
            if (s.hostname() != null && !s.hostname().isEmpty() && !s.addresses().isEmpty()) {
                named.computeIfAbsent(s.hostname().toLowerCase(Locale.ROOT), k -> new ArrayList<>(1)).add(s);
            }
        }
        Map<String, List<InetAddress>> names = new HashMap<>();
        named.forEach((name, list) -> {
            if (list.size() == 1) {
                names.put(name, list.getFirst().addresses());
                return;
            }
            // A name several Services share (rare): their VIPs by Service key, each once.
            list.sort(Comparator.comparing(Service::key));
            names.put(name, list.stream().flatMap(s -> s.addresses().stream()).distinct().toList());
        });
        List<Authorization> g = new ArrayList<>();
        Map<String, List<Authorization>> ns = new HashMap<>();
        for (Authorization a : policies.values()) {
            switch (a.scope()) {
                case GLOBAL -> g.add(a);
                case NAMESPACE -> ns.computeIfAbsent(a.namespace(), k -> new ArrayList<>()).add(a);
                case WORKLOAD_SELECTOR -> { }
            }
        }
        this.workloadsByIp = Map.copyOf(ips);
        this.servicesByVip = Map.copyOf(vips);
        this.addressesByHostname = Map.copyOf(names);
        eps.replaceAll((k, v) -> List.copyOf(v));
        this.endpoints = Map.copyOf(eps);
        this.global = List.copyOf(g);
        ns.replaceAll((k, v) -> List.copyOf(v));
        this.byNamespace = Map.copyOf(ns);
    }

    public static ProxyState of(Collection<Workload> workloads, Collection<Service> services,
                                Collection<Authorization> policies) {
        Map<String, Workload> w = new HashMap<>();
        workloads.forEach(x -> w.put(x.uid(), x));
        Map<String, Service> s = new HashMap<>();
        services.forEach(x -> s.put(x.key(), x));
        Map<String, Authorization> p = new HashMap<>();
        policies.forEach(x -> p.put(x.key(), x));
        return new ProxyState(w, s, p);
    }

    public ProxyState withWorkloads(Map<String, Workload> upserts, Set<String> removed) {
        return new ProxyState(apply(workloads, upserts, removed), services, policies);
    }

    public ProxyState withServices(Map<String, Service> upserts, Set<String> removed) {
        return new ProxyState(workloads, apply(services, upserts, removed), policies);
    }

    public ProxyState withPolicies(Map<String, Authorization> upserts, Set<String> removed) {
        return new ProxyState(workloads, services, apply(policies, upserts, removed));
    }

    private static <T> Map<String, T> apply(Map<String, T> base, Map<String, T> upserts, Set<String> removed) {
        Map<String, T> m = new HashMap<>(base);
        removed.forEach(m::remove);
        m.putAll(upserts);
        return m;
    }

    public Optional<Workload> workload(String uid) {
        return Optional.ofNullable(workloads.get(uid));
    }

    public Optional<Workload> workloadByIp(InetAddress ip) {
        return Optional.ofNullable(workloadsByIp.get(ip));
    }

    public Optional<Service> serviceByVip(InetAddress ip) {
        return Optional.ofNullable(servicesByVip.get(ip));
    }

    /**
     * The VIPs of the Services named {@code hostname} (any case; several Services may share a
     * name, their addresses then come in the order of their keys), or empty when no Service with
     * an address has that name.
     */
    public List<InetAddress> addressesOf(String hostname) {
        return addressesByHostname.getOrDefault(hostname.toLowerCase(Locale.ROOT), List.of());
    }

    public Optional<Service> service(String key) {
        return Optional.ofNullable(services.get(key));
    }

    /** The pods selected by {@code service}, ready or not, in a stable order. */
    public List<Workload> endpoints(Service service) {
        return endpoints.getOrDefault(service.key(), List.of());
    }

    /** The policies that apply to {@code w}: global, its namespace's, and those selecting it. */
    public List<Authorization> policiesFor(Workload w) {
        List<Authorization> out = new ArrayList<>(global);
        out.addAll(byNamespace.getOrDefault(w.namespace(), List.of()));
        for (String name : w.policies()) {
            Authorization a = policies.get(name);
            if (a != null && a.scope() == Authorization.Scope.WORKLOAD_SELECTOR) {
                out.add(a);
            }
        }
        return out;
    }

    public Collection<Workload> workloads() {
        return workloads.values();
    }

    public Collection<Service> services() {
        return services.values();
    }

    public Collection<Authorization> policies() {
        return policies.values();
    }
}
