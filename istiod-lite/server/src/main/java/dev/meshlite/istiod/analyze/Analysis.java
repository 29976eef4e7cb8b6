package dev.meshlite.istiod.analyze;

import dev.meshlite.istiod.model.AmbientModel;
import dev.meshlite.istiod.model.ModelInputs;
import dev.meshlite.istiod.model.Problem;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What the control plane would report about a set of objects. The judging is
 * {@link AmbientModel#build}, the very function the watcher runs: this class only chooses the
 * objects and which of the model's problems to show, it never checks a rule of its own.
 *
 * <p>Rules:
 * <ul>
 *   <li>Live cluster alone: every problem.</li>
 *   <li>Files (on their own, or applied on top of the live objects: same kind, namespace and name
 *       replaced): the problems of the files' objects, plus any problem the files cause elsewhere
 *       (one the live objects alone do not have). Problems already in the cluster and not about a
 *       file's object are counted, not shown: the dry run judges the change, not the cluster.</li>
 *   <li>A file's object is taken as the API server would store it: a Service gets a ClusterIP
 *       (the live one it replaces, else {@link #ALLOCATED_CLUSTER_IP}); a Pod that replaces a live
 *       one keeps its uid, node and status. Without this a waypoint Service defined in the same
 *       file would be reported as having no ClusterIP.</li>
 *   <li>Problems are sorted by kind, namespace, name and field (stable: the model's order breaks
 *       ties), without duplicates; {@code namespace} keeps those of one namespace (and of the
 *       Namespace object itself).</li>
 * </ul>
 */
final class Analysis {

    /** Stands in for the ClusterIP the API server allocates on create (RFC 5737, never routed). */
    static final String ALLOCATED_CLUSTER_IP = "192.0.2.1";

    /** The model's settings and the optional namespace filter. */
    record Settings(String rootNamespace, String trustDomain, Optional<String> namespace) {}

    /**
     * @param objects how many objects were judged (the files' when files were given)
     * @param liveObjects live objects the files were judged with (0 when none)
     * @param notShown problems already in the cluster, not about a file's object
     */
    record Report(List<Problem> problems, int objects, int liveObjects, int notShown) {
        Report {
            problems = List.copyOf(problems);
        }

        int exitCode() {
            return problems.isEmpty() ? 0 : 1;
        }
    }

    static final Comparator<Problem> ORDER = Comparator.comparing(Problem::kind).thenComparing(Problem::namespace)
            .thenComparing(Problem::name).thenComparing(Problem::field);

    private Analysis() {}

    static Report ofCluster(List<HasMetadata> live, Settings settings) {
        Map<String, HasMetadata> objects = byKey(live);
        return new Report(shown(problems(objects.values(), settings), settings), objects.size(), 0, 0);
    }

    static Report ofFiles(List<HasMetadata> files, List<HasMetadata> live, Settings settings) {
        Map<String, HasMetadata> before = byKey(live);
        Map<String, HasMetadata> after = new LinkedHashMap<>(before);
        Map<String, HasMetadata> fromFiles = new LinkedHashMap<>();
        for (HasMetadata f : files) {
            String key = key(f);
            HasMetadata applied = asStored(f, Optional.ofNullable(before.get(key)));
            fromFiles.put(key, applied); // a later document replaces an earlier one, as repeated applies do
            after.put(key, applied);
        }
        Set<Problem> existing = new HashSet<>(before.isEmpty() ? List.of() : problems(before.values(), settings));
        List<Problem> kept = new ArrayList<>();
        int notShown = 0;
        for (Problem p : problems(after.values(), settings)) {
            if (fromFiles.containsKey(key(p)) || !existing.contains(p)) {
                kept.add(p);
            } else if (inNamespace(p, settings.namespace())) {
                notShown++;
            }
        }
        return new Report(shown(kept, settings), fromFiles.size(), before.size(), notShown);
    }

    /** {@code <Kind> <namespace>/<name>: <field>: <reason>}; cluster-scoped objects without the slash. */
    static String line(Problem p) {
        String object = p.namespace().isEmpty() ? p.name() : p.namespace() + "/" + p.name();
        return p.kind() + " " + object + ": " + p.field() + ": " + p.reason();
    }

    /** E.g. {@code 2 problems in 5 objects}, {@code no problems in 5 objects}. */
    static String summary(Report r, Settings settings) {
        int n = r.problems().size();
        StringBuilder s = new StringBuilder()
                .append(n == 0 ? "no problems" : n == 1 ? "1 problem" : n + " problems")
                .append(settings.namespace().map(ns -> " in namespace " + ns).orElse(""))
                .append(" in ").append(r.objects()).append(r.objects() == 1 ? " object" : " objects");
        if (r.liveObjects() > 0) {
            s.append(" (judged with ").append(r.liveObjects()).append(" live objects");
            if (r.notShown() > 0) {
                s.append("; ").append(r.notShown()).append(r.notShown() == 1 ? " problem" : " problems")
                        .append(" already in the cluster not shown");
            }
            s.append(')');
        }
        return s.toString();
    }

    private static List<Problem> problems(Collection<HasMetadata> objects, Settings settings) {
        List<Namespace> namespaces = new ArrayList<>();
        List<Pod> pods = new ArrayList<>();
        List<Service> services = new ArrayList<>();
        List<GenericKubernetesResource> authorizationPolicies = new ArrayList<>();
        List<GenericKubernetesResource> peerAuthentications = new ArrayList<>();
        List<io.fabric8.kubernetes.api.model.Node> nodes = new ArrayList<>();
        List<io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice> slices = new ArrayList<>();
        List<io.fabric8.kubernetes.api.model.ServiceAccount> accounts = new ArrayList<>();
        List<GenericKubernetesResource> gateways = new ArrayList<>();
        List<GenericKubernetesResource> routes = new ArrayList<>();
        for (HasMetadata o : objects) {
            switch (o) {
                case Namespace n -> namespaces.add(n);
                case Pod p -> pods.add(p);
                case Service s -> services.add(s);
                case io.fabric8.kubernetes.api.model.Node n -> nodes.add(n);
                case io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice e -> slices.add(e);
                case io.fabric8.kubernetes.api.model.ServiceAccount a -> accounts.add(a);
                case GenericKubernetesResource g when "AuthorizationPolicy".equals(g.getKind()) ->
                        authorizationPolicies.add(g);
                case GenericKubernetesResource g when "PeerAuthentication".equals(g.getKind()) ->
                        peerAuthentications.add(g);
                case GenericKubernetesResource g when "Gateway".equals(g.getKind()) -> gateways.add(g);
                case GenericKubernetesResource g when "HTTPRoute".equals(g.getKind()) -> routes.add(g);
                default -> throw new IllegalArgumentException(o.getKind() + " " + key(o)
                        + " (expected: a kind the model reads: " + Manifests.KINDS.stream().map(Manifests.Kind::kind)
                                .collect(java.util.stream.Collectors.joining(", ")) + ")");
            }
        }
        return AmbientModel.build(new ModelInputs(namespaces, pods, services, authorizationPolicies,
                peerAuthentications, nodes, slices, accounts, gateways, routes, settings.rootNamespace(),
                settings.trustDomain())).problems();
    }

    private static List<Problem> shown(List<Problem> problems, Settings settings) {
        List<Problem> out = new ArrayList<>(problems.stream().distinct()
                .filter(p -> inNamespace(p, settings.namespace())).toList());
        out.sort(ORDER);
        return out;
    }

    private static boolean inNamespace(Problem p, Optional<String> namespace) {
        return namespace.map(ns -> p.namespace().equals(ns) || p.kind().equals("Namespace") && p.name().equals(ns))
                .orElse(true);
    }

    /** What the API server would store for {@code file}, replacing {@code live} when there is one. */
    static HasMetadata asStored(HasMetadata file, Optional<HasMetadata> live) {
        if (file instanceof Service s && needsClusterIp(s)) {
            Optional<Service> old = live.filter(Service.class::isInstance).map(Service.class::cast)
                    .filter(l -> l.getSpec() != null && l.getSpec().getClusterIP() != null
                            && !l.getSpec().getClusterIP().isEmpty());
            return new ServiceBuilder(s).editOrNewSpec()
                    .withClusterIP(old.map(l -> l.getSpec().getClusterIP()).orElse(ALLOCATED_CLUSTER_IP))
                    .withClusterIPs(old.map(l -> l.getSpec().getClusterIPs()).orElse(null))
                    .endSpec().build();
        }
        if (file instanceof Pod p && live.orElse(null) instanceof Pod old) {
            PodBuilder b = new PodBuilder(p);
            if (p.getMetadata().getUid() == null) {
                b.editMetadata().withUid(old.getMetadata().getUid()).endMetadata();
            }
            if (p.getSpec() != null && p.getSpec().getNodeName() == null && old.getSpec() != null) {
                b.editSpec().withNodeName(old.getSpec().getNodeName()).endSpec();
            }
            if (p.getStatus() == null) {
                b.withStatus(old.getStatus());
            }
            return b.build();
        }
        return file;
    }

    private static boolean needsClusterIp(Service s) {
        String ip = s.getSpec() == null ? null : s.getSpec().getClusterIP();
        String type = s.getSpec() == null ? null : s.getSpec().getType();
        return (ip == null || ip.isEmpty()) && !"ExternalName".equals(type);
    }

    private static Map<String, HasMetadata> byKey(List<HasMetadata> objects) {
        Map<String, HasMetadata> out = new LinkedHashMap<>();
        objects.forEach(o -> out.put(key(o), o));
        return out;
    }

    static String key(HasMetadata o) {
        String ns = o.getMetadata().getNamespace();
        return o.getKind() + "/" + (ns == null ? "" : ns) + "/" + o.getMetadata().getName();
    }

    private static String key(Problem p) {
        return p.kind() + "/" + p.namespace() + "/" + p.name();
    }
}
