package dev.meshlite.istiod.model;

import dev.meshlite.istiod.api.workload.v1.Action;
import dev.meshlite.istiod.api.workload.v1.Authorization;
import dev.meshlite.istiod.api.workload.v1.Cidr;
import dev.meshlite.istiod.api.workload.v1.Clause;
import dev.meshlite.istiod.api.workload.v1.Match;
import dev.meshlite.istiod.api.workload.v1.Rule;
import dev.meshlite.istiod.api.workload.v1.Scope;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * One {@code security.istio.io/v1} AuthorizationPolicy to the L4 {@link Authorization} ztunnel
 * evaluates, with Istio's semantics:
 * <ul>
 *   <li>Scope: root namespace without selector → GLOBAL; no selector → NAMESPACE; a selector →
 *       WORKLOAD_SELECTOR (listed by the workloads it selects).</li>
 *   <li>A rule is the AND of its clauses: one clause for {@code from} (the OR of its sources),
 *       one for {@code to} (the OR of its operations), one per {@code when} condition.</li>
 *   <li>L7 fields (methods, paths, hosts, request principals, remote IPs, request.* conditions)
 *       cannot be enforced at L4, so such a rule fails closed: an ALLOW rule is dropped (it
 *       matches nothing), a DENY rule keeps its L4 parts only (it denies more). Reported.</li>
 *   <li>AUDIT and CUSTOM are reported as unsupported and not translated.</li>
 *   <li>An invalid field rejects the whole policy; nothing of it is applied.</li>
 *   <li>Policies with {@code targetRef(s)} attach to a waypoint or gateway, not to ztunnel: they
 *       are left to the waypoint's translation.</li>
 * </ul>
 */
final class AuthorizationTranslator {

    static final String KIND = "AuthorizationPolicy";
    private static final Set<String> SPEC = Set.of("selector", "action", "rules", "targetRef", "targetRefs", "provider");
    private static final Set<String> RULE = Set.of("from", "to", "when");
    private static final Set<String> SOURCE = Set.of("principals", "notPrincipals", "requestPrincipals",
            "notRequestPrincipals", "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks",
            "notRemoteIpBlocks", "serviceAccounts", "notServiceAccounts");
    private static final Set<String> SOURCE_L7 = Set.of("requestPrincipals", "notRequestPrincipals", "remoteIpBlocks",
            "notRemoteIpBlocks");
    private static final Set<String> OPERATION = Set.of("hosts", "notHosts", "ports", "notPorts", "methods",
            "notMethods", "paths", "notPaths");
    private static final Set<String> OPERATION_L7 = Set.of("hosts", "notHosts", "methods", "notMethods", "paths",
            "notPaths");
    private static final Pattern SERVICE_ACCOUNT = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?");

    /** The translation: empty when the policy is not for ztunnel or was refused (then see problems). */
    record Translation(Optional<Authorization> authorization, Map<String, String> selector, List<Problem> problems) {}

    private AuthorizationTranslator() {}

    static Translation translate(GenericKubernetesResource policy, String rootNamespace) {
        String ns = policy.getMetadata().getNamespace();
        String name = policy.getMetadata().getName();
        List<Problem> problems = new ArrayList<>();
        try {
            SpecReader spec = SpecReader.of("spec", policy.getAdditionalProperties().get("spec")).only(SPEC);
            if (spec.has("targetRef") || spec.has("targetRefs")) {
                return new Translation(Optional.empty(), Map.of(), List.of());
            }
            String actionText = spec.string("action", "ALLOW");
            if (spec.has("provider") && !actionText.equals("CUSTOM")) {
                throw new InvalidFieldException("spec.provider", "set with action " + actionText
                        + " (expected: only with CUSTOM)");
            }
            Action action = switch (actionText) {
                case "ALLOW" -> Action.ALLOW;
                case "DENY" -> Action.DENY;
                case "AUDIT", "CUSTOM" -> null;
                default -> throw new InvalidFieldException("spec.action", "'" + actionText
                        + "' (expected: ALLOW, DENY, AUDIT or CUSTOM)");
            };
            if (action == null) {
                problems.add(new Problem(KIND, ns, name, "spec.action", "action " + actionText
                        + " is not supported by ztunnel (expected: ALLOW or DENY); the policy is not applied"));
                return new Translation(Optional.empty(), Map.of(), problems);
            }
            Map<String, String> selector = Selectors.matchLabels(spec.object("selector"));
            Scope scope = !selector.isEmpty() ? Scope.WORKLOAD_SELECTOR
                    : ns.equals(rootNamespace) ? Scope.GLOBAL : Scope.NAMESPACE;
            Authorization.Builder out = Authorization.newBuilder().setName(name).setNamespace(ns).setScope(scope)
                    .setAction(action);
            List<SpecReader> rules = spec.objects("rules");
            for (SpecReader rule : rules) {
                Set<String> l7 = new TreeSet<>();
                Rule translated = rule(rule.only(RULE), l7);
                if (l7.isEmpty()) {
                    out.addRules(translated);
                } else if (action == Action.ALLOW) {
                    problems.add(new Problem(KIND, ns, name, rule.path(), "L7 fields " + l7
                            + " cannot be enforced by ztunnel: this ALLOW rule is dropped and matches nothing"
                            + " (fail closed; expected: L4 fields only, or a policy attached to a waypoint)"));
                } else {
                    out.addRules(translated);
                    problems.add(new Problem(KIND, ns, name, rule.path(), "L7 fields " + l7
                            + " cannot be enforced by ztunnel: this DENY rule keeps its L4 conditions only and"
                            + " denies more (fail closed; expected: L4 fields only, or a policy attached to a waypoint)"));
                }
            }
            return new Translation(Optional.of(out.build()), selector, problems);
        } catch (InvalidFieldException e) {
            return new Translation(Optional.empty(), Map.of(),
                    List.of(new Problem(KIND, ns, name, e.field(), e.getMessage() + "; the policy is ignored")));
        }
    }

    /** One rule; L7 field names it holds go to {@code l7} and are left out of the result. */
    private static Rule rule(SpecReader rule, Set<String> l7) throws InvalidFieldException {
        Rule.Builder out = Rule.newBuilder();
        List<SpecReader> from = rule.objects("from");
        if (!from.isEmpty()) {
            Clause.Builder clause = Clause.newBuilder();
            for (SpecReader f : from) {
                clause.addMatches(source(f.only(Set.of("source")).object("source").only(SOURCE), l7));
            }
            out.addClauses(clause);
        }
        List<SpecReader> to = rule.objects("to");
        if (!to.isEmpty()) {
            Clause.Builder clause = Clause.newBuilder();
            for (SpecReader t : to) {
                clause.addMatches(operation(t.only(Set.of("operation")).object("operation").only(OPERATION), l7));
            }
            out.addClauses(clause);
        }
        for (SpecReader when : rule.objects("when")) {
            Optional<Match> m = condition(when.only(Set.of("key", "values", "notValues")), l7);
            m.ifPresent(match -> out.addClauses(Clause.newBuilder().addMatches(match)));
        }
        return out.build();
    }

    private static Match source(SpecReader s, Set<String> l7) throws InvalidFieldException {
        if (s.isEmpty()) {
            throw new InvalidFieldException(s.path(), "empty (expected: at least one field)");
        }
        Match.Builder m = Match.newBuilder();
        m.addAllPrincipals(principals(s, "principals"));
        m.addAllNotPrincipals(principals(s, "notPrincipals"));
        m.addAllNamespaces(names(s, "namespaces"));
        m.addAllNotNamespaces(names(s, "notNamespaces"));
        m.addAllSourceIps(cidrs(s, "ipBlocks"));
        m.addAllNotSourceIps(cidrs(s, "notIpBlocks"));
        m.addAllServiceAccounts(serviceAccounts(s, "serviceAccounts"));
        m.addAllNotServiceAccounts(serviceAccounts(s, "notServiceAccounts"));
        boolean accounts = s.has("serviceAccounts") || s.has("notServiceAccounts");
        if (accounts && (s.has("principals") || s.has("notPrincipals") || s.has("namespaces") || s.has("notNamespaces"))) {
            throw new InvalidFieldException(s.path(), "serviceAccounts set together with principals or namespaces"
                    + " (expected: one or the other)");
        }
        for (String f : SOURCE_L7) {
            if (s.has(f)) {
                s.strings(f);
                l7.add("source." + f);
            }
        }
        return m.build();
    }

    private static Match operation(SpecReader o, Set<String> l7) throws InvalidFieldException {
        if (o.isEmpty()) {
            throw new InvalidFieldException(o.path(), "empty (expected: at least one field)");
        }
        Match.Builder m = Match.newBuilder();
        m.addAllDestinationPorts(ports(o, "ports"));
        m.addAllNotDestinationPorts(ports(o, "notPorts"));
        for (String f : OPERATION_L7) {
            if (o.has(f)) {
                o.strings(f);
                l7.add("operation." + f);
            }
        }
        return m.build();
    }

    /** A {@code when} condition as one match, or empty when it is L7 (recorded in {@code l7}). */
    private static Optional<Match> condition(SpecReader c, Set<String> l7) throws InvalidFieldException {
        String key = c.string("key", "");
        if (key.isEmpty()) {
            throw new InvalidFieldException(c.path("key"), "missing (expected: e.g. source.ip, destination.port)");
        }
        if (!c.has("values") && !c.has("notValues")) {
            throw new InvalidFieldException(c.path(), "neither values nor notValues (expected: at least one)");
        }
        Match.Builder m = Match.newBuilder();
        switch (key) {
            case "source.ip" -> {
                m.addAllSourceIps(cidrs(c, "values"));
                m.addAllNotSourceIps(cidrs(c, "notValues"));
            }
            case "destination.ip" -> {
                m.addAllDestinationIps(cidrs(c, "values"));
                m.addAllNotDestinationIps(cidrs(c, "notValues"));
            }
            case "destination.port" -> {
                m.addAllDestinationPorts(ports(c, "values"));
                m.addAllNotDestinationPorts(ports(c, "notValues"));
            }
            case "source.namespace" -> {
                m.addAllNamespaces(names(c, "values"));
                m.addAllNotNamespaces(names(c, "notValues"));
            }
            case "source.principal" -> {
                m.addAllPrincipals(principals(c, "values"));
                m.addAllNotPrincipals(principals(c, "notValues"));
            }
            case "source.serviceAccount" -> {
                m.addAllServiceAccounts(serviceAccounts(c, "values"));
                m.addAllNotServiceAccounts(serviceAccounts(c, "notValues"));
            }
            default -> {
                if (key.startsWith("request.") || key.equals("remote.ip") || key.startsWith("experimental.")
                        || key.equals("connection.sni")) {
                    c.strings("values");
                    c.strings("notValues");
                    l7.add("when." + key);
                    return Optional.empty();
                }
                throw new InvalidFieldException(c.path("key"), "'" + key + "' (expected: a known condition key such as"
                        + " source.ip, source.namespace, source.principal, destination.ip, destination.port, request.*)");
            }
        }
        return Optional.of(m.build());
    }

    /** Principals without the scheme ("td/ns/a/sa/b"); "*" only as a prefix or suffix. */
    static List<String> principals(SpecReader r, String key) throws InvalidFieldException {
        List<String> values = r.strings(key);
        for (int i = 0; i < values.size(); i++) {
            String v = values.get(i);
            String field = r.path(key) + "[" + i + "]";
            if (v.startsWith("spiffe://")) {
                throw new InvalidFieldException(field, "'" + v + "' (expected: without the spiffe:// scheme,"
                        + " e.g. cluster.local/ns/foo/sa/bar)");
            }
            wildcardOnlyAtEnds(field, v);
        }
        return values;
    }

    static List<String> names(SpecReader r, String key) throws InvalidFieldException {
        List<String> values = r.strings(key);
        for (int i = 0; i < values.size(); i++) {
            wildcardOnlyAtEnds(r.path(key) + "[" + i + "]", values.get(i));
        }
        return values;
    }

    private static void wildcardOnlyAtEnds(String field, String v) throws InvalidFieldException {
        if (v.isEmpty()) {
            throw new InvalidFieldException(field, "empty (expected: a value, or \"*\")");
        }
        int stars = (int) v.chars().filter(ch -> ch == '*').count();
        boolean ok = v.equals("*") || stars == 0 || (stars == 1 && (v.startsWith("*") || v.endsWith("*")));
        if (!ok) {
            throw new InvalidFieldException(field, "'" + v + "' (expected: \"*\" only as a prefix or a suffix)");
        }
    }

    /** "namespace/name"; Istio's form for serviceAccounts. */
    static List<String> serviceAccounts(SpecReader r, String key) throws InvalidFieldException {
        List<String> values = r.strings(key);
        for (int i = 0; i < values.size(); i++) {
            if (!SERVICE_ACCOUNT.matcher(values.get(i)).matches()) {
                throw new InvalidFieldException(r.path(key) + "[" + i + "]", "'" + values.get(i)
                        + "' (expected: <namespace>/<service account>)");
            }
        }
        return values;
    }

    static List<Integer> ports(SpecReader r, String key) throws InvalidFieldException {
        List<Integer> out = new ArrayList<>();
        Object raw = r.entries().get(key);
        if (raw == null) {
            return out;
        }
        if (!(raw instanceof List<?> items)) {
            throw new InvalidFieldException(r.path(key), "a " + SpecReader.typeName(raw) + " (expected: a list of ports)");
        }
        for (int i = 0; i < items.size(); i++) {
            out.add(port(r.path(key) + "[" + i + "]", items.get(i)));
        }
        return out;
    }

    static int port(String field, Object v) throws InvalidFieldException {
        long n;
        if (v instanceof Number num && (num instanceof Integer || num instanceof Long)) {
            n = num.longValue();
        } else if (v instanceof String s && s.matches("[0-9]{1,6}")) {
            n = Long.parseLong(s);
        } else {
            throw new InvalidFieldException(field, "'" + v + "' (expected: a port number 1-65535)");
        }
        if (n < 1 || n > 65535) {
            throw new InvalidFieldException(field, n + " (expected: a port number 1-65535)");
        }
        return (int) n;
    }

    static List<Cidr> cidrs(SpecReader r, String key) throws InvalidFieldException {
        List<String> values = r.strings(key);
        List<Cidr> out = new ArrayList<>();
        for (int i = 0; i < values.size(); i++) {
            out.add(cidr(r.path(key) + "[" + i + "]", values.get(i)));
        }
        return out;
    }

    private static final Pattern IPV4 = Pattern.compile("(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]+");

    /**
     * "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Only literals are parsed,
     * never resolved; the address is reduced to its network so the data plane compares plainly.
     */
    static Cidr cidr(String field, String text) throws InvalidFieldException {
        int slash = text.indexOf('/');
        String addr = slash < 0 ? text : text.substring(0, slash);
        boolean v4 = IPV4.matcher(addr).matches();
        boolean v6 = !v4 && addr.contains(":") && IPV6.matcher(addr).matches();
        if (!v4 && !v6) {
            throw new InvalidFieldException(field, "'" + text + "' (expected: an IP address or CIDR, e.g. 10.0.0.0/8)");
        }
        byte[] bytes;
        try {
            bytes = InetAddress.getByName(addr).getAddress(); // a literal: no lookup happens
        } catch (UnknownHostException e) {
            throw new InvalidFieldException(field, "'" + text + "' (expected: an IP address or CIDR, e.g. 10.0.0.0/8)");
        }
        int max = bytes.length * 8;
        int length = max;
        if (slash >= 0) {
            String len = text.substring(slash + 1);
            if (!len.matches("[0-9]{1,3}") || Integer.parseInt(len) > max) {
                throw new InvalidFieldException(field, "'" + text + "' (expected: a prefix length 0-" + max + ")");
            }
            length = Integer.parseInt(len);
        }
        BigInteger value = new BigInteger(1, bytes);
        BigInteger mask = length == 0 ? BigInteger.ZERO
                : BigInteger.ONE.shiftLeft(max).subtract(BigInteger.ONE).shiftRight(max - length).shiftLeft(max - length);
        byte[] network = value.and(mask).toByteArray();
        byte[] fixed = new byte[bytes.length];
        System.arraycopy(network, Math.max(0, network.length - fixed.length), fixed,
                Math.max(0, fixed.length - network.length), Math.min(network.length, fixed.length));
        try {
            return Cidr.newBuilder().setAddress(InetAddress.getByAddress(fixed).getHostAddress()).setLength(length).build();
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
