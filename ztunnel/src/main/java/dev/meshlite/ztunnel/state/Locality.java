package dev.meshlite.ztunnel.state;

import java.util.Objects;

/**
 * Where a workload runs, from its node's topology labels ({@code topology.kubernetes.io/region},
 * {@code topology.kubernetes.io/zone}, {@code topology.istio.io/subzone}); a field is empty when
 * the node has no such label.
 */
public record Locality(String region, String zone, String subzone) {

    /** A node without topology labels. */
    public static final Locality NONE = new Locality("", "", "");

    public Locality {
        Objects.requireNonNull(region, "region");
        Objects.requireNonNull(zone, "zone");
        Objects.requireNonNull(subzone, "subzone");
    }

    /** Whether no topology label was set at all. */
    public boolean isEmpty() {
        return region.isEmpty() && zone.isEmpty() && subzone.isEmpty();
    }
}
