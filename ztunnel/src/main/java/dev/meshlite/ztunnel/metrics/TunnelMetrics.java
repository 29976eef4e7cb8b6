package dev.meshlite.ztunnel.metrics;

import dev.meshlite.hbone.metrics.HboneMetrics;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Locale;

/**
 * What the HBONE layer counts that Istio's TCP metrics do not show, read at scrape time from
 * {@link HboneMetrics} (ztunnel's client and server share one):
 * <ul>
 *   <li>{@code meshlite_ztunnel_hbone_connect_retries_total}: CONNECTs a peer never took
 *       (refused, or crossed by its GOAWAY while it drained) and opened again; a burst is a
 *       peer restarting, a steady rate a peer refusing streams;</li>
 *   <li>{@code meshlite_ztunnel_hbone_handshake_failures_total{reason}}: mTLS handshakes of
 *       either direction that failed, by why (an expired or untrusted certificate, an identity
 *       not expected, no ALPN h2, a timeout...), the first place to look when meshed traffic
 *       between two nodes stops.</li>
 * </ul>
 */
public final class TunnelMetrics {

    private TunnelMetrics() {}

    public static void register(PrometheusRegistry registry, HboneMetrics hbone) {
        CounterWithCallback.builder().name("meshlite_ztunnel_hbone_connect_retries")
                .help("HBONE CONNECTs the peer never took (REFUSED_STREAM, or above its GOAWAY), opened again")
                .callback(cb -> cb.call(hbone.snapshot().streamsRetried()))
                .register(registry);
        CounterWithCallback.builder().name("meshlite_ztunnel_hbone_handshake_failures")
                .help("HBONE mTLS handshakes that failed, by reason")
                .labelNames("reason")
                .callback(cb -> hbone.snapshot().handshakeFailures()
                        .forEach((reason, n) -> cb.call(n, reason.name().toLowerCase(Locale.ROOT))))
                .register(registry);
    }
}
