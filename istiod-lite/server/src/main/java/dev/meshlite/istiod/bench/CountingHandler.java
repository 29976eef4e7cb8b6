package dev.meshlite.istiod.bench;

import com.google.protobuf.Any;
import dev.meshlite.istiod.xds.XdsSnapshot;
import dev.meshlite.istiod.xds.client.ResourceHandler;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * A simulated ztunnel's state: which names it holds per type, and what it received. It keeps no
 * resources (200 copies of a 10,000-pod cluster would measure the simulation, not the control
 * plane). Written only on its client's thread; the counters are read from the driver's.
 */
final class CountingHandler implements ResourceHandler {

    private final Map<String, Set<String>> names = new HashMap<>();
    private volatile int workloads;
    private volatile int services;
    private volatile long updates;
    private volatile long lastUpdateMicros;
    private volatile long bytes;

    @Override
    public void apply(String typeUrl, Map<String, Any> upserts, Set<String> removed) {
        if (upserts.isEmpty() && removed.isEmpty()) {
            return; // a first response with nothing in it
        }
        Set<String> held = names.computeIfAbsent(typeUrl, t -> new HashSet<>());
        long received = 0;
        for (Map.Entry<String, Any> e : upserts.entrySet()) {
            held.add(e.getKey());
            received += e.getValue().getSerializedSize();
        }
        held.removeAll(removed);
        if (typeUrl.equals(XdsSnapshot.WORKLOAD)) {
            workloads = held.size();
        } else if (typeUrl.equals(XdsSnapshot.SERVICE)) {
            services = held.size();
        }
        bytes += received;
        updates++;
        // The client sends its ACK as this returns.
        lastUpdateMicros = epochMicros(Instant.now());
    }

    int workloads() {
        return workloads;
    }

    int services() {
        return services;
    }

    /** Responses that changed something. */
    long updates() {
        return updates;
    }

    /** When the last of them was applied (and its ACK sent), in microseconds since the epoch. */
    long lastUpdateMicros() {
        return lastUpdateMicros;
    }

    /** Serialized bytes of the resources received. */
    long bytes() {
        return bytes;
    }

    static long epochMicros(Instant t) {
        return t.getEpochSecond() * 1_000_000L + t.getNano() / 1_000;
    }
}
