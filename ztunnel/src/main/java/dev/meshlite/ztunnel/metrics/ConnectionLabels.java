package dev.meshlite.ztunnel.metrics;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Workload;

/**
 * Istio's standard TCP metric labels of one connection. Unknown values are "unknown", as in
 * Istio, so dashboards built for Istio group them the same way.
 */
public record ConnectionLabels(String reporter, String sourceWorkload, String sourceNamespace, String sourcePrincipal,
                               String sourceApp, String sourceVersion, String destinationService,
                               String destinationServiceNamespace, String destinationServiceName,
                               String destinationWorkload, String destinationNamespace, String destinationPrincipal,
                               String destinationApp, String destinationVersion, String securityPolicy) {

    static final String[] NAMES = {"reporter", "source_workload", "source_workload_namespace", "source_principal",
        "source_app", "source_version", "destination_service", "destination_service_namespace",
        "destination_service_name", "destination_workload", "destination_workload_namespace",
        "destination_principal", "destination_app", "destination_version", "request_protocol",
        "connection_security_policy", "response_flags"};

    public static final String UNKNOWN = "unknown";

    /**
     * @param reporter "source" (the client's ztunnel) or "destination" (the server's)
     * @param mtls     whether the connection crossed the mesh in mutual TLS
     */
    public static ConnectionLabels of(String reporter, Workload source, SpiffeId sourceId, Workload destination,
                                      SpiffeId destinationId, Service service, boolean mtls) {
        return new ConnectionLabels(reporter,
                source == null ? UNKNOWN : source.workloadName(),
                source != null ? source.namespace() : sourceId != null ? sourceId.namespace() : UNKNOWN,
                sourceId == null ? UNKNOWN : sourceId.uri(),
                source == null || source.canonicalName().isEmpty() ? UNKNOWN : source.canonicalName(),
                source == null || source.canonicalRevision().isEmpty() ? UNKNOWN : source.canonicalRevision(),
                service == null ? UNKNOWN : service.hostname(),
                service == null ? UNKNOWN : service.namespace(),
                service == null ? UNKNOWN : service.name(),
                destination == null ? UNKNOWN : destination.workloadName(),
                destination == null ? UNKNOWN : destination.namespace(),
                destinationId == null ? UNKNOWN : destinationId.uri(),
                destination == null || destination.canonicalName().isEmpty() ? UNKNOWN : destination.canonicalName(),
                destination == null || destination.canonicalRevision().isEmpty() ? UNKNOWN : destination.canonicalRevision(),
                mtls ? "mutual_tls" : "none");
    }

    String[] values(String responseFlags) {
        return new String[] {reporter, sourceWorkload, sourceNamespace, sourcePrincipal, sourceApp, sourceVersion,
            destinationService, destinationServiceNamespace, destinationServiceName, destinationWorkload,
            destinationNamespace, destinationPrincipal, destinationApp, destinationVersion, "tcp", securityPolicy,
            responseFlags};
    }
}
