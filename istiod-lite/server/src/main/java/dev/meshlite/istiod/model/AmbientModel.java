package dev.meshlite.istiod.model;

import dev.meshlite.istiod.api.workload.v1.Authorization;
import dev.meshlite.istiod.api.workload.v1.Locality;
import dev.meshlite.istiod.api.workload.v1.Workload;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

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
 *   <li>A Service without a selector gets its endpoints from its EndpointSlices (label
 *       {@code kubernetes.io/service-name}): each endpoint whose targetRef is an ambient pod of the
 *       slice's namespace (as Kubernetes' own endpoint controllers write them)
 *       serves the Service's ports through the slice's port of the same name.</li>
 *   <li>Locality: a workload carries its node's {@code topology.kubernetes.io/region},
 *       {@code topology.kubernetes.io/zone} and {@code topology.istio.io/subzone}. A Service with
 *       {@code spec.trafficDistribution: PreferClose} (or the annotation
 *       {@code networking.istio.io/traffic-distribution: PreferClose}) is sent as PREFER_CLOSE.</li>
 *   <li>Waypoints: {@code istio.io/use-waypoint=<name>} on a pod (for the workload) or a Service
 *       (for the service) overrides the namespace's; {@code none} opts out. The name resolves to
 *       the Gateway of that name in the same namespace (or {@code istio.io/use-waypoint-namespace}),
 *       which must be of class {@code istio-waypoint} ({@link GatewayApi} gives its address), else
 *       to a Service of that name (a waypoint deployed without the Gateway API); HBONE port 15008
 *       and identity {@code <td>/ns/<ns>/sa/<name>}. One that cannot be resolved is reported and
 *       left unset.</li>
 *   <li>Gateway API status: see {@link GatewayApi}; computed here, written by the leader.</li>
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
    public static final String TRAFFIC_DISTRIBUTION = "networking.istio.io/traffic-distribution";
    static final String PREFER_CLOSE = "PreferClose";
    static final String SERVICE_NAME = "kubernetes.io/service-name";
    static final String REGION = "topology.kubernetes.io/region";
    static final String ZONE = "topology.kubernetes.io/zone";
    static final String SUBZONE = "topology.istio.io/subzone";

    static boolean redirected(Pod pod) {
        var a = pod.getMetadata().getAnnotations();
        return a != null && "enabled".equals(a.get(REDIRECTION));
    }
    static final String AMBIENT = "ambient";
    static final String NONE = "none";

    private AmbientModel() {}

    /** The model of {@code in}, built from nothing (the watcher keeps an {@link IncrementalModel} instead). */
    public static AmbientSnapshot build(ModelInputs in) {
        return new IncrementalModel().build(in);
    }

    /**
     * An ALLOW or DENY that names a service account which does not exist matches no workload until
     * it does: most often a typo that silently denies (ALLOW) or fails to deny (DENY). Reported,
     * the policy still applied as written. Only accounts of our trust domain in namespaces that
     * exist are judged, and only when service accounts are known at all (none listed: not read).
     */
    static void unknownAccounts(java.util.Collection<dev.meshlite.istiod.api.workload.v1.Authorization> policies,
            ModelInputs in, List<Problem> problems) {
        if (in.serviceAccounts().isEmpty()) {
            return;
        }
        Set<String> accounts = new HashSet<>();
        in.serviceAccounts().forEach(a -> accounts.add(a.getMetadata().getNamespace() + "/" + a.getMetadata().getName()));
        Set<String> namespaces = new HashSet<>();
        in.namespaces().forEach(n -> namespaces.add(n.getMetadata().getName()));
        String prefix = in.trustDomain() + "/ns/";
        for (var a : policies) {
            for (String account : namedAccounts(a, prefix)) {
                String ns = account.substring(0, account.indexOf('/'));
                if (namespaces.contains(ns) && !accounts.contains(account)) {
                    problems.add(new Problem("AuthorizationPolicy", a.getNamespace(), a.getName(), "spec.rules",
                            "service account " + account + " does not exist (expected: an existing account); the "
                                    + "rule naming it matches no workload until it does"));
                }
            }
        }
    }

    /** "namespace/name" of every account a policy's positive matches name exactly (no wildcard). */
    private static Set<String> namedAccounts(dev.meshlite.istiod.api.workload.v1.Authorization a, String prefix) {
        Set<String> named = new java.util.TreeSet<>();
        a.getRulesList().stream().flatMap(r -> r.getClausesList().stream()).flatMap(c -> c.getMatchesList().stream())
                .forEach(m -> {
                    for (String p : m.getPrincipalsList()) {
                        int sa = p.indexOf("/sa/");
                        if (p.startsWith(prefix) && sa > prefix.length() && !p.contains("*")) {
                            named.add(p.substring(prefix.length(), sa) + "/" + p.substring(sa + 4));
                        }
                    }
                    m.getServiceAccountsList().stream().filter(x -> !x.contains("*")).forEach(named::add);
                });
        return named;
    }

    public static Locality locality(Node node) {
        Map<String, String> l = labels(node);
        return Locality.newBuilder().setRegion(l.getOrDefault(REGION, "")).setZone(l.getOrDefault(ZONE, ""))
                .setSubzone(l.getOrDefault(SUBZONE, "")).build();
    }

    /**
     * Service key ("namespace/name") -> pod uid -> the slice's ports by name ("" when unnamed), for
     * the endpoints of every slice that names its Service and its pod. TCP ports only.
     */
    static Map<String, Map<String, Map<String, Integer>>> slicedEndpoints(List<EndpointSlice> slices) {
        Map<String, Map<String, Map<String, Integer>>> out = new HashMap<>();
        for (EndpointSlice slice : slices) {
            String service = labels(slice).get(SERVICE_NAME);
            if (service == null || slice.getEndpoints() == null) {
                continue;
            }
            Map<String, Integer> ports = new HashMap<>();
            for (EndpointPort p : slice.getPorts() == null ? List.<EndpointPort>of() : slice.getPorts()) {
                if (p.getPort() != null && (p.getProtocol() == null || p.getProtocol().equals("TCP"))) {
                    ports.put(p.getName() == null ? "" : p.getName(), p.getPort());
                }
            }
            for (Endpoint e : slice.getEndpoints()) {
                var ref = e.getTargetRef();
                if (ref != null && "Pod".equals(ref.getKind()) && ref.getUid() != null) {
                    out.computeIfAbsent(slice.getMetadata().getNamespace() + "/" + service, k -> new HashMap<>())
                            .put(ref.getUid(), ports);
                }
            }
        }
        return out;
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

    static String hostname(Service s) {
        return s.getMetadata().getName() + "." + s.getMetadata().getNamespace() + ".svc." + CLUSTER_DOMAIN;
    }

    static List<ServicePort> ports(Service s) {
        List<ServicePort> ports = s.getSpec().getPorts();
        return ports == null ? List.of() : ports.stream()
                .filter(p -> p.getPort() != null && (p.getProtocol() == null || p.getProtocol().equals("TCP"))).toList();
    }

    static String first(Map<String, String> labels, String fallback, String... keys) {
        for (String k : keys) {
            String v = labels.get(k);
            if (v != null && !v.isEmpty()) {
                return v;
            }
        }
        return fallback;
    }

    static Map<String, String> annotations(HasMetadata o) {
        if (o == null || o.getMetadata() == null || o.getMetadata().getAnnotations() == null) {
            return Map.of();
        }
        return o.getMetadata().getAnnotations();
    }

    public static Map<String, String> labels(HasMetadata o) {
        if (o == null || o.getMetadata() == null || o.getMetadata().getLabels() == null) {
            return Map.of();
        }
        return o.getMetadata().getLabels();
    }

    static String key(HasMetadata o) {
        return o.getMetadata().getNamespace() + "/" + o.getMetadata().getName();
    }

    /** By namespace, then name: a stable order for everything built from a list, with no string built per comparison. */
    static final Comparator<HasMetadata> BY_KEY = Comparator
            .comparing((HasMetadata o) -> Optional.ofNullable(o.getMetadata().getNamespace()).orElse(""))
            .thenComparing(o -> o.getMetadata().getName());

    static <T extends HasMetadata> List<T> sorted(List<T> objects) {
        List<T> copy = new ArrayList<>(objects);
        copy.sort(BY_KEY);
        return copy;
    }
}
