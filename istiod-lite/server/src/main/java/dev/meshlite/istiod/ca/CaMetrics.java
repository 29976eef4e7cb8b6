package dev.meshlite.istiod.ca;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.time.Clock;
import java.util.function.Supplier;

/**
 * The CA's metrics: certificates issued, requests denied (label {@code reason}: unauthenticated,
 * permission_denied, invalid_argument, unavailable), signing latency, and seconds until the active
 * root expires (alert on it well before it reaches zero).
 */
public final class CaMetrics {

    private final Counter issued;
    private final Counter denied;
    private final Histogram signing;

    public CaMetrics(PrometheusRegistry registry, Supplier<CaKeys> keys, Clock clock) {
        issued = Counter.builder().name("meshlite_ca_certificates_issued_total")
                .help("Workload certificates issued").register(registry);
        denied = Counter.builder().name("meshlite_ca_requests_denied_total")
                .help("Certificate requests refused, by reason").labelNames("reason").register(registry);
        signing = Histogram.builder().name("meshlite_ca_signing_duration_seconds")
                .help("Time from request to signed certificate (authentication and authorization included)")
                .unit(Unit.SECONDS)
                .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
                .register(registry);
        GaugeWithCallback.builder().name("meshlite_ca_root_expiry_seconds")
                .help("Seconds until the active root certificate expires")
                .callback(cb -> cb.call((keys.get().activeRoot().getNotAfter().getTime()
                        - clock.millis()) / 1000.0))
                .register(registry);
    }

    void issued(long nanos) {
        issued.inc();
        signing.observe(nanos / 1e9);
    }

    void denied(String reason) {
        denied.labelValues(reason).inc();
    }
}
