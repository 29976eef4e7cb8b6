package dev.meshlite.ztunnel.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.meshlite.cni.json.Json;
import dev.meshlite.ztunnel.identity.CertificateManager;
import dev.meshlite.ztunnel.inpod.WorkloadManager;
import dev.meshlite.ztunnel.proxy.PodDirectory.ServedPod;
import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Workload;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The admin endpoints, on their own threads (never an event loop): {@code /config_dump} on the
 * admin address (127.0.0.1:15000: it shows certificates and policies, so only local callers) with
 * the workloads, services and policies held, the pods served with their listeners (and apart,
 * under {@code drainingPods}, removed pods whose listeners stay open until their drain ends), and
 * every certificate chain as PEM with its expiry; {@code /healthz/ready} on the readiness port
 * (15021), 200 once xDS is synced and the node agent connected, else 503 with the reason.
 *
 * <p>The dump is indented JSON ({@link Json#writeIndented}, the form Jackson's pretty printer gave
 * it before): people and scripts read it and grep it (e.g. {@code "ip" : "10.244.1.5"}).
 */
public final class AdminServer implements AutoCloseable {

    /** Readiness and the reason when not ready. */
    public interface Readiness {
        String notReadyReason(); // null when ready
    }

    private final HttpServer admin;
    private final HttpServer readiness;

    public AdminServer(InetSocketAddress adminAddress, InetSocketAddress readinessAddress, Supplier<ProxyState> state,
                       WorkloadManager pods, CertificateManager certs, Supplier<Map<String, Object>> xds,
                       Readiness ready) throws IOException {
        admin = HttpServer.create(adminAddress, 16);
        admin.setExecutor(Executors.newSingleThreadExecutor(Thread.ofPlatform().name("ztunnel-admin").daemon().factory()));
        admin.createContext("/config_dump", ex -> reply(ex, 200, "application/json",
                Json.writeIndented(dump(state.get(), pods, certs, xds.get()))));
        admin.createContext("/healthz/ready", ex -> ready(ex, ready));
        admin.createContext("/", ex -> reply(ex, 404, "text/plain", "endpoints: /config_dump /healthz/ready\n"));
        readiness = HttpServer.create(readinessAddress, 16);
        readiness.setExecutor(admin.getExecutor());
        readiness.createContext("/healthz/ready", ex -> ready(ex, ready));
        admin.start();
        readiness.start();
    }

    public int adminPort() {
        return admin.getAddress().getPort();
    }

    public int readinessPort() {
        return readiness.getAddress().getPort();
    }

    private static void ready(HttpExchange ex, Readiness ready) throws IOException {
        String why = ready.notReadyReason();
        reply(ex, why == null ? 200 : 503, "text/plain", why == null ? "ready\n" : "not ready: " + why + "\n");
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

    private static void reply(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        admin.stop(0);
        readiness.stop(0);
        ((java.util.concurrent.ExecutorService) admin.getExecutor()).shutdownNow();
    }
}
