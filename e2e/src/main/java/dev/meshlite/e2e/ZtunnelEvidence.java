package dev.meshlite.e2e;

import dev.meshlite.e2e.cluster.Layout;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * What the demo reads from ztunnel to show who talked to whom: its access-log lines and its
 * Prometheus series, parsed, and waited for with a bound.
 */
public final class ZtunnelEvidence {

    private ZtunnelEvidence() {
    }

    // ---- ztunnel's access log ----

    /** One access-log line of a ztunnel: the file it is in, its text after the logger, its fields. */
    record AccessLine(String file, String text, Map<String, String> fields) {

        private static final String LOGGER = " access: ";

        /**
         * The access-log record in a ztunnel log line ({@code AccessLog}'s TEXT format: {@code
         * key=value} separated by spaces, a value with spaces in double quotes), or empty for any
         * other line.
         */
        static Optional<AccessLine> parse(String file, String line) {
            int at = line.indexOf(LOGGER);
            if (at < 0) {
                return Optional.empty();
            }
            String text = line.substring(at + LOGGER.length());
            Map<String, String> fields = new LinkedHashMap<>();
            int i = 0;
            while (i < text.length()) {
                int eq = text.indexOf('=', i);
                if (eq < 0) {
                    return Optional.empty();
                }
                String key = text.substring(i, eq);
                int end;
                String value;
                if (eq + 1 < text.length() && text.charAt(eq + 1) == '"') {
                    end = text.indexOf('"', eq + 2);
                    if (end < 0) {
                        return Optional.empty();
                    }
                    value = text.substring(eq + 2, end);
                    end++;
                } else {
                    end = text.indexOf(' ', eq);
                    end = end < 0 ? text.length() : end;
                    value = text.substring(eq + 1, end);
                }
                fields.put(key, value);
                i = end + 1;
            }
            return Optional.of(new AccessLine(file, text, fields));
        }

        Optional<Instant> time() {
            try {
                return Optional.ofNullable(fields.get("time")).map(Instant::parse);
            } catch (DateTimeParseException e) {
                return Optional.empty();
            }
        }
    }

    /**
     * Waits for an access-log line, logged at or after {@code from} by the ztunnel of one of
     * {@code nodes}, whose fields match; the latest one. A connection is logged when it ends, a
     * moment after the client saw its reply.
     */
    static AccessLine awaitAccessLine(Set<String> nodes, Instant from, Predicate<Map<String, String>> match,
                                              String what) throws Exception {
        Instant deadline = Instant.now().plusSeconds(10);
        while (true) {
            AccessLine found = null;
            for (String node : nodes) {
                Path log = Layout.logDir().resolve("ztunnel-" + node + ".log");
                if (!Files.exists(log)) {
                    continue;
                }
                for (String l : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                    Optional<AccessLine> a = AccessLine.parse(log.toString(), l);
                    if (a.isPresent() && a.get().time().map(t -> !t.isBefore(from)).orElse(false)
                            && match.test(a.get().fields())) {
                        found = a.get();
                    }
                }
            }
            if (found != null) {
                return found;
            }
            if (Instant.now().isAfter(deadline)) {
                throw new DemoFailure("no access-log line for " + what + " in " + Layout.logDir() + "/ztunnel-*.log after 10 s");
            }
            Thread.sleep(250);
        }
    }

    // ---- ztunnel's metrics ----

    /** One sample of a Prometheus text exposition, from the ztunnel of {@code node}. */
    public record Series(String node, String name, Map<String, String> labels, double value) {

        /** Parses {@code name{k="v",...} value [timestamp]}; empty for comments and blank lines. */
        public static Optional<Series> parse(String node, String line) {
            if (line.isBlank() || line.startsWith("#")) {
                return Optional.empty();
            }
            Map<String, String> labels = new LinkedHashMap<>();
            int brace = line.indexOf('{');
            int space = line.indexOf(' ');
            String name;
            int rest;
            if (brace >= 0 && (space < 0 || brace < space)) {
                name = line.substring(0, brace);
                int i = brace + 1;
                while (line.charAt(i) != '}') {
                    int eq = line.indexOf('=', i);
                    if (eq < 0 || line.charAt(eq + 1) != '"') {
                        throw new IllegalArgumentException("label at " + i + " (expected: name=\"value\"): " + line);
                    }
                    StringBuilder value = new StringBuilder();
                    int j = eq + 2;
                    for (char c; (c = line.charAt(j)) != '"'; j++) {
                        if (c == '\\') {
                            c = line.charAt(++j);
                            value.append(c == 'n' ? '\n' : c);
                        } else {
                            value.append(c);
                        }
                    }
                    labels.put(line.substring(i, eq).strip(), value.toString());
                    i = j + 1;
                    if (line.charAt(i) == ',') {
                        i++;
                    }
                }
                rest = i + 1;
            } else if (space > 0) {
                name = line.substring(0, space);
                rest = space;
            } else {
                throw new IllegalArgumentException("no value (expected: name{labels} value): " + line);
            }
            String value = line.substring(rest).strip().split(" ")[0];
            double v = switch (value) {
                case "+Inf" -> Double.POSITIVE_INFINITY;
                case "-Inf" -> Double.NEGATIVE_INFINITY;
                default -> Double.parseDouble(value);
            };
            return Optional.of(new Series(node, name, Map.copyOf(labels), v));
        }

        public boolean is(String metric) {
            return name.equals(metric);
        }

        public boolean has(String label, String value) {
            return value.equals(labels.get(label));
        }

        /** Identity of the series within its node, for differences between two scrapes. */
        String key() {
            return node + " " + name + new TreeMap<>(labels);
        }

        /** The sample with only {@code keys} among its labels, the rest elided. */
        String show(String... keys) {
            StringBuilder sb = new StringBuilder(name).append('{');
            for (String k : keys) {
                if (labels.containsKey(k)) {
                    sb.append(k).append("=\"").append(labels.get(k)).append("\",");
                }
            }
            return sb.append("...} ").append(count(value)).toString();
        }

        private static String count(double v) {
            return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
        }
    }

    /** What every node's ztunnel exposed on :15020/metrics at one moment. */
    record Scrape(List<Series> all) {

        static String url(String node) {
            return "http://" + Layout.nodeIp(Layout.nodeIndex(node)) + ":15020/metrics";
        }

        static Scrape of(KubernetesClient client) throws Exception {
            List<Series> all = new ArrayList<>();
            try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build()) {
                for (var n : client.nodes().list().getItems()) {
                    String node = n.getMetadata().getName();
                    HttpResponse<String> r;
                    try {
                        r = http.send(HttpRequest.newBuilder(URI.create(url(node))).timeout(Duration.ofSeconds(5)).build(),
                                HttpResponse.BodyHandlers.ofString());
                    } catch (IOException e) {
                        throw new DemoFailure("cannot read ztunnel's metrics on " + node + " at " + url(node) + ": " + e);
                    }
                    if (r.statusCode() != 200) {
                        throw new DemoFailure(url(node) + " answered " + r.statusCode());
                    }
                    for (String line : r.body().lines().toList()) {
                        try {
                            Series.parse(node, line).ifPresent(all::add);
                        } catch (RuntimeException e) {
                            throw new DemoFailure("unreadable line in " + url(node) + ": " + e.getMessage());
                        }
                    }
                }
            }
            return new Scrape(List.copyOf(all));
        }

        List<Series> series(Predicate<Series> match) {
            return all.stream().filter(match).toList();
        }

        /** How much the matching counters grew since {@code before} (a series absent then counts from 0). */
        long since(Scrape before, Predicate<Series> match) {
            Map<String, Double> then = new TreeMap<>();
            before.series(match).forEach(s -> then.put(s.key(), s.value()));
            double grew = 0;
            for (Series s : series(match)) {
                grew += s.value() - then.getOrDefault(s.key(), 0.0);
            }
            return Math.round(grew);
        }
    }
}
