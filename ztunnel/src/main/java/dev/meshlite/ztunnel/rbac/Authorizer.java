package dev.meshlite.ztunnel.rbac;

import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.Authorization.Action;
import dev.meshlite.ztunnel.state.Authorization.Clause;
import dev.meshlite.ztunnel.state.Authorization.Match;
import dev.meshlite.ztunnel.state.Authorization.Rule;
import dev.meshlite.ztunnel.state.Cidr;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Workload;
import java.net.InetAddress;
import java.util.List;

/**
 * L4 authorization, a pure function of a state snapshot and a connection (Istio's order): any
 * matching DENY refuses; then, if ALLOW policies apply to the destination, one of them must match;
 * with none, the connection is allowed.
 *
 * <p>An absent source identity (plaintext) matches no positive identity field (namespaces,
 * principals, service accounts) and every negative one, so {@code notPrincipals: ["*"]} in a DENY
 * refuses exactly the unauthenticated callers, as in Istio.
 */
public final class Authorizer {

    private Authorizer() {}

    public sealed interface Decision {
        record Allowed() implements Decision {}

        record Denied(String policy, String reason) implements Decision {}

        default boolean allowed() {
            return this instanceof Allowed;
        }
    }

    private static final Decision ALLOWED = new Decision.Allowed();

    public static Decision authorize(ProxyState state, Workload destination, Connection c) {
        return authorize(state.policiesFor(destination), c);
    }

    public static Decision authorize(List<Authorization> policies, Connection c) {
        boolean anyAllow = false;
        for (Authorization p : policies) {
            if (p.action() == Action.DENY && matchesAnyRule(p, c)) {
                return new Decision.Denied(p.key(), "denied by " + p.key());
            }
            anyAllow |= p.action() == Action.ALLOW;
        }
        if (!anyAllow) {
            return ALLOWED;
        }
        for (Authorization p : policies) {
            if (p.action() == Action.ALLOW && matchesAnyRule(p, c)) {
                return ALLOWED;
            }
        }
        return new Decision.Denied("", "no ALLOW policy matched");
    }

    static boolean matchesAnyRule(Authorization p, Connection c) {
        for (Rule r : p.rules()) {
            if (matches(r, c)) {
                return true;
            }
        }
        return false;
    }

    static boolean matches(Rule r, Connection c) {
        for (Clause clause : r.clauses()) {
            boolean any = false;
            for (Match m : clause.matches()) {
                if (matches(m, c)) {
                    any = true;
                    break;
                }
            }
            if (!any) {
                return false;
            }
        }
        return true;
    }

    static boolean matches(Match m, Connection c) {
        String ns = c.source() == null ? null : c.source().namespace();
        String principal = c.principal();
        String sa = c.source() == null ? null : c.source().namespace() + "/" + c.source().serviceAccount();
        return positive(m.namespaces(), ns) && negative(m.notNamespaces(), ns)
                && positivePattern(m.principals(), principal) && negativePattern(m.notPrincipals(), principal)
                && positive(m.serviceAccounts(), sa) && negative(m.notServiceAccounts(), sa)
                && inAny(m.sourceIps(), c.sourceIp(), true) && !inAny(m.notSourceIps(), c.sourceIp(), false)
                && inAny(m.destinationIps(), c.destinationIp(), true)
                && !inAny(m.notDestinationIps(), c.destinationIp(), false)
                && (m.destinationPorts().isEmpty() || m.destinationPorts().contains(c.destinationPort()))
                && !m.notDestinationPorts().contains(c.destinationPort());
    }

    private static boolean positive(List<String> values, String v) {
        return values.isEmpty() || (v != null && values.contains(v));
    }

    private static boolean negative(List<String> values, String v) {
        return v == null || !values.contains(v);
    }

    private static boolean positivePattern(List<String> patterns, String v) {
        if (patterns.isEmpty()) {
            return true;
        }
        return v != null && patterns.stream().anyMatch(p -> glob(p, v));
    }

    private static boolean negativePattern(List<String> patterns, String v) {
        return v == null || patterns.stream().noneMatch(p -> glob(p, v));
    }

    /** Istio's string match: exact, "*" (any), "*suffix" or "prefix*". */
    static boolean glob(String pattern, String v) {
        if (pattern.equals("*")) {
            return true;
        }
        if (pattern.startsWith("*")) {
            return v.endsWith(pattern.substring(1));
        }
        if (pattern.endsWith("*")) {
            return v.startsWith(pattern.substring(0, pattern.length() - 1));
        }
        return pattern.equals(v);
    }

    private static boolean inAny(List<Cidr> blocks, InetAddress ip, boolean emptyResult) {
        if (blocks.isEmpty()) {
            return emptyResult;
        }
        for (Cidr b : blocks) {
            if (b.contains(ip)) {
                return true;
            }
        }
        return false;
    }
}
