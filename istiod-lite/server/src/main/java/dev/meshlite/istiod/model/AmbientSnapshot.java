package dev.meshlite.istiod.model;

import dev.meshlite.istiod.api.workload.v1.Authorization;
import dev.meshlite.istiod.api.workload.v1.Service;
import dev.meshlite.istiod.api.workload.v1.Workload;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The ambient data plane's view, immutable, keyed by resource name (a Workload by pod uid, a
 * Service by "namespace/hostname", an Authorization by "namespace/name"), with the problems met
 * while building it and the status owed to Gateway API objects (not sent to proxies).
 */
public record AmbientSnapshot(Map<String, Workload> workloads, Map<String, Service> services,
        Map<String, Authorization> authorizations, List<Problem> problems, List<GatewayStatus> statuses) {

    public static final AmbientSnapshot EMPTY = new AmbientSnapshot(Map.of(), Map.of(), Map.of(), List.of(),
            List.of());

    public AmbientSnapshot {
        workloads = Collections.unmodifiableMap(new TreeMap<>(workloads));
        services = Collections.unmodifiableMap(new TreeMap<>(services));
        authorizations = Collections.unmodifiableMap(new TreeMap<>(authorizations));
        problems = List.copyOf(problems);
        statuses = List.copyOf(statuses);
    }
}
