package dev.meshlite.ztunnel.xds;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.istiod.api.workload.v1.GatewayAddress;
import dev.meshlite.istiod.api.workload.v1.PeerAuthenticationMode;
import dev.meshlite.istiod.api.workload.v1.PortList;
import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.Cidr;
import dev.meshlite.ztunnel.state.Locality;
import dev.meshlite.ztunnel.state.PeerAuthentication;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Waypoint;
import dev.meshlite.ztunnel.state.Workload;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns pushed resources into state records. Every method either returns a complete, valid record
 * or throws {@link IllegalArgumentException} naming the resource, the field and what was expected:
 * the caller rejects the whole response (a NACK) and keeps its last good state.
 */
final class Resources {

    static final String TYPE_PREFIX = "type.googleapis.com/";
    static final String WORKLOAD = TYPE_PREFIX + dev.meshlite.istiod.api.workload.v1.Workload.getDescriptor().getFullName();
    static final String SERVICE = TYPE_PREFIX + dev.meshlite.istiod.api.workload.v1.Service.getDescriptor().getFullName();
    static final String AUTHORIZATION = TYPE_PREFIX
            + dev.meshlite.istiod.api.workload.v1.Authorization.getDescriptor().getFullName();

    private Resources() {}

    static Workload workload(dev.meshlite.istiod.api.workload.v1.Workload w) {
        String what = "workload " + w.getNamespace() + "/" + w.getName();
        if (w.getUid().isEmpty()) {
            throw new IllegalArgumentException(what + ": uid is empty (expected: the pod's uid)");
        }
        SpiffeId id;
        try {
            id = new SpiffeId(w.getTrustDomain(), w.getNamespace(),
                    w.getServiceAccount().isEmpty() ? "default" : w.getServiceAccount());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + ": identity: " + e.getMessage(), e);
        }
        Map<String, Map<Integer, Integer>> services = new HashMap<>();
        for (Map.Entry<String, PortList> e : w.getServicesMap().entrySet()) {
            Map<Integer, Integer> ports = new HashMap<>();
            for (var p : e.getValue().getPortsList()) {
                ports.put(port(what, "services[" + e.getKey() + "].service_port", p.getServicePort(), false),
                        port(what, "services[" + e.getKey() + "].target_port", p.getTargetPort(), true));
            }
            services.put(e.getKey(), ports);
        }
        Map<Integer, PeerAuthentication.Mode> portModes = new HashMap<>();
        w.getPeerAuthentication().getPortModesMap().forEach((port, mode) ->
                portModes.put(port(what, "peer_authentication.port_modes", port, false), mode(mode)));
        return new Workload(w.getUid(), w.getName(), w.getNamespace(), ips(what, "addresses", w.getAddressesList()),
                w.getNode(), id, w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName(),
                w.getCanonicalName(), w.getCanonicalRevision(),
                w.getTunnelProtocol() == dev.meshlite.istiod.api.workload.v1.TunnelProtocol.HBONE,
                w.getStatus() == dev.meshlite.istiod.api.workload.v1.HealthStatus.HEALTHY, services,
                w.getAuthorizationPoliciesList(),
                new PeerAuthentication(mode(w.getPeerAuthentication().getMode()), portModes),
                w.hasWaypoint() ? waypoint(what, w.getWaypoint()) : null, w.getWaypointFor(),
                locality(w.getLocality()));
    }

    static Service service(dev.meshlite.istiod.api.workload.v1.Service s) {
        String what = "service " + s.getNamespace() + "/" + s.getHostname();
        if (s.getHostname().isEmpty()) {
            throw new IllegalArgumentException(what + ": hostname is empty");
        }
        Map<Integer, Integer> ports = new HashMap<>();
        for (var p : s.getPortsList()) {
            ports.put(port(what, "ports.service_port", p.getServicePort(), false),
                    port(what, "ports.target_port", p.getTargetPort(), true));
        }
        List<SpiffeId> sans = new ArrayList<>();
        for (String san : s.getSubjectAltNamesList()) {
            try {
                sans.add(SpiffeId.parse(san));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(what + ": subject_alt_names: " + e.getMessage(), e);
            }
        }
        return new Service(s.getName(), s.getNamespace(), s.getHostname(), ips(what, "addresses", s.getAddressesList()),
                ports, sans, s.hasWaypoint() ? waypoint(what, s.getWaypoint()) : null,
                trafficDistribution(s.getTrafficDistribution()));
    }

    static Authorization authorization(dev.meshlite.istiod.api.workload.v1.Authorization a) {
        String what = "authorization " + a.getNamespace() + "/" + a.getName();
        if (a.getName().isEmpty()) {
            throw new IllegalArgumentException(what + ": name is empty");
        }
        Authorization.Scope scope = switch (a.getScope()) {
            case GLOBAL -> Authorization.Scope.GLOBAL;
            case NAMESPACE -> Authorization.Scope.NAMESPACE;
            case WORKLOAD_SELECTOR -> Authorization.Scope.WORKLOAD_SELECTOR;
            case UNRECOGNIZED -> throw new IllegalArgumentException(what + ": scope " + a.getScopeValue()
                    + " (expected: GLOBAL, NAMESPACE or WORKLOAD_SELECTOR)");
        };
        Authorization.Action action = switch (a.getAction()) {
            case ALLOW -> Authorization.Action.ALLOW;
            case DENY -> Authorization.Action.DENY;
            case UNRECOGNIZED -> throw new IllegalArgumentException(what + ": action " + a.getActionValue()
                    + " (expected: ALLOW or DENY)");
        };
        List<Authorization.Rule> rules = new ArrayList<>();
        for (var r : a.getRulesList()) {
            List<Authorization.Clause> clauses = new ArrayList<>();
            for (var c : r.getClausesList()) {
                List<Authorization.Match> matches = new ArrayList<>();
                for (var m : c.getMatchesList()) {
                    matches.add(new Authorization.Match(m.getNamespacesList(), m.getNotNamespacesList(),
                            m.getPrincipalsList(), m.getNotPrincipalsList(), cidrs(what, m.getSourceIpsList()),
                            cidrs(what, m.getNotSourceIpsList()), cidrs(what, m.getDestinationIpsList()),
                            cidrs(what, m.getNotDestinationIpsList()), ports(what, m.getDestinationPortsList()),
                            ports(what, m.getNotDestinationPortsList()), m.getServiceAccountsList(),
                            m.getNotServiceAccountsList()));
                }
                clauses.add(new Authorization.Clause(matches));
            }
            rules.add(new Authorization.Rule(clauses));
        }
        return new Authorization(a.getName(), a.getNamespace(), scope, action, rules);
    }

    private static Waypoint waypoint(String what, GatewayAddress g) {
        InetAddress ip = ip(what, "waypoint.address", g.getAddress());
        SpiffeId id = null;
        if (!g.getIdentity().isEmpty()) {
            try {
                id = SpiffeId.parse(g.getIdentity());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(what + ": waypoint.identity: " + e.getMessage(), e);
            }
        }
        return new Waypoint(ip, g.getHbonePort() == 0 ? 15008 : port(what, "waypoint.hbone_port", g.getHbonePort(), false), id);
    }

    private static Locality locality(dev.meshlite.istiod.api.workload.v1.Locality l) {
        return new Locality(l.getRegion(), l.getZone(), l.getSubzone());
    }

    /**
     * A value this build does not know yet means "any endpoint" rather than a NACK: Kubernetes
     * defines an unrecognized {@code trafficDistribution} as the default routing, and refusing the
     * whole Service over a hint would cost more than ignoring the hint.
     */
    private static Service.TrafficDistribution trafficDistribution(
            dev.meshlite.istiod.api.workload.v1.TrafficDistribution d) {
        return switch (d) {
            case PREFER_CLOSE -> Service.TrafficDistribution.PREFER_CLOSE;
            case ANY, UNRECOGNIZED -> Service.TrafficDistribution.ANY;
        };
    }

    private static PeerAuthentication.Mode mode(PeerAuthenticationMode m) {
        return switch (m) {
            case STRICT -> PeerAuthentication.Mode.STRICT;
            case DISABLE -> PeerAuthentication.Mode.DISABLE;
            case PERMISSIVE, UNSET, UNRECOGNIZED -> PeerAuthentication.Mode.PERMISSIVE;
        };
    }

    private static List<Cidr> cidrs(String what, List<dev.meshlite.istiod.api.workload.v1.Cidr> in) {
        List<Cidr> out = new ArrayList<>(in.size());
        for (var c : in) {
            InetAddress ip = ip(what, "cidr", c.getAddress());
            try {
                out.add(new Cidr(ip, c.getLength()));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(what + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    private static List<Integer> ports(String what, List<Integer> in) {
        List<Integer> out = new ArrayList<>(in.size());
        for (int p : in) {
            out.add(port(what, "ports", p, false));
        }
        return out;
    }

    private static int port(String what, String field, int p, boolean zeroOk) {
        if ((p == 0 && !zeroOk) || p < 0 || p > 65535) {
            throw new IllegalArgumentException(what + ": " + field + " " + Integer.toUnsignedString(p)
                    + " (expected: 1-65535" + (zeroOk ? " or 0" : "") + ")");
        }
        return p;
    }

    private static List<InetAddress> ips(String what, String field, List<String> in) {
        List<InetAddress> out = new ArrayList<>(in.size());
        for (String s : in) {
            out.add(ip(what, field, s));
        }
        return out;
    }

    private static final java.util.regex.Pattern DOTTED_QUAD =
            java.util.regex.Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    /** A literal IP only (IPv4 as four decimal octets, or IPv6): never a name lookup. */
    static InetAddress ip(String what, String field, String s) {
        try {
            if (s != null && s.indexOf(':') < 0 && !DOTTED_QUAD.matcher(s).matches()) {
                throw new IllegalArgumentException("not a dotted quad");
            }
            return InetAddress.ofLiteral(s);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException(what + ": " + field + " \"" + s + "\" (expected: an IP literal)", e);
        }
    }
}
