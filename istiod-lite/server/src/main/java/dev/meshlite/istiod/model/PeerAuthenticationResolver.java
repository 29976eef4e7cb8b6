package dev.meshlite.istiod.model;

import dev.meshlite.istiod.api.workload.v1.PeerAuthentication;
import dev.meshlite.istiod.api.workload.v1.PeerAuthenticationMode;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * PeerAuthentication with Istio's precedence: mesh (root namespace, no selector), then namespace
 * (no selector), then workload (a selector in the workload's namespace); the most specific level
 * whose mode is set wins, UNSET inherits from the level above. Port-level modes come from the
 * workload-level policy only (Istio requires a selector for them); an UNSET port mode inherits
 * the workload's effective mode. Where several policies compete at one level, the oldest wins
 * (then the name), as in Istio.
 */
final class PeerAuthenticationResolver {

    static final String KIND = "PeerAuthentication";

    /** One valid policy, parsed. */
    record Parsed(String namespace, String name, String created, Map<String, String> selector,
            PeerAuthenticationMode mode, Map<Integer, PeerAuthenticationMode> ports) {}

    private final Optional<Parsed> mesh;
    private final Map<String, Parsed> byNamespace;
    private final List<Parsed> workloadLevel;

    private PeerAuthenticationResolver(Optional<Parsed> mesh, Map<String, Parsed> byNamespace, List<Parsed> workloadLevel) {
        this.mesh = mesh;
        this.byNamespace = byNamespace;
        this.workloadLevel = workloadLevel;
    }

    static PeerAuthenticationResolver of(List<GenericKubernetesResource> policies, String rootNamespace,
            List<Problem> problems) {
        List<Parsed> valid = new ArrayList<>();
        for (GenericKubernetesResource p : policies) {
            try {
                valid.add(parse(p));
            } catch (InvalidFieldException e) {
                problems.add(new Problem(KIND, p.getMetadata().getNamespace(), p.getMetadata().getName(), e.field(),
                        e.getMessage() + "; the policy is ignored"));
            }
        }
        valid.sort(Comparator.comparing(Parsed::created).thenComparing(Parsed::namespace).thenComparing(Parsed::name));
        Optional<Parsed> mesh = Optional.empty();
        Map<String, Parsed> byNamespace = new TreeMap<>();
        List<Parsed> workloadLevel = new ArrayList<>();
        for (Parsed p : valid) {
            if (!p.selector().isEmpty()) {
                workloadLevel.add(p);
            } else if (p.namespace().equals(rootNamespace) && mesh.isEmpty()) {
                mesh = Optional.of(p);
            } else if (!p.namespace().equals(rootNamespace)) {
                byNamespace.putIfAbsent(p.namespace(), p);
            }
        }
        return new PeerAuthenticationResolver(mesh, byNamespace, workloadLevel);
    }

    /**
     * The policies {@link #resolve} reads for a workload of {@code namespace}, as a value: equal
     * values resolve every workload there the same way.
     */
    Object appliesIn(String namespace) {
        return List.of(mesh, Optional.ofNullable(byNamespace.get(namespace)),
                workloadLevel.stream().filter(p -> p.namespace().equals(namespace)).toList());
    }

    /** The effective policy of a workload in {@code namespace} with {@code labels}. */
    PeerAuthentication resolve(String namespace, Map<String, String> labels) {
        PeerAuthenticationMode mode = mesh.map(Parsed::mode).orElse(PeerAuthenticationMode.UNSET);
        Parsed ns = byNamespace.get(namespace);
        if (ns != null && ns.mode() != PeerAuthenticationMode.UNSET) {
            mode = ns.mode();
        }
        Parsed workload = workloadLevel.stream()
                .filter(p -> p.namespace().equals(namespace) && Selectors.matches(p.selector(), labels))
                .findFirst().orElse(null);
        PeerAuthentication.Builder out = PeerAuthentication.newBuilder();
        if (workload != null) {
            if (workload.mode() != PeerAuthenticationMode.UNSET) {
                mode = workload.mode();
            }
            for (var e : workload.ports().entrySet()) {
                out.putPortModes(e.getKey(), e.getValue() == PeerAuthenticationMode.UNSET ? mode : e.getValue());
            }
        }
        return out.setMode(mode).build();
    }

    static Parsed parse(GenericKubernetesResource p) throws InvalidFieldException {
        SpecReader spec = SpecReader.of("spec", p.getAdditionalProperties().get("spec"))
                .only(Set.of("selector", "mtls", "portLevelMtls"));
        Map<String, String> selector = Selectors.matchLabels(spec.object("selector"));
        PeerAuthenticationMode mode = mode(spec.object("mtls").only(Set.of("mode")));
        Map<Integer, PeerAuthenticationMode> ports = new TreeMap<>();
        SpecReader portLevel = spec.object("portLevelMtls");
        if (!portLevel.isEmpty() && selector.isEmpty()) {
            throw new InvalidFieldException("spec.portLevelMtls", "set without a selector (expected: port-level"
                    + " modes only on a workload-level policy)");
        }
        for (String key : portLevel.entries().keySet()) {
            int port = AuthorizationTranslator.port(portLevel.path(key), key);
            ports.put(port, mode(portLevel.object(key).only(Set.of("mode"))));
        }
        String created = p.getMetadata().getCreationTimestamp() == null ? "" : p.getMetadata().getCreationTimestamp();
        return new Parsed(p.getMetadata().getNamespace(), p.getMetadata().getName(), created, selector, mode, Map.copyOf(ports));
    }

    private static PeerAuthenticationMode mode(SpecReader mtls) throws InvalidFieldException {
        String m = mtls.string("mode", "UNSET");
        return switch (m) {
            case "UNSET" -> PeerAuthenticationMode.UNSET;
            case "PERMISSIVE" -> PeerAuthenticationMode.PERMISSIVE;
            case "STRICT" -> PeerAuthenticationMode.STRICT;
            case "DISABLE" -> PeerAuthenticationMode.DISABLE;
            default -> throw new InvalidFieldException(mtls.path("mode"), "'" + m
                    + "' (expected: UNSET, PERMISSIVE, STRICT or DISABLE)");
        };
    }
}
