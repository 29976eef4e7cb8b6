package dev.meshlite.hbone.client;

import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;

/**
 * What to ask for on one stream.
 *
 * @param target        the CONNECT {@code :authority}: the final destination {@code ip:port}
 * @param forwardedFor  the original client, sent as {@code forwarded: for="ip:port"}; may be null
 * @param forwardedHost the Service host name, appended as {@code ;host=}; may be null
 * @param traceparent   a W3C traceparent to continue; null starts a new trace
 * @param baggage       a W3C baggage value (see {@link #baggage}); may be null
 */
public record TunnelRequest(InetSocketAddress target, InetSocketAddress forwardedFor, String forwardedHost,
                            String traceparent, String baggage) {

    public TunnelRequest {
        Objects.requireNonNull(target, "target");
        if (target.isUnresolved()) {
            throw new IllegalArgumentException("target: " + target + " (expected: a literal IP and port)");
        }
    }

    public static TunnelRequest to(InetSocketAddress target) {
        return new TunnelRequest(target, null, null, null, null);
    }

    public TunnelRequest withForwardedFor(InetSocketAddress client, String host) {
        return new TunnelRequest(target, client, host, traceparent, baggage);
    }

    public TunnelRequest withBaggage(String value) {
        return new TunnelRequest(target, forwardedFor, forwardedHost, traceparent, value);
    }

    public TunnelRequest withTraceparent(String value) {
        return new TunnelRequest(target, forwardedFor, forwardedHost, value, baggage);
    }

    /**
     * The source workload's baggage, with the keys Istio uses; null values are left out.
     */
    public static String baggage(String cluster, String namespace, String workload, String service,
                                 String version) {
        Map<String, String> entries = new LinkedHashMap<>();
        entries.put("k8s.cluster.name", cluster);
        entries.put("k8s.namespace.name", namespace);
        entries.put("k8s.deployment.name", workload);
        entries.put("service.name", service);
        entries.put("service.version", version);
        StringJoiner out = new StringJoiner(",");
        entries.forEach((k, v) -> {
            if (v != null) {
                out.add(k + "=" + java.net.URLEncoder.encode(v, java.nio.charset.StandardCharsets.UTF_8));
            }
        });
        return out.toString();
    }

    /** {@code ip:port}, IPv6 in brackets. */
    static String hostPort(InetSocketAddress address) {
        String ip = address.getAddress().getHostAddress();
        int zone = ip.indexOf('%');
        if (zone >= 0) {
            ip = ip.substring(0, zone);
        }
        return (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + address.getPort();
    }
}
