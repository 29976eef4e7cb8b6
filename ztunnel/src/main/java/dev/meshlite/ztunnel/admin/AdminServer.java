package dev.meshlite.ztunnel.admin;

import dev.meshlite.cni.json.Json;
import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.ztunnel.identity.CertificateManager;
import dev.meshlite.ztunnel.inpod.WorkloadManager;
import dev.meshlite.ztunnel.logging.LogLevels;
import dev.meshlite.ztunnel.proxy.PodDirectory.ServedPod;
import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Workload;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpMethod;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's own HTTP endpoints, on the proxy's event loops ({@link HttpEndpoints}), every answer
 * made on the one {@code ztunnel-admin} thread:
 *
 * <ul>
 *   <li>the admin address (127.0.0.1:15000: it shows certificates and policies, so only local
 *       callers): {@code /config_dump} with the workloads, services and policies held, the pods
 *       served with their listeners (and apart, under {@code drainingPods}, removed pods whose
 *       listeners stay open until their drain ends), and every certificate chain as PEM with its
 *       expiry; {@code /logging} (GET: the levels set; POST {@code ?level=...}: change them, see
 *       {@link LogLevels}); {@code /healthz/ready};</li>
 *   <li>the metrics address (:15020): {@code /metrics} and {@code /stats/prometheus} (Istio's path
 *       for the same), Prometheus text or OpenMetrics as the scraper's {@code Accept} asks;</li>
 *   <li>the readiness address (:15021): {@code /healthz/ready}, 200 once xDS is synced and the
 *       node agent connected, else 503 with the reason.</li>
 * </ul>
 *
 * <p>The dump is indented JSON ({@link Json#writeIndented}, the form Jackson's pretty printer gave
 * it before): people and scripts read it and grep it (e.g. {@code "ip" : "10.244.1.5"}).
 */
public final class AdminServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(AdminServer.class);

    /** Readiness and the reason when not ready. */
    public interface Readiness {
        String notReadyReason(); // null when ready
    }

    /** Where each set of endpoints listens; port 0 picks one. */
    public record Addresses(InetSocketAddress admin, InetSocketAddress metrics, InetSocketAddress readiness) {}

    private final ExecutorService executor;
    private final List<HttpEndpoints> listeners = new ArrayList<>();
    private final HttpEndpoints admin;
    private final HttpEndpoints metrics;
    private final HttpEndpoints readiness;

    public AdminServer(Addresses addresses, Transport transport, EventLoopGroup group, PrometheusRegistry registry,
                       Supplier<ProxyState> state, WorkloadManager pods, CertificateManager certs,
                       Supplier<Map<String, Object>> xds, Readiness ready) throws InterruptedException {
        executor = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("ztunnel-admin").daemon().factory());
        HttpEndpoints.Handler healthz = request -> ready(ready);
        HttpEndpoints.Handler scrape = scrape(registry);
        LogLevels levels = LogLevels.ofProcess();
        Map<String, HttpEndpoints.Handler> adminRoutes = new LinkedHashMap<>();
        adminRoutes.put("/config_dump", request -> HttpEndpoints.Response.json(200,
                Json.writeIndented(dump(state.get(), pods, certs, xds.get()))));
        adminRoutes.put("/healthz/ready", healthz);
        adminRoutes.put("/logging", request -> logging(levels, request));
        try {
            admin = listen(addresses.admin(), transport, group, adminRoutes);
            metrics = listen(addresses.metrics(), transport, group, Map.of("/metrics", scrape,
                    "/stats/prometheus", scrape));
            readiness = listen(addresses.readiness(), transport, group, Map.of("/healthz/ready", healthz));
        } catch (Exception | Error e) {
            close(); // what bound already is released; the caller sees the failure
            throw e;
        }
    }

    private HttpEndpoints listen(InetSocketAddress address, Transport transport, EventLoopGroup group,
                                 Map<String, HttpEndpoints.Handler> routes) throws InterruptedException {
        HttpEndpoints endpoints = HttpEndpoints.bind(address, transport, group, executor, routes);
        listeners.add(endpoints);
        return endpoints;
    }

    public int adminPort() {
        return admin.localAddress().getPort();
    }

    public int metricsPort() {
        return metrics.localAddress().getPort();
    }

    public int readinessPort() {
        return readiness.localAddress().getPort();
    }

    private static HttpEndpoints.Response ready(Readiness ready) {
        String why = ready.notReadyReason();
        return HttpEndpoints.Response.text(why == null ? 200 : 503, why == null ? "ready\n" : "not ready: " + why + "\n");
    }

    /** Text or OpenMetrics as {@code Accept} asks; protobuf is not offered (the text writers only). */
    static HttpEndpoints.Handler scrape(PrometheusRegistry registry) {
        ExpositionFormats formats = ExpositionFormats.init();
        return request -> {
            ExpositionFormatWriter writer = formats.findWriter(request.accept());
            if (!writer.isAvailable()) {
                writer = formats.getPrometheusTextFormatWriter();
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream(16 * 1024);
            writer.write(out, registry.scrape());
            return new HttpEndpoints.Response(200, writer.getContentType(), out.toByteArray());
        };
    }

    static HttpEndpoints.Response logging(LogLevels levels, HttpEndpoints.Request request) {
        if (levels == null) {
            return HttpEndpoints.Response.text(501, "logging is not configured through logback here\n");
        }
        if (HttpMethod.POST.equals(request.method())) {
            try {
                levels.apply(request.parameter("level"));
            } catch (IllegalArgumentException e) {
                return HttpEndpoints.Response.text(400, e.getMessage() + "\n");
            }
            LOG.info("log levels now {}", levels.levels());
        } else if (!HttpMethod.GET.equals(request.method())) {
            return HttpEndpoints.Response.text(405, "GET /logging, or POST /logging?level=LEVEL,logger=LEVEL,...\n");
        }
        return HttpEndpoints.Response.json(200, Json.writeIndented(new LinkedHashMap<>(levels.levels())));
    }

    static Map<String, Object> dump(ProxyState s, WorkloadManager pods, CertificateManager certs,
                                    Map<String, Object> xds) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("xds", xds);
        root.put("pods", pods.served().stream().map(p -> pod(p, pods.listening(p))).toList());
        // removed by the node agent, listeners still open until their drain ends
        root.put("drainingPods", pods.draining().stream().map(p -> pod(p, pods.listening(p))).toList());
        List<Object> workloads = new ArrayList<>();
        s.workloads().stream().sorted(Comparator.comparing(Workload::namespace).thenComparing(Workload::name)).forEach(w -> {
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("uid", w.uid());
            n.put("name", w.name());
            n.put("namespace", w.namespace());
            n.put("node", w.node());
            n.put("identity", w.identity().uri());
            n.put("workload", w.workloadName());
            n.put("protocol", w.hbone() ? "HBONE" : "NONE");
            n.put("healthy", w.healthy());
            n.put("peerAuthentication", w.peerAuthentication().mode().name());
            Map<String, Object> locality = new LinkedHashMap<>();
            locality.put("region", w.locality().region());
            locality.put("zone", w.locality().zone());
            locality.put("subzone", w.locality().subzone());
            n.put("locality", locality);
            n.put("addresses", w.addresses().stream().map(InetAddress::getHostAddress).toList());
            n.put("services", w.services());
            n.put("policies", w.policies());
            if (w.waypoint() != null) {
                n.put("waypoint", w.waypoint().address().getHostAddress() + ":" + w.waypoint().hbonePort());
            }
            workloads.add(n);
        });
        root.put("workloads", workloads);
        List<Object> services = new ArrayList<>();
        s.services().stream().sorted(Comparator.comparing(Service::key)).forEach(svc -> {
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("name", svc.name());
            n.put("namespace", svc.namespace());
            n.put("hostname", svc.hostname());
            n.put("trafficDistribution", svc.trafficDistribution().name());
            n.put("addresses", svc.addresses().stream().map(InetAddress::getHostAddress).toList());
            n.put("ports", svc.ports());
            n.put("endpoints", s.endpoints(svc).size());
            if (svc.waypoint() != null) {
                n.put("waypoint", svc.waypoint().address().getHostAddress() + ":" + svc.waypoint().hbonePort());
            }
            services.add(n);
        });
        root.put("services", services);
        List<Object> policies = new ArrayList<>();
        s.policies().stream().sorted(Comparator.comparing(Authorization::key)).forEach(p -> {
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("name", p.name());
            n.put("namespace", p.namespace());
            n.put("scope", p.scope().name());
            n.put("action", p.action().name());
            n.put("rules", p.rules().toString());
            policies.add(n);
        });
        root.put("policies", policies);
        List<Object> certificates = new ArrayList<>();
        for (CertificateManager.HeldCertificate c : certs.snapshot()) {
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("identity", c.identity().uri());
            n.put("pods", c.pods());
            n.put("notBefore", c.certificate().notBefore().toString());
            n.put("expiry", c.certificate().notAfter().toString());
            n.put("chain", pem(c.certificate().chain()));
            certificates.add(n);
        }
        root.put("certificates", certificates);
        return root;
    }

    static Map<String, Object> pod(ServedPod p, List<Integer> listening) {
        Map<String, Object> n = new LinkedHashMap<>();
        n.put("uid", p.info().uid());
        n.put("name", p.info().name());
        n.put("namespace", p.info().namespace());
        n.put("ip", p.ip().getHostAddress());
        n.put("identity", p.identity().uri());
        n.put("netnsInode", p.netns().inode());
        n.put("listening", listening);
        return n;
    }

    static String pem(java.util.List<java.security.cert.X509Certificate> chain) {
        StringBuilder sb = new StringBuilder();
        java.util.Base64.Encoder b64 = java.util.Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII));
        for (var cert : chain) {
            try {
                sb.append("-----BEGIN CERTIFICATE-----\n").append(b64.encodeToString(cert.getEncoded()))
                        .append("\n-----END CERTIFICATE-----\n");
            } catch (java.security.cert.CertificateEncodingException e) {
                sb.append("# unencodable certificate: ").append(e.getMessage()).append('\n');
            }
        }
        return sb.toString();
    }

    @Override
    public void close() {
        for (HttpEndpoints listener : listeners) {
            listener.close();
        }
        executor.shutdownNow();
    }
}
