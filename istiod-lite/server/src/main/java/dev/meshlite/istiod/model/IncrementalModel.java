package dev.meshlite.istiod.model;

import static dev.meshlite.istiod.model.AmbientModel.HBONE_PORT;
import static dev.meshlite.istiod.model.AmbientModel.NONE;
import static dev.meshlite.istiod.model.AmbientModel.PREFER_CLOSE;
import static dev.meshlite.istiod.model.AmbientModel.TRAFFIC_DISTRIBUTION;
import static dev.meshlite.istiod.model.AmbientModel.USE_WAYPOINT;
import static dev.meshlite.istiod.model.AmbientModel.USE_WAYPOINT_NAMESPACE;
import static dev.meshlite.istiod.model.AmbientModel.addresses;
import static dev.meshlite.istiod.model.AmbientModel.annotations;
import static dev.meshlite.istiod.model.AmbientModel.first;
import static dev.meshlite.istiod.model.AmbientModel.hostname;
import static dev.meshlite.istiod.model.AmbientModel.inMesh;
import static dev.meshlite.istiod.model.AmbientModel.isAmbient;
import static dev.meshlite.istiod.model.AmbientModel.key;
import static dev.meshlite.istiod.model.AmbientModel.labels;
import static dev.meshlite.istiod.model.AmbientModel.ports;
import static dev.meshlite.istiod.model.AmbientModel.ready;
import static dev.meshlite.istiod.model.AmbientModel.redirected;
import static dev.meshlite.istiod.model.AmbientModel.sorted;
import static dev.meshlite.istiod.model.AmbientModel.targetPort;
import static dev.meshlite.istiod.model.AmbientModel.workloadName;

import dev.meshlite.istiod.api.workload.v1.Authorization;
import dev.meshlite.istiod.api.workload.v1.GatewayAddress;
import dev.meshlite.istiod.api.workload.v1.HealthStatus;
import dev.meshlite.istiod.api.workload.v1.Locality;
import dev.meshlite.istiod.api.workload.v1.Port;
import dev.meshlite.istiod.api.workload.v1.PortList;
import dev.meshlite.istiod.api.workload.v1.Scope;
import dev.meshlite.istiod.api.workload.v1.TrafficDistribution;
import dev.meshlite.istiod.api.workload.v1.TunnelProtocol;
import dev.meshlite.istiod.api.workload.v1.Workload;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@link AmbientModel}'s translation, kept from one build to the next so that a change costs what
 * it touches, not what the cluster holds: each namespace's Services and Workloads are reused while
 * everything they were built from is unchanged.
 *
 * <p>Rules:
 * <ul>
 *   <li>A namespace's part (its Services, its pods' Workloads, the waypoint problems met there)
 *       is built only from: its Namespace; its Pods, Services and EndpointSlices; the selector
 *       policies in scope there (its own and the root namespace's); the PeerAuthentications that
 *       apply there (its own and the mesh-wide one); the nodes' localities; and the Gateways and
 *       Services its waypoint labels name, in any namespace (recorded while the part is built).
 *       A part whose inputs are all the same is reused as it is.</li>
 *   <li>Kubernetes objects are compared by identity: an informer replaces an object on every
 *       change and never mutates one it handed out (nor does anything here). Values derived from
 *       several objects (policies, peer authentication, localities) are compared by value.</li>
 *   <li>What spans namespaces and is small (authorizations, the Gateway API's statuses, unknown
 *       accounts) is computed whole every time.</li>
 *   <li>The result is always what a fresh build gives: {@code IncrementalModelTest} holds it to
 *       that over random sequences of changes.</li>
 * </ul>
 *
 * <p>Not thread-safe: one thread builds (the watcher's rebuild thread).
 */
public final class IncrementalModel {

    private Map<String, Part> parts = new HashMap<>();
    private Map<String, Locality> localities = Map.of();
    private String rootNamespace;
    private String trustDomain;
    private int lastRebuilt;

    /** The model of {@code in}, reusing what the previous build computed where its inputs are the same. */
    public AmbientSnapshot build(ModelInputs in) {
        if (!in.rootNamespace().equals(rootNamespace) || !in.trustDomain().equals(trustDomain)) {
            parts = new HashMap<>();
            rootNamespace = in.rootNamespace();
            trustDomain = in.trustDomain();
        }
        List<Problem> problems = new ArrayList<>();
        Map<String, Namespace> namespaces = new HashMap<>();
        in.namespaces().forEach(n -> namespaces.put(n.getMetadata().getName(), n));
        Map<String, Service> servicesByName = new HashMap<>();
        in.services().forEach(s -> servicesByName.put(key(s), s));
        Map<String, Locality> nodeLocalities = new HashMap<>();
        in.nodes().forEach(n -> nodeLocalities.put(n.getMetadata().getName(), AmbientModel.locality(n)));
        boolean sameLocalities = nodeLocalities.equals(localities);
        GatewayApi gatewayApi = new GatewayApi(in.gateways());

        // Policies first: workloads list the selector policies that select them.
        Map<String, Authorization> authorizations = new TreeMap<>();
        List<SelectorPolicy> selectorPolicies = new ArrayList<>();
        for (GenericKubernetesResource p : sorted(in.authorizationPolicies())) {
            AuthorizationTranslator.Translation t = AuthorizationTranslator.translate(p, in.rootNamespace());
            problems.addAll(t.problems());
            t.authorization().ifPresent(a -> {
                String name = a.getNamespace() + "/" + a.getName();
                authorizations.put(name, a);
                if (a.getScope() == Scope.WORKLOAD_SELECTOR) {
                    selectorPolicies.add(new SelectorPolicy(name, a.getNamespace(), t.selector()));
                }
            });
        }
        AmbientModel.unknownAccounts(authorizations.values(), in, problems);
        PeerAuthenticationResolver peerAuth = PeerAuthenticationResolver.of(sorted(in.peerAuthentications()),
                in.rootNamespace(), problems);

        // Each namespace's objects, in name order (the order a part's inputs are compared in).
        Map<String, Gathered> byNamespace = new TreeMap<>();
        in.pods().forEach(p -> objects(byNamespace, p).pods.add(p));
        in.services().forEach(s -> objects(byNamespace, s).services.add(s));
        in.endpointSlices().forEach(e -> objects(byNamespace, e).slices.add(e));

        Map<String, Part> built = new HashMap<>();
        int rebuilt = 0;
        Map<String, dev.meshlite.istiod.api.workload.v1.Service> services = new TreeMap<>();
        Map<String, Workload> workloads = new TreeMap<>();
        Set<String> withWaypoint = new HashSet<>();
        Set<Problem> reported = new LinkedHashSet<>();
        for (Map.Entry<String, Gathered> e : byNamespace.entrySet()) {
            String ns = e.getKey();
            Gathered o = e.getValue();
            o.pods.sort(AmbientModel.BY_KEY);
            o.services.sort(AmbientModel.BY_KEY);
            o.slices.sort(AmbientModel.BY_KEY);
            List<SelectorPolicy> inScope = selectorPolicies.stream()
                    .filter(sp -> sp.namespace().equals(ns) || sp.namespace().equals(in.rootNamespace())).toList();
            Inputs inputs = new Inputs(namespaces.get(ns), o.pods, o.services, o.slices, inScope,
                    peerAuth.appliesIn(ns));
            Part part = parts.get(ns);
            if (part == null || !sameLocalities || !part.inputs.sameAs(inputs)
                    || !part.waypointsUnchanged(servicesByName, gatewayApi)) {
                part = build(ns, inputs, servicesByName, gatewayApi, peerAuth, nodeLocalities);
                rebuilt++;
            }
            built.put(ns, part);
            services.putAll(part.services);
            workloads.putAll(part.workloads);
            withWaypoint.addAll(part.withWaypoint);
            reported.addAll(part.problems);
        }
        // Kept only once every part is built: a build that throws leaves the previous state whole.
        parts = built;
        localities = nodeLocalities;
        lastRebuilt = rebuilt;

        List<GatewayStatus> statuses = new ArrayList<>(gatewayApi.gatewayStatuses(servicesByName));
        for (GenericKubernetesResource route : sorted(in.httpRoutes())) {
            gatewayApi.routeStatus(route, servicesByName, withWaypoint, problems).ifPresent(statuses::add);
        }
        problems.addAll(reported);
        return new AmbientSnapshot(workloads, services, authorizations, problems, statuses);
    }

    /** Namespaces whose part the last {@link #build} computed (the others were reused). */
    public int lastRebuilt() {
        return lastRebuilt;
    }

    /** A policy with a selector: the workloads it selects list it by name. */
    record SelectorPolicy(String name, String namespace, Map<String, String> selector) {}

    /** One namespace's objects, gathered from the inputs. */
    private static final class Gathered {
        final List<Pod> pods = new ArrayList<>();
        final List<Service> services = new ArrayList<>();
        final List<EndpointSlice> slices = new ArrayList<>();
    }

    private static Gathered objects(Map<String, Gathered> byNamespace, HasMetadata o) {
        String ns = o.getMetadata().getNamespace() == null ? "" : o.getMetadata().getNamespace();
        return byNamespace.computeIfAbsent(ns, k -> new Gathered());
    }

    /** What a namespace's part is built from, besides localities and waypoints. */
    private record Inputs(Namespace namespace, List<Pod> pods, List<Service> services, List<EndpointSlice> slices,
            List<SelectorPolicy> selectorPolicies, Object peerAuthentication) {

        boolean sameAs(Inputs other) {
            return namespace == other.namespace && sameObjects(pods, other.pods)
                    && sameObjects(services, other.services) && sameObjects(slices, other.slices)
                    && selectorPolicies.equals(other.selectorPolicies)
                    && peerAuthentication.equals(other.peerAuthentication);
        }

        private static boolean sameObjects(List<?> a, List<?> b) {
            if (a.size() != b.size()) {
                return false;
            }
            for (int i = 0; i < a.size(); i++) {
                if (a.get(i) != b.get(i)) {
                    return false;
                }
            }
            return true;
        }
    }

    /** The Gateway and the Service a waypoint name was resolved against (either may be null). */
    private record Looked(GenericKubernetesResource gateway, Service service) {}

    /** A namespace's share of the model, with what it was built from. */
    private record Part(Inputs inputs, Map<String, Looked> waypoints,
            Map<String, dev.meshlite.istiod.api.workload.v1.Service> services, Map<String, Workload> workloads,
            Set<String> withWaypoint, List<Problem> problems) {

        boolean waypointsUnchanged(Map<String, Service> servicesByName, GatewayApi gatewayApi) {
            for (Map.Entry<String, Looked> e : waypoints.entrySet()) {
                Looked then = e.getValue();
                if (gatewayApi.gateway(e.getKey()).orElse(null) != then.gateway()
                        || servicesByName.get(e.getKey()) != then.service()) {
                    return false;
                }
            }
            return true;
        }
    }

    private Part build(String ns, Inputs inputs, Map<String, Service> servicesByName, GatewayApi gatewayApi,
            PeerAuthenticationResolver peerAuth, Map<String, Locality> localities) {
        Namespace namespace = inputs.namespace();
        Map<String, String> namespaceLabels = labels(namespace);
        Set<Problem> reported = new LinkedHashSet<>();
        Map<String, Looked> looked = new HashMap<>();
        Waypoints waypoints = new Waypoints(servicesByName, gatewayApi, trustDomain, reported, looked);

        List<Pod> ambientPods = inputs.pods().stream().filter(p -> inMesh(p, namespace)).toList();
        Set<String> ambientUids = new HashSet<>();
        ambientPods.forEach(p -> ambientUids.add(p.getMetadata().getUid()));
        // Endpoints of selector-less Services, from their EndpointSlices: service key -> pod uid -> ports.
        Map<String, Map<String, Map<String, Integer>>> sliced = AmbientModel.slicedEndpoints(inputs.slices());

        // Services: ClusterIP, and in an ambient namespace or selecting an ambient pod.
        Map<String, dev.meshlite.istiod.api.workload.v1.Service> services = new TreeMap<>();
        Map<String, List<Service>> selecting = new HashMap<>(); // by pod uid
        Map<String, Map<Service, Map<String, Integer>>> slicePorts = new HashMap<>(); // by pod uid
        Set<String> withWaypoint = new HashSet<>(); // "namespace/name" of Services sent with a waypoint
        for (Service s : inputs.services()) {
            String clusterIp = s.getSpec() == null ? null : s.getSpec().getClusterIP();
            if (clusterIp == null || clusterIp.isEmpty() || clusterIp.equals("None")) {
                continue;
            }
            Map<String, String> selector = s.getSpec().getSelector();
            List<Pod> selected = selector == null || selector.isEmpty() ? List.of()
                    : ambientPods.stream().filter(p -> Selectors.matches(selector, p.getMetadata().getLabels())).toList();
            Map<String, Map<String, Integer>> fromSlices = selector == null || selector.isEmpty()
                    ? sliced.getOrDefault(key(s), Map.of()) : Map.of();
            boolean slicesAmbient = fromSlices.keySet().stream().anyMatch(ambientUids::contains);
            if (!isAmbient(namespace) && selected.isEmpty() && !slicesAmbient) {
                continue;
            }
            selected.forEach(p -> selecting.computeIfAbsent(p.getMetadata().getUid(), k -> new ArrayList<>()).add(s));
            fromSlices.forEach((uid, ports) -> {
                if (ambientUids.contains(uid)) {
                    slicePorts.computeIfAbsent(uid, k -> new LinkedHashMap<>()).put(s, ports);
                }
            });
            var svc = dev.meshlite.istiod.api.workload.v1.Service.newBuilder()
                    .setName(s.getMetadata().getName()).setNamespace(ns).setHostname(hostname(s));
            List<String> ips = s.getSpec().getClusterIPs();
            svc.addAllAddresses(ips == null || ips.isEmpty() ? List.of(clusterIp) : ips);
            for (ServicePort p : ports(s)) {
                IntOrString target = p.getTargetPort();
                int numeric = target != null && target.getIntVal() != null ? target.getIntVal()
                        : target == null || target.getStrVal() == null ? p.getPort() : 0;
                svc.addPorts(Port.newBuilder().setServicePort(p.getPort()).setTargetPort(numeric));
            }
            waypoints.resolve(labels(s), namespaceLabels, "Service", ns, s.getMetadata().getName())
                    .ifPresent(w -> {
                        svc.setWaypoint(w);
                        withWaypoint.add(key(s));
                    });
            String distribution = Optional.ofNullable(s.getSpec().getTrafficDistribution())
                    .orElse(annotations(s).get(TRAFFIC_DISTRIBUTION));
            if (PREFER_CLOSE.equals(distribution)) {
                svc.setTrafficDistribution(TrafficDistribution.PREFER_CLOSE);
            }
            services.put(ns + "/" + hostname(s), svc.build());
        }

        Map<String, Workload> workloads = new TreeMap<>();
        for (Pod pod : ambientPods) {
            Map<String, String> labels = labels(pod);
            String sa = pod.getSpec().getServiceAccountName() == null || pod.getSpec().getServiceAccountName().isEmpty()
                    ? "default" : pod.getSpec().getServiceAccountName();
            String workloadName = workloadName(pod);
            Workload.Builder w = Workload.newBuilder()
                    .setUid(pod.getMetadata().getUid())
                    .setName(pod.getMetadata().getName())
                    .setNamespace(ns)
                    .addAllAddresses(addresses(pod))
                    .setNode(Optional.ofNullable(pod.getSpec().getNodeName()).orElse(""))
                    .setTrustDomain(trustDomain)
                    .setServiceAccount(sa)
                    .setWorkloadName(workloadName)
                    .setCanonicalName(first(labels, workloadName, "service.istio.io/canonical-name",
                            "app.kubernetes.io/name", "app"))
                    .setCanonicalRevision(first(labels, "latest", "service.istio.io/canonical-revision",
                            "app.kubernetes.io/version", "version"))
                    .setTunnelProtocol(redirected(pod) ? TunnelProtocol.HBONE : TunnelProtocol.NONE)
                    .setStatus(ready(pod) ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY)
                    .setPeerAuthentication(peerAuth.resolve(ns, labels));
            if (labels.containsKey(AmbientModel.GATEWAY_NAME)) {
                w.setWaypointFor(ns + "/" + labels.get(AmbientModel.GATEWAY_NAME));
            }
            waypoints.resolve(labels, namespaceLabels, "Pod", ns, pod.getMetadata().getName()).ifPresent(w::setWaypoint);
            Locality locality = localities.get(pod.getSpec().getNodeName());
            if (locality != null && !locality.equals(Locality.getDefaultInstance())) {
                w.setLocality(locality);
            }
            for (Service s : selecting.getOrDefault(pod.getMetadata().getUid(), List.of())) {
                PortList.Builder ports = PortList.newBuilder();
                for (ServicePort p : ports(s)) {
                    targetPort(p, pod).ifPresent(t -> ports.addPorts(Port.newBuilder().setServicePort(p.getPort())
                            .setTargetPort(t)));
                }
                w.putServices(s.getMetadata().getNamespace() + "/" + hostname(s), ports.build());
            }
            slicePorts.getOrDefault(pod.getMetadata().getUid(), Map.of()).forEach((s, byName) -> {
                PortList.Builder ports = PortList.newBuilder();
                for (ServicePort p : ports(s)) {
                    Integer target = byName.get(p.getName() == null ? "" : p.getName());
                    if (target != null) {
                        ports.addPorts(Port.newBuilder().setServicePort(p.getPort()).setTargetPort(target));
                    }
                }
                w.putServices(s.getMetadata().getNamespace() + "/" + hostname(s), ports.build());
            });
            for (SelectorPolicy sp : inputs.selectorPolicies()) {
                if (Selectors.matches(sp.selector(), labels)) {
                    w.addAuthorizationPolicies(sp.name());
                }
            }
            workloads.put(pod.getMetadata().getUid(), w.build());
        }
        return new Part(inputs, Map.copyOf(looked), services, workloads, withWaypoint, List.copyOf(reported));
    }

    /** Resolves {@code istio.io/use-waypoint}; reports what cannot be resolved; records what it read. */
    private record Waypoints(Map<String, Service> services, GatewayApi gatewayApi, String trustDomain,
            Set<Problem> reported, Map<String, Looked> looked) {

        Optional<GatewayAddress> resolve(Map<String, String> own, Map<String, String> namespace, String kind,
                String ns, String name) {
            String value = own.get(USE_WAYPOINT);
            String labelledKind = kind;
            String labelledName = name;
            Map<String, String> labelled = own;
            if (value == null) {
                value = namespace.get(USE_WAYPOINT);
                labelledKind = "Namespace";
                labelledName = ns;
                labelled = namespace;
            }
            if (value == null || value.isEmpty() || value.equals(NONE)) {
                return Optional.empty();
            }
            String waypointNs = labelled.getOrDefault(USE_WAYPOINT_NAMESPACE, ns);
            String field = "metadata.labels[" + USE_WAYPOINT + "]";
            String where = labelledKind.equals("Namespace") ? "" : ns;
            String waypointKey = waypointNs + "/" + value;
            Optional<GenericKubernetesResource> gateway = gatewayApi.gateway(waypointKey);
            Service named = services.get(waypointKey);
            looked.put(waypointKey, new Looked(gateway.orElse(null), named));
            String ip;
            if (gateway.isPresent()) {
                if (!GatewayApi.isWaypoint(gateway.get())) {
                    reported.add(new Problem(labelledKind, where, labelledName, field, "Gateway " + waypointKey
                            + " has class '" + GatewayApi.className(gateway.get()) + "' (expected: "
                            + GatewayApi.WAYPOINT_CLASS + "); traffic goes without a waypoint"));
                    return Optional.empty();
                }
                ip = GatewayApi.address(gateway.get(), services).orElse(null);
                if (ip == null) {
                    reported.add(new Problem(labelledKind, where, labelledName, field, "waypoint Gateway " + waypointKey
                            + " has no address yet (expected: its Service " + value
                            + " with a ClusterIP, or an IP in spec.addresses); traffic goes without a waypoint"));
                    return Optional.empty();
                }
            } else {
                ip = named == null || named.getSpec() == null ? null : named.getSpec().getClusterIP();
                if (ip == null || ip.isEmpty() || ip.equals("None")) {
                    reported.add(new Problem(labelledKind, where, labelledName, field, "waypoint " + waypointKey
                            + (named == null ? " not found" : " has no ClusterIP")
                            + " (expected: a Gateway of class " + GatewayApi.WAYPOINT_CLASS
                            + " or a waypoint Service with a ClusterIP); traffic goes without a waypoint"));
                    return Optional.empty();
                }
            }
            return Optional.of(GatewayAddress.newBuilder().setAddress(ip).setHbonePort(HBONE_PORT)
                    .setIdentity("spiffe://" + trustDomain + "/ns/" + waypointNs + "/sa/" + value).build());
        }
    }
}
