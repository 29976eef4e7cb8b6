package dev.meshlite.istiod.model;

import dev.meshlite.istiod.api.workload.v1.Authorization;
import dev.meshlite.istiod.api.workload.v1.GatewayAddress;
import dev.meshlite.istiod.api.workload.v1.HealthStatus;
import dev.meshlite.istiod.api.workload.v1.Port;
import dev.meshlite.istiod.api.workload.v1.PortList;
import dev.meshlite.istiod.api.workload.v1.Scope;
import dev.meshlite.istiod.api.workload.v1.TunnelProtocol;
import dev.meshlite.istiod.api.workload.v1.Workload;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The pure translation from Kubernetes objects to the ambient data plane's resources
 * ({@code meshlite/workload/v1}). No I/O, no clock: the same inputs always give the same snapshot.
 *
 * <p>Rules (Istio's, DESIGN §6):
 * <ul>
 *   <li>A pod is in the mesh when its namespace or the pod itself is labelled
 *       {@code istio.io/dataplane-mode=ambient} and the pod is not labelled {@code none}; pods
 *       with host networking, without an IP, or finished (Succeeded/Failed) are left out. A pod
 *       that is not Ready is sent as UNHEALTHY (its endpoints stop receiving new traffic).</li>
 *   <li>A workload is HBONE only once its node agent has captured it and handed it to ztunnel
 *       (annotation {@code ambient.istio.io/redirection=enabled}); until then it is sent as
 *       NONE, so clients reach it in plaintext instead of dialling a :15008 nobody listens on
 *       yet (the window while a namespace is being enrolled, or a pod is starting).</li>
 *   <li>A Service is sent when it has a ClusterIP and is in an ambient namespace or selects an
 *       ambient pod. Its target ports are resolved per pod into {@code Workload.services} (a named
 *       targetPort against the pod's container ports); the Service's own entry carries a numeric
 *       targetPort, or 0 when it is named (it differs per pod).</li>
 *   <li>Waypoints: {@code istio.io/use-waypoint=<name>} on a pod (for the workload) or a Service
 *       (for the service) overrides the namespace's; {@code none} opts out. The name resolves to
 *       the Service of that name in the same namespace (or {@code istio.io/use-waypoint-namespace})
 *       with HBONE port 15008 and identity {@code <td>/ns/<ns>/sa/<name>}; a missing one is
 *       reported and left unset.</li>
 *   <li>Authorization and PeerAuthentication: see {@link AuthorizationTranslator} and
 *       {@link PeerAuthenticationResolver}. A root-namespace policy with a selector applies to
 *       matching workloads in every namespace; elsewhere a selector only reaches its namespace.</li>
 * </ul>
 */
public final class AmbientModel {

    public static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    public static final String REDIRECTION = "ambient.istio.io/redirection";
    public static final String USE_WAYPOINT = "istio.io/use-waypoint";
    public static final String USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace";
    public static final String GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name";
    public static final String CLUSTER_DOMAIN = "cluster.local";
    public static final int HBONE_PORT = 15008;

    static boolean redirected(Pod pod) {
        var a = pod.getMetadata().getAnnotations();
        return a != null && "enabled".equals(a.get(REDIRECTION));
    }
    static final String AMBIENT = "ambient";
    static final String NONE = "none";

    private AmbientModel() {}

    public static AmbientSnapshot build(ModelInputs in) {
        List<Problem> problems = new ArrayList<>();
        Set<Problem> reported = new LinkedHashSet<>();
        Map<String, Namespace> namespaces = new HashMap<>();
        in.namespaces().forEach(n -> namespaces.put(n.getMetadata().getName(), n));
        Map<String, Service> servicesByName = new HashMap<>();
        in.services().forEach(s -> servicesByName.put(key(s), s));

        // Policies first: workloads list the selector policies that select them.
        record SelectorPolicy(String name, String namespace, Map<String, String> selector) {}
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
        PeerAuthenticationResolver peerAuth = PeerAuthenticationResolver.of(sorted(in.peerAuthentications()),
                in.rootNamespace(), problems);

        // Which pods are in the mesh, and by namespace (a Service only selects in its own).
        List<Pod> ambientPods = new ArrayList<>();
        Map<String, List<Pod>> ambientByNamespace = new HashMap<>();
        for (Pod pod : sorted(in.pods())) {
            if (inMesh(pod, namespaces.get(pod.getMetadata().getNamespace()))) {
                ambientPods.add(pod);
                ambientByNamespace.computeIfAbsent(pod.getMetadata().getNamespace(), k -> new ArrayList<>()).add(pod);
            }
        }

        // Services: ClusterIP, and in an ambient namespace or selecting an ambient pod.
        Map<String, dev.meshlite.istiod.api.workload.v1.Service> services = new TreeMap<>();
        Map<String, List<Service>> selecting = new HashMap<>(); // by pod uid
        for (Service s : sorted(in.services())) {
            String ns = s.getMetadata().getNamespace();
            String clusterIp = s.getSpec() == null ? null : s.getSpec().getClusterIP();
            if (clusterIp == null || clusterIp.isEmpty() || clusterIp.equals("None")) {
                continue;
            }
            Map<String, String> selector = s.getSpec().getSelector();
            List<Pod> selected = selector == null || selector.isEmpty() ? List.of()
                    : ambientByNamespace.getOrDefault(ns, List.of()).stream()
                            .filter(p -> Selectors.matches(selector, p.getMetadata().getLabels())).toList();
            if (!isAmbient(namespaces.get(ns)) && selected.isEmpty()) {
                continue;
            }
            selected.forEach(p -> selecting.computeIfAbsent(p.getMetadata().getUid(), k -> new ArrayList<>()).add(s));
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
            waypoint(labels(s), labels(namespaces.get(ns)), "Service", ns, s.getMetadata().getName(), servicesByName,
                    in.trustDomain(), reported).ifPresent(svc::setWaypoint);
            services.put(ns + "/" + hostname(s), svc.build());
        }

        Map<String, Workload> workloads = new TreeMap<>();
        for (Pod pod : ambientPods) {
            String ns = pod.getMetadata().getNamespace();
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
                    .setTrustDomain(in.trustDomain())
                    .setServiceAccount(sa)
                    .setWorkloadName(workloadName)
                    .setCanonicalName(first(labels, workloadName, "service.istio.io/canonical-name",
                            "app.kubernetes.io/name", "app"))
                    .setCanonicalRevision(first(labels, "latest", "service.istio.io/canonical-revision",
                            "app.kubernetes.io/version", "version"))
                    .setTunnelProtocol(redirected(pod) ? TunnelProtocol.HBONE : TunnelProtocol.NONE)
                    .setStatus(ready(pod) ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY)
                    .setPeerAuthentication(peerAuth.resolve(ns, labels));
            if (labels.containsKey(GATEWAY_NAME)) {
                w.setWaypointFor(ns + "/" + labels.get(GATEWAY_NAME));
            }
            waypoint(labels, labels(namespaces.get(ns)), "Pod", ns, pod.getMetadata().getName(), servicesByName,
                    in.trustDomain(), reported).ifPresent(w::setWaypoint);
            for (Service s : selecting.getOrDefault(pod.getMetadata().getUid(), List.of())) {
                PortList.Builder ports = PortList.newBuilder();
                for (ServicePort p : ports(s)) {
                    targetPort(p, pod).ifPresent(t -> ports.addPorts(Port.newBuilder().setServicePort(p.getPort())
                            .setTargetPort(t)));
                }
                w.putServices(s.getMetadata().getNamespace() + "/" + hostname(s), ports.build());
            }
            for (SelectorPolicy sp : selectorPolicies) {
                boolean inScope = sp.namespace().equals(ns) || sp.namespace().equals(in.rootNamespace());
                if (inScope && Selectors.matches(sp.selector(), labels)) {
                    w.addAuthorizationPolicies(sp.name());
                }
            }
            workloads.put(pod.getMetadata().getUid(), w.build());
        }
        problems.addAll(reported);
        return new AmbientSnapshot(workloads, services, authorizations, problems);
    }

    static boolean isAmbient(Namespace ns) {
        return ns != null && AMBIENT.equals(labels(ns).get(DATAPLANE_MODE));
    }

    static boolean inMesh(Pod pod, Namespace ns) {
        String podMode = labels(pod).get(DATAPLANE_MODE);
        if (NONE.equals(podMode) || !(AMBIENT.equals(podMode) || isAmbient(ns))) {
            return false;
        }
        if (pod.getSpec() == null || Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
            return false;
        }
        if (pod.getMetadata().getUid() == null || addresses(pod).isEmpty()) {
            return false;
        }
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        return !"Succeeded".equals(phase) && !"Failed".equals(phase);
    }

    static List<String> addresses(Pod pod) {
        if (pod.getStatus() == null) {
            return List.of();
        }
        List<PodIP> ips = pod.getStatus().getPodIPs();
        if (ips != null && !ips.isEmpty()) {
            return ips.stream().map(PodIP::getIp).filter(ip -> ip != null && !ip.isEmpty()).toList();
        }
        String ip = pod.getStatus().getPodIP();
        return ip == null || ip.isEmpty() ? List.of() : List.of(ip);
    }

    static boolean ready(Pod pod) {
        if (pod.getMetadata().getDeletionTimestamp() != null || pod.getStatus() == null
                || pod.getStatus().getConditions() == null) {
            return false;
        }
        return pod.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }

    /**
     * The Deployment's name when the pod's controller is a ReplicaSet named
     * {@code <deployment>-<pod-template-hash>}; else the controller's name (StatefulSet, DaemonSet,
     * Job); else the pod's name.
     */
    static String workloadName(Pod pod) {
        List<OwnerReference> owners = pod.getMetadata().getOwnerReferences();
        OwnerReference controller = owners == null ? null : owners.stream()
                .filter(o -> Boolean.TRUE.equals(o.getController())).findFirst()
                .orElse(owners.isEmpty() ? null : owners.getFirst());
        if (controller == null || controller.getName() == null) {
            return pod.getMetadata().getName();
        }
        if ("ReplicaSet".equals(controller.getKind())) {
            String hash = labels(pod).get("pod-template-hash");
            String suffix = "-" + hash;
            if (hash != null && controller.getName().endsWith(suffix) && controller.getName().length() > suffix.length()) {
                return controller.getName().substring(0, controller.getName().length() - suffix.length());
            }
        }
        return controller.getName();
    }

    /** A service port's target on {@code pod}: numeric as is, named resolved against its containers. */
    static Optional<Integer> targetPort(ServicePort p, Pod pod) {
        IntOrString t = p.getTargetPort();
        if (t == null || (t.getIntVal() == null && t.getStrVal() == null)) {
            return Optional.of(p.getPort());
        }
        if (t.getIntVal() != null) {
            return Optional.of(t.getIntVal());
        }
        String named = t.getStrVal();
        if (named.matches("[0-9]+")) {
            return Optional.of(Integer.parseInt(named));
        }
        for (Container c : pod.getSpec().getContainers() == null ? List.<Container>of() : pod.getSpec().getContainers()) {
            for (ContainerPort cp : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
                String protocol = cp.getProtocol() == null ? "TCP" : cp.getProtocol();
                String wanted = p.getProtocol() == null ? "TCP" : p.getProtocol();
                if (named.equals(cp.getName()) && protocol.equals(wanted)) {
                    return Optional.of(cp.getContainerPort());
                }
            }
        }
        return Optional.empty(); // as in Kubernetes: no endpoint for that port on this pod
    }

    private static Optional<GatewayAddress> waypoint(Map<String, String> own, Map<String, String> namespace,
            String kind, String ns, String name, Map<String, Service> services, String trustDomain,
            Set<Problem> reported) {
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
        Service w = services.get(waypointNs + "/" + value);
        String ip = w == null || w.getSpec() == null ? null : w.getSpec().getClusterIP();
        if (ip == null || ip.isEmpty() || ip.equals("None")) {
            reported.add(new Problem(labelledKind, labelledKind.equals("Namespace") ? "" : ns, labelledName,
                    "metadata.labels[" + USE_WAYPOINT + "]", "waypoint Service " + waypointNs + "/" + value
                            + (w == null ? " not found" : " has no ClusterIP")
                            + " (expected: a waypoint Service with a ClusterIP); traffic goes without a waypoint"));
            return Optional.empty();
        }
        return Optional.of(GatewayAddress.newBuilder().setAddress(ip).setHbonePort(HBONE_PORT)
                .setIdentity("spiffe://" + trustDomain + "/ns/" + waypointNs + "/sa/" + value).build());
    }

    static String hostname(Service s) {
        return s.getMetadata().getName() + "." + s.getMetadata().getNamespace() + ".svc." + CLUSTER_DOMAIN;
    }

    private static List<ServicePort> ports(Service s) {
        List<ServicePort> ports = s.getSpec().getPorts();
        return ports == null ? List.of() : ports.stream()
                .filter(p -> p.getPort() != null && (p.getProtocol() == null || p.getProtocol().equals("TCP"))).toList();
    }

    private static String first(Map<String, String> labels, String fallback, String... keys) {
        for (String k : keys) {
            String v = labels.get(k);
            if (v != null && !v.isEmpty()) {
                return v;
            }
        }
        return fallback;
    }

    static Map<String, String> labels(HasMetadata o) {
        if (o == null || o.getMetadata() == null || o.getMetadata().getLabels() == null) {
            return Map.of();
        }
        return o.getMetadata().getLabels();
    }

    private static String key(HasMetadata o) {
        return o.getMetadata().getNamespace() + "/" + o.getMetadata().getName();
    }

    /** By namespace, then name: a stable order for everything built from a list, with no string built per comparison. */
    private static final Comparator<HasMetadata> BY_KEY = Comparator
            .comparing((HasMetadata o) -> Optional.ofNullable(o.getMetadata().getNamespace()).orElse(""))
            .thenComparing(o -> o.getMetadata().getName());

    private static <T extends HasMetadata> List<T> sorted(List<T> objects) {
        List<T> copy = new ArrayList<>(objects);
        copy.sort(BY_KEY);
        return copy;
    }
}
