package dev.meshlite.ztunnel.metrics;

import dev.meshlite.cni.json.Json;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line per connection when it ends: who talked to whom, through what, how many bytes each way,
 * how long, and the error if there was one. Text ({@code key=value}) or JSON, one object per line.
 */
public final class AccessLog {

    public enum Format { TEXT, JSON }

    private static final Logger LOG = LoggerFactory.getLogger("access");

    private final Format format;
    private final Consumer<String> sink;

    public AccessLog(Format format) {
        this(format, LOG::info);
    }

    public AccessLog(Format format, Consumer<String> sink) {
        this.format = format;
        this.sink = sink;
    }

    void log(Map<String, Object> fields) {
        if (format == Format.JSON) {
            // numbers stay numbers, everything else is its text; an absent field is left out
            Map<String, Object> n = new LinkedHashMap<>();
            fields.forEach((k, v) -> {
                if (v instanceof Number num) {
                    n.put(k, num.longValue());
                } else if (v != null) {
                    n.put(k, v.toString());
                }
            });
            sink.accept(Json.write(n));
        } else {
            StringBuilder sb = new StringBuilder();
            fields.forEach((k, v) -> {
                if (v != null) {
                    if (!sb.isEmpty()) {
                        sb.append(' ');
                    }
                    String s = v.toString();
                    sb.append(k).append('=').append(s.indexOf(' ') >= 0 ? "\"" + s.replace("\"", "'") + "\"" : s);
                }
            });
            sink.accept(sb.toString());
        }
    }

    /** What is known when a connection starts; {@link #finish} adds the outcome. */
    public record Entry(String direction, String sourceAddress, String sourceWorkload, String sourcePrincipal,
                        String destinationAddress, String destinationWorkload, String destinationPrincipal,
                        String destinationService, String via) {

        Map<String, Object> finish(long sent, long received, Duration duration, String error) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("time", Instant.now().toString());
            m.put("direction", direction);
            m.put("src.addr", sourceAddress);
            m.put("src.workload", sourceWorkload);
            m.put("src.identity", sourcePrincipal);
            m.put("dst.addr", destinationAddress);
            m.put("dst.workload", destinationWorkload);
            m.put("dst.identity", destinationPrincipal);
            m.put("dst.service", destinationService);
            m.put("via", via);
            m.put("bytes_sent", sent);
            m.put("bytes_recv", received);
            m.put("duration_ms", duration.toMillis());
            m.put("error", error);
            return m;
        }
    }
}
