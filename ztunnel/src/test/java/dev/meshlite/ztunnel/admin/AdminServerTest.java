package dev.meshlite.ztunnel.admin;

import static dev.meshlite.ztunnel.Fixtures.id;
import static dev.meshlite.ztunnel.Fixtures.ip;
import static dev.meshlite.ztunnel.Fixtures.placed;
import static dev.meshlite.ztunnel.Fixtures.pod;
import static dev.meshlite.ztunnel.Fixtures.policy;
import static dev.meshlite.ztunnel.Fixtures.preferClose;
import static dev.meshlite.ztunnel.Fixtures.service;
import static dev.meshlite.ztunnel.Fixtures.withPolicies;
import static dev.meshlite.ztunnel.Fixtures.withServices;
import static dev.meshlite.ztunnel.Fixtures.withWaypoint;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.meshlite.cni.handoff.PodInfo;
import dev.meshlite.cni.json.Json;
import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.CertificateSource;
import dev.meshlite.istiod.ca.client.RenewalScheduler;
import dev.meshlite.istiod.ca.client.WorkloadCertificates;
import dev.meshlite.ztunnel.identity.CertificateManager;
import dev.meshlite.ztunnel.inpod.WorkloadManager;
import dev.meshlite.ztunnel.proxy.PodDirectory.ServedPod;
import dev.meshlite.ztunnel.socket.Netns;
import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Waypoint;
import dev.meshlite.ztunnel.state.Workload;
import io.netty.channel.EventLoopGroup;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * {@code /config_dump}: its members, their order and their indented form, the form people and
 * scripts read (e2e and benchmarks grep {@code "ip" : "<pod IP>"}). The expected text is what the
 * dump was when Jackson wrote it.
 */
class AdminServerTest {

    static final TestCa CA = TestCa.create("cluster.local");
    static final ObjectMapper JACKSON = new ObjectMapper();
    static EventLoopGroup GROUP;

    @BeforeAll
    static void loops() {
        GROUP = Transport.select().newEventLoopGroup(1, "admin-test");
    }

    @AfterAll
    static void stopLoops() {
        GROUP.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    static ProxyState state() {
        Waypoint waypoint = new Waypoint(ip("10.244.0.9"), 15008, id("data", "waypoint"));
        Workload web = withPolicies(withServices(placed(pod("web-0", "shop", "10.244.1.5", "web"), "node-1", "eu",
                "eu-1a", ""), Map.of("shop/web.shop.svc.cluster.local", Map.of(80, 8080))), List.of("shop/allow-web"));
        Workload db = withWaypoint(pod("db-0", "data", "10.244.2.7", "db"), waypoint);
        Service webService = preferClose(service("web", "shop", "10.96.0.10", Map.of(80, 8080)));
        Service dbService = withWaypoint(service("db", "data", "10.96.0.11", Map.of(5432, 5432)), waypoint);
        Authorization allow = policy("allow-web", "shop", Authorization.Scope.NAMESPACE, Authorization.Action.ALLOW);
        return ProxyState.of(List.of(web, db), List.of(webService, dbService), List.of(allow));
    }

    static Map<String, Object> xds(Double secondsSinceLastUpdate, Map<String, Integer> resources) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("connected", true);
        m.put("synced", true);
        m.put("secondsSinceLastUpdate", secondsSinceLastUpdate);
        m.put("resources", resources);
        return m;
    }

    static WorkloadCertificates certificates() {
        CertificateSource source = id -> new CertificateSource.Fetched(CA.issue(id), CA.bundle());
        return new WorkloadCertificates(source, RenewalScheduler.singleThread("test-certificates"),
                InstantSource.system(), RandomGenerator.getDefault(), Backoff.DEFAULT);
    }

    static WorkloadManager noPods() {
        return new WorkloadManager("cluster.local", () -> null, () -> null, Duration.ZERO);
    }

    @Test
    void theDumpListsTheStateInItsOrderAndForm() throws Exception {
        try (WorkloadCertificates certs = certificates()) {
            String dump = Json.writeIndented(AdminServer.dump(state(), noPods(), new CertificateManager(certs,
                    "cluster.local"), xds(1.5, Map.of("workloads", 2))));
            assertEquals("""
                    {
                      "xds" : {
                        "connected" : true,
                        "synced" : true,
                        "secondsSinceLastUpdate" : 1.5,
                        "resources" : {
                          "workloads" : 2
                        }
                      },
                      "pods" : [ ],
                      "drainingPods" : [ ],
                      "workloads" : [ {
                        "uid" : "uid-db-0",
                        "name" : "db-0",
                        "namespace" : "data",
                        "node" : "node-1",
                        "identity" : "spiffe://cluster.local/ns/data/sa/db",
                        "workload" : "db-0",
                        "protocol" : "HBONE",
                        "healthy" : true,
                        "peerAuthentication" : "PERMISSIVE",
                        "locality" : {
                          "region" : "",
                          "zone" : "",
                          "subzone" : ""
                        },
                        "addresses" : [ "10.244.2.7" ],
                        "services" : { },
                        "policies" : [ ],
                        "waypoint" : "10.244.0.9:15008"
                      }, {
                        "uid" : "uid-web-0",
                        "name" : "web-0",
                        "namespace" : "shop",
                        "node" : "node-1",
                        "identity" : "spiffe://cluster.local/ns/shop/sa/web",
                        "workload" : "web-0",
                        "protocol" : "HBONE",
                        "healthy" : true,
                        "peerAuthentication" : "PERMISSIVE",
                        "locality" : {
                          "region" : "eu",
                          "zone" : "eu-1a",
                          "subzone" : ""
                        },
                        "addresses" : [ "10.244.1.5" ],
                        "services" : {
                          "shop/web.shop.svc.cluster.local" : {
                            "80" : 8080
                          }
                        },
                        "policies" : [ "shop/allow-web" ]
                      } ],
                      "services" : [ {
                        "name" : "db",
                        "namespace" : "data",
                        "hostname" : "db.data.svc.cluster.local",
                        "trafficDistribution" : "ANY",
                        "addresses" : [ "10.96.0.11" ],
                        "ports" : {
                          "5432" : 5432
                        },
                        "endpoints" : 0,
                        "waypoint" : "10.244.0.9:15008"
                      }, {
                        "name" : "web",
                        "namespace" : "shop",
                        "hostname" : "web.shop.svc.cluster.local",
                        "trafficDistribution" : "PREFER_CLOSE",
                        "addresses" : [ "10.96.0.10" ],
                        "ports" : {
                          "80" : 8080
                        },
                        "endpoints" : 1
                      } ],
                      "policies" : [ {
                        "name" : "allow-web",
                        "namespace" : "shop",
                        "scope" : "NAMESPACE",
                        "action" : "ALLOW",
                        "rules" : "[Rule[clauses=[Clause[matches=[]]]]]"
                      } ],
                      "certificates" : [ ]
                    }""", dump);
        }
    }

    @Test
    void anEmptyProxyDumpsEmptyContainersAndANullAge() throws Exception {
        try (WorkloadCertificates certs = certificates()) {
            assertEquals("""
                    {
                      "xds" : {
                        "connected" : true,
                        "synced" : true,
                        "secondsSinceLastUpdate" : null,
                        "resources" : { }
                      },
                      "pods" : [ ],
                      "drainingPods" : [ ],
                      "workloads" : [ ],
                      "services" : [ ],
                      "policies" : [ ],
                      "certificates" : [ ]
                    }""", Json.writeIndented(AdminServer.dump(ProxyState.EMPTY, noPods(),
                    new CertificateManager(certs, "cluster.local"), xds(null, Map.of()))));
        }
    }

    @Test
    void aServedPodIsListedWithItsIpInTheFormScriptsGrep() {
        SpiffeId identity = id("shop", "web");
        InetAddress address = ip("10.244.1.5");
        try (Netns netns = Netns.open(Path.of("/proc/self/ns/net"))) {
            ServedPod pod = new ServedPod() {
                @Override
                public PodInfo info() {
                    return new PodInfo("u-1", "web-0", "shop", "web", List.of("10.244.1.5"));
                }

                @Override
                public SpiffeId identity() {
                    return identity;
                }

                @Override
                public Netns netns() {
                    return netns;
                }

                @Override
                public InetAddress ip() {
                    return address;
                }

                @Override
                public Workload workload(ProxyState state) {
                    return null;
                }
            };
            assertEquals("""
                    {
                      "uid" : "u-1",
                      "name" : "web-0",
                      "namespace" : "shop",
                      "ip" : "10.244.1.5",
                      "identity" : "spiffe://cluster.local/ns/shop/sa/web",
                      "netnsInode" : %d,
                      "listening" : [ 15001, 15006 ]
                    }""".formatted(netns.inode()), Json.writeIndented(AdminServer.pod(pod, List.of(15001, 15006))));
        }
    }

    @Test
    void configDumpOverHttpWithAHeldCertificate() throws Exception {
        SpiffeId identity = CA.id("shop", "web");
        try (WorkloadCertificates certs = certificates()) {
            CertificateManager manager = new CertificateManager(certs, "cluster.local");
            manager.acquire(identity);
            manager.server(identity).get(10, TimeUnit.SECONDS);
            try (AdminServer admin = server(new PrometheusRegistry(), manager, () -> "warming up");
                 HttpClient http = HttpClient.newHttpClient()) {
                HttpResponse<String> r = get(http, admin.adminPort(), "/config_dump", null);
                assertEquals(200, r.statusCode());
                assertEquals("application/json", r.headers().firstValue("Content-Type").orElseThrow());
                JsonNode dump = JACKSON.readTree(r.body());
                JsonNode held = dump.path("certificates").path(0);
                assertEquals(identity.uri(), held.path("identity").textValue());
                assertTrue(held.path("pods").isInt() && held.path("pods").intValue() == 1, held.toString());
                assertTrue(held.path("chain").textValue().startsWith("-----BEGIN CERTIFICATE-----\n"), held.toString());
                assertTrue(dump.path("xds").path("secondsSinceLastUpdate").isDouble(), dump.path("xds").toString());

                HttpResponse<String> ready = get(http, admin.readinessPort(), "/healthz/ready", null);
                assertEquals(503, ready.statusCode());
                assertEquals("not ready: warming up\n", ready.body());
            }
        }
    }

    @Test
    void metricsOnBothPathsInTheFormTheScraperAsks() throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        Counter opened = Counter.builder().name("istio_tcp_connections_opened_total").labelNames("reporter").register(registry);
        opened.labelValues("destination").inc(3);
        try (WorkloadCertificates certs = certificates();
             AdminServer admin = server(registry, new CertificateManager(certs, "cluster.local"), () -> null);
             HttpClient http = HttpClient.newHttpClient()) {
            for (String path : List.of("/metrics", "/stats/prometheus")) {
                HttpResponse<String> text = get(http, admin.metricsPort(), path, null);
                assertEquals(200, text.statusCode(), path);
                assertEquals("text/plain; version=0.0.4; charset=utf-8", text.headers().firstValue("Content-Type").orElseThrow());
                assertTrue(text.body().contains("istio_tcp_connections_opened_total{reporter=\"destination\"} 3.0\n"),
                        text.body());
            }
            HttpResponse<String> open = get(http, admin.metricsPort(), "/metrics",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8");
            assertTrue(open.headers().firstValue("Content-Type").orElseThrow().startsWith("application/openmetrics-text"),
                    open.headers().toString());
            assertTrue(open.body().endsWith("# EOF\n"), open.body());
            // a scraper preferring protobuf gets text: only the text writers are on ztunnel's classpath
            HttpResponse<String> protobuf = get(http, admin.metricsPort(), "/metrics",
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited");
            assertEquals(200, protobuf.statusCode());
            assertTrue(protobuf.body().contains("istio_tcp_connections_opened_total{"), protobuf.body());

            assertEquals(200, get(http, admin.readinessPort(), "/healthz/ready", null).statusCode());
            assertEquals(404, get(http, admin.readinessPort(), "/config_dump", null).statusCode(),
                    "the dump is on the admin address only");
            assertEquals(404, get(http, admin.metricsPort(), "/config_dump", null).statusCode());
        }
    }

    @Test
    void logLevelsChangeOverHttpWholeOrNotAtAll() throws Exception {
        String name = "dev.meshlite.ztunnel.admin.test-logger";
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(name);
        try (WorkloadCertificates certs = certificates();
             AdminServer admin = server(new PrometheusRegistry(), new CertificateManager(certs, "cluster.local"), () -> null);
             HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> set = post(http, admin.adminPort(), "/logging?level=" + name + "=debug");
            assertEquals(200, set.statusCode(), set.body());
            assertEquals(Level.DEBUG, logger.getLevel());
            assertEquals("DEBUG", JACKSON.readTree(get(http, admin.adminPort(), "/logging", null).body()).path(name).textValue());

            HttpResponse<String> bad = post(http, admin.adminPort(), "/logging?level=" + name + "=warn,loud");
            assertEquals(400, bad.statusCode());
            assertTrue(bad.body().startsWith("\"loud\": expected LEVEL or logger=LEVEL"), bad.body());
            assertEquals(Level.DEBUG, logger.getLevel(), "a list with a bad entry changes nothing");

            assertEquals(400, post(http, admin.adminPort(), "/logging").statusCode(), "no level given");
            HttpResponse<String> put = http.send(HttpRequest.newBuilder(uri(admin.adminPort(), "/logging"))
                    .PUT(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, put.statusCode());
        } finally {
            logger.setLevel(null);
        }
    }

    static AdminServer server(PrometheusRegistry registry, CertificateManager certs, AdminServer.Readiness ready)
            throws InterruptedException {
        InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        return new AdminServer(new AdminServer.Addresses(loopback, loopback, loopback), Transport.select(), GROUP,
                registry, () -> ProxyState.EMPTY, noPods(), certs, () -> xds(0.25, Map.of()), ready);
    }

    static URI uri(int port, String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    static HttpResponse<String> get(HttpClient http, int port, String path, String accept) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri(port, path));
        if (accept != null) {
            request.header("Accept", accept);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(HttpClient http, int port, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(uri(port, path)).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
