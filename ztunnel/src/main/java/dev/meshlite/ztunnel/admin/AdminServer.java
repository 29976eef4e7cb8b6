package dev.meshlite.ztunnel.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
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
import java.util.Comparator;
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
 */
public final class AdminServer implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

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
                JSON.writeValueAsString(dump(state.get(), pods, certs, xds.get()))));
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

    static ObjectNode dump(ProxyState s, WorkloadManager pods, CertificateManager certs, Map<String, Object> xds) {
        ObjectNode root = JSON.createObjectNode();
        root.set("xds", JSON.valueToTree(xds));
        ArrayNode served = root.putArray("pods");
        pods.served().forEach(p -> pod(served.addObject(), p, pods));
        // removed by the node agent, listeners still open until their drain ends
        ArrayNode draining = root.putArray("drainingPods");
        pods.draining().forEach(p -> pod(draining.addObject(), p, pods));
        ArrayNode workloads = root.putArray("workloads");
        s.workloads().stream().sorted(Comparator.comparing(Workload::namespace).thenComparing(Workload::name)).forEach(w -> {
            ObjectNode n = workloads.addObject();
            n.put("uid", w.uid()).put("name", w.name()).put("namespace", w.namespace()).put("node", w.node())
                    .put("identity", w.identity().uri()).put("workload", w.workloadName())
                    .put("protocol", w.hbone() ? "HBONE" : "NONE").put("healthy", w.healthy())
                    .put("peerAuthentication", w.peerAuthentication().mode().name());
            n.putObject("locality").put("region", w.locality().region()).put("zone", w.locality().zone())
                    .put("subzone", w.locality().subzone());
            ArrayNode ips = n.putArray("addresses");
            w.addresses().forEach(ip -> ips.add(ip.getHostAddress()));
            n.set("services", JSON.valueToTree(w.services()));
            n.set("policies", JSON.valueToTree(w.policies()));
            if (w.waypoint() != null) {
                n.put("waypoint", w.waypoint().address().getHostAddress() + ":" + w.waypoint().hbonePort());
            }
        });
        ArrayNode services = root.putArray("services");
        s.services().stream().sorted(Comparator.comparing(Service::key)).forEach(svc -> {
            ObjectNode n = services.addObject();
            n.put("name", svc.name()).put("namespace", svc.namespace()).put("hostname", svc.hostname())
                    .put("trafficDistribution", svc.trafficDistribution().name());
            ArrayNode ips = n.putArray("addresses");
            svc.addresses().stream().map(InetAddress::getHostAddress).forEach(ips::add);
            n.set("ports", JSON.valueToTree(svc.ports()));
            n.put("endpoints", s.endpoints(svc).size());
            if (svc.waypoint() != null) {
                n.put("waypoint", svc.waypoint().address().getHostAddress() + ":" + svc.waypoint().hbonePort());
            }
        });
        ArrayNode policies = root.putArray("policies");
        s.policies().stream().sorted(Comparator.comparing(Authorization::key)).forEach(p ->
                policies.add(JSON.valueToTree(Map.of("name", p.name(), "namespace", p.namespace(),
                        "scope", p.scope().name(), "action", p.action().name(), "rules", p.rules().toString()))));
        ArrayNode certificates = root.putArray("certificates");
        for (CertificateManager.HeldCertificate c : certs.snapshot()) {
            ObjectNode n = certificates.addObject();
            n.put("identity", c.identity().uri()).put("pods", c.pods())
                    .put("notBefore", c.certificate().notBefore().toString())
                    .put("expiry", c.certificate().notAfter().toString())
                    .put("chain", pem(c.certificate().chain()));
        }
        return root;
    }

    private static void pod(ObjectNode n, ServedPod p, WorkloadManager pods) {
        n.put("uid", p.info().uid()).put("name", p.info().name()).put("namespace", p.info().namespace())
                .put("ip", p.ip().getHostAddress()).put("identity", p.identity().uri())
                .put("netnsInode", p.netns().inode());
        ArrayNode ports = n.putArray("listening");
        pods.listening(p).forEach(ports::add);
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
