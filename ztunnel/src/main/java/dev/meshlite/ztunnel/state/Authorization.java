package dev.meshlite.ztunnel.state;

import java.util.List;
import java.util.Objects;

/**
 * An L4 authorization policy in the form the data plane evaluates (Istio's semantics, see
 * workload.proto): a rule matches when all its clauses match, a clause when any of its matches
 * does, a match when every non-empty field does.
 */
public record Authorization(String name, String namespace, Scope scope, Action action, List<Rule> rules) {

    public enum Scope { GLOBAL, NAMESPACE, WORKLOAD_SELECTOR }

    public enum Action { ALLOW, DENY }

    public Authorization {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(scope, "scope");
        Objects.requireNonNull(action, "action");
        rules = List.copyOf(rules);
    }

    public String key() {
        return namespace + "/" + name;
    }

    public record Rule(List<Clause> clauses) {
        public Rule {
            clauses = List.copyOf(clauses);
        }
    }

    public record Clause(List<Match> matches) {
        public Clause {
            matches = List.copyOf(matches);
        }
    }

    /** Each list empty means "no condition"; a {@code not*} list means "none of these". */
    public record Match(List<String> namespaces, List<String> notNamespaces, List<String> principals,
                        List<String> notPrincipals, List<Cidr> sourceIps, List<Cidr> notSourceIps,
                        List<Cidr> destinationIps, List<Cidr> notDestinationIps, List<Integer> destinationPorts,
                        List<Integer> notDestinationPorts, List<String> serviceAccounts,
                        List<String> notServiceAccounts) {
        public Match {
            namespaces = List.copyOf(namespaces);
            notNamespaces = List.copyOf(notNamespaces);
            principals = List.copyOf(principals);
            notPrincipals = List.copyOf(notPrincipals);
            sourceIps = List.copyOf(sourceIps);
            notSourceIps = List.copyOf(notSourceIps);
            destinationIps = List.copyOf(destinationIps);
            notDestinationIps = List.copyOf(notDestinationIps);
            destinationPorts = List.copyOf(destinationPorts);
            notDestinationPorts = List.copyOf(notDestinationPorts);
            serviceAccounts = List.copyOf(serviceAccounts);
            notServiceAccounts = List.copyOf(notServiceAccounts);
        }

        public static Match empty() {
            return new Match(List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(),
                    List.of(), List.of(), List.of(), List.of(), List.of());
        }
    }
}
