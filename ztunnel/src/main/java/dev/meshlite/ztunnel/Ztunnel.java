package dev.meshlite.ztunnel;

import dev.meshlite.cni.handoff.HandoffClient;
import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.client.HboneClientConfig;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.server.HboneServerConfig;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.istiod.api.xds.v1.Node;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.GrpcCertificateSource;
import dev.meshlite.istiod.ca.client.RenewalScheduler;
import dev.meshlite.istiod.ca.client.WorkloadCertificates;
import dev.meshlite.istiod.xds.client.XdsClient;
import dev.meshlite.ztunnel.admin.AdminServer;
import dev.meshlite.ztunnel.config.ZtunnelConfig;
import dev.meshlite.ztunnel.dns.DnsProxy;
import dev.meshlite.ztunnel.identity.CertificateManager;
import dev.meshlite.ztunnel.inpod.WorkloadManager;
import dev.meshlite.ztunnel.metrics.AccessLog;
import dev.meshlite.ztunnel.metrics.AotCache;
import dev.meshlite.ztunnel.metrics.ProcessMetrics;
import dev.meshlite.ztunnel.metrics.TcpMetrics;
import dev.meshlite.ztunnel.metrics.TunnelMetrics;
import dev.meshlite.ztunnel.proxy.Dial;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.proxy.inbound.HboneInbound;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.xds.StateUpdater;
import dev.meshlite.istiod.grpc.GrpcChannel;
import io.netty.channel.EventLoopGroup;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ztunnel: wires the parts together from one {@link ZtunnelConfig}.
 *
 * <p>Threads: the event loops (epoll, one per core) carry every socket, the pods' and ztunnel's
 * own (the gRPC channel to istiod-lite, the admin, metrics and readiness listeners); the xDS
 * client, the certificate renewal, the node-agent handoff and the admin endpoints' answers each
 * have their own thread, so control work never runs on an event loop.
 *
 * <p>Epoll is required: in-pod mode needs socket marks and the descriptors of accepted sockets
 * (for SO_ORIGINAL_DST), which the epoll transport exposes.
 */
public final class Ztunnel implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Ztunnel.class);

    private final ZtunnelConfig config;
    private final EventLoopGroup group;
    private final GrpcChannel controlPlane;
    private final WorkloadCertificates certificates;
    private final XdsClient xds;
    private final WorkloadManager pods;
    private final HboneClient hboneClient;
    private final HboneServer hboneServer;
    private final HandoffClient handoff;
    private final AdminServer admin;
    private final TcpMetrics metrics;
    private final DnsProxy dns;
    private final AtomicReference<ProxyState> state = new AtomicReference<>(ProxyState.EMPTY);
    /** Done once {@link Warmup} ran: ready waits for it, so a node's first pod finds a warm path. */
    private final java.util.concurrent.CompletableFuture<Void> warmedUp = new java.util.concurrent.CompletableFuture<>();

    private Ztunnel(ZtunnelConfig config) throws Exception {
        this.config = config;
        Transport transport = Transport.EPOLL;
        if (!transport.isAvailable()) {
            throw new IllegalStateException("the epoll transport is not available here (in-pod mode needs it)");
        }
        group = transport.newEventLoopGroup(0, "ztunnel");
        PrometheusRegistry registry = new PrometheusRegistry();
        metrics = new TcpMetrics(registry, new AccessLog(config.accessLogFormat()));

        TrustBundle controlPlaneRoots = TrustBundle.fromPemFile(config.caRoot());
        controlPlane = GrpcCertificateSource.channel(config.controlPlane().getHostString(), config.controlPlane().getPort(),
                controlPlaneRoots, config.caAuthority(), group, transport.socketChannel());
        java.util.function.Supplier<String> token = () -> {
            try {
                return Files.readString(config.tokenFile(), StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                throw new UncheckedIOException("token file " + config.tokenFile(), e);
            }
        };
        GrpcCertificateSource ca = new GrpcCertificateSource(controlPlane, token, config.certificateTtl(),
                Duration.ofSeconds(10));
        // Beside the rest of start-up (xDS, the agent's snapshot): its own platform thread.
        Thread.ofPlatform().name("ztunnel-warmup").daemon().start(() -> {
            try {
                Warmup.run(ca, config.trustDomain(), transport, group);
            } finally {
                warmedUp.complete(null);
            }
        });
        certificates = new WorkloadCertificates(ca,
                RenewalScheduler.singleThread("ztunnel-certificates"), InstantSource.system(),
                RandomGenerator.getDefault(), Backoff.DEFAULT);
        certificates.register(registry);
        CertificateManager certs = new CertificateManager(certificates, config.trustDomain());

        AtomicReference<ProxyInputs> inputs = new AtomicReference<>();
        AtomicReference<HboneServer> server = new AtomicReference<>();
        pods = new WorkloadManager(config.trustDomain(), inputs::get, server::get, config.podDrain());
        pods.register(registry);
        java.nio.file.Path self = java.nio.file.Path.of("/proc/self");
        new ProcessMetrics(self).register(registry);
        AotCache aotCache = AotCache.read(self);
        aotCache.register(registry);
        HboneMetrics hboneMetrics = new HboneMetrics();
        TunnelMetrics.register(registry, hboneMetrics);
        hboneClient = HboneClient.create(HboneClientConfig.defaults(), certs::clientNow, hboneMetrics, transport, group,
                (key, b) -> key.sourceIp() == null ? b : pods.byIp(key.sourceIp())
                        .map(p -> Dial.fromPod(b, p.netns(), transport.socketChannel()))
                        .orElseThrow(() -> new IllegalStateException("no pod " + key.sourceIp().getHostAddress()
                                + " served here")));
        dns = config.dnsCapture() ? DnsProxy.start(state::get, config.clusterDomain(), config.dnsUpstreams(),
                transport, group, registry) : null;
        inputs.set(new ProxyInputs(config.cluster(), state, certs, hboneClient, metrics, transport, group, pods, dns));
        hboneServer = HboneServer.start(new HboneServerConfig(null, Duration.ofSeconds(10), Duration.ofSeconds(10)),
                null, new HboneInbound(inputs.get()), hboneMetrics, transport, group);
        server.set(hboneServer);

        xds = new XdsClient(controlPlane, token,
                Node.newBuilder().setId("ztunnel~" + config.node()).setRole("ztunnel").setNodeName(config.node()).build(),
                StateUpdater.TYPES, new StateUpdater(state, s -> LOG.debug("state: {} workloads, {} services, {} policies",
                        s.workloads().size(), s.services().size(), s.policies().size())),
                Backoff.DEFAULT, InstantSource.system());
        xds.register(registry);
        xds.start();

        if (config.dedicatedPod() != null) {
            pods.serve(config.dedicatedPod(), dev.meshlite.ztunnel.socket.Netns.open(java.nio.file.Path.of("/proc/self/ns/net")));
            pods.connected(true);
            pods.snapshotDone(java.util.Set.of(config.dedicatedPod().uid()));
        }
        handoff = config.handoffSocket() == null ? null : new HandoffClient(config.handoffSocket(), pods);
        if (handoff != null) {
            handoff.start();
        }
        admin = new AdminServer(new AdminServer.Addresses(config.adminAddress(), config.metricsAddress(),
                config.readinessAddress()), transport, group, registry, state::get, pods, certs, this::xdsStatus,
                this::notReadyReason);
        LOG.info("ztunnel on {} up: control plane {}, agent socket {}, admin {}, metrics :{}, readiness :{}",
                config.node(), config.controlPlane(), config.handoffSocket(), config.adminAddress(),
                admin.metricsPort(), admin.readinessPort());
        aotCache.log(LOG);
    }

    public static Ztunnel start(ZtunnelConfig config) throws Exception {
        return new Ztunnel(config);
    }

    private Map<String, Object> xdsStatus() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("connected", xds.connected());
        m.put("synced", xds.synced());
        var since = xds.secondsSinceLastUpdate();
        m.put("secondsSinceLastUpdate", since.isPresent() ? since.getAsDouble() : null);
        Map<String, Integer> counts = new LinkedHashMap<>();
        xds.versions().forEach((type, names) -> counts.put(type, names.size()));
        m.put("resources", counts);
        return m;
    }

    /** Ready once the configuration is synced, the node agent's snapshot applied and the warm-up done. */
    String notReadyReason() {
        if (!warmedUp.isDone()) {
            return "warming up";
        }
        if (!xds.synced()) {
            return "configuration not synced from " + config.controlPlane();
        }
        if (handoff != null && !pods.ready()) {
            return "node agent at " + config.handoffSocket() + " not connected or its snapshot not applied";
        }
        return null;
    }

    public AdminServer admin() {
        return admin;
    }

    public WorkloadManager pods() {
        return pods;
    }

    public ProxyState state() {
        return state.get();
    }

    /**
     * Stops accepting (the node agent, every pod's listeners, draining pods' too), then lets open connections finish
     * until the drain deadline, then closes what is left.
     */
    @Override
    public void close() {
        Instant deadline = Instant.now().plus(config.drain());
        if (handoff != null) {
            handoff.close();
        }
        pods.closeAll();
        var serverDone = hboneServer.shutdown(config.drain());
        while (metrics.active() > 0 && Instant.now().isBefore(deadline)) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        LOG.info("ztunnel on {} stopping ({} connections still open)", config.node(), metrics.active());
        serverDone.orTimeout(5, TimeUnit.SECONDS).exceptionally(e -> null).join();
        hboneClient.close();
        if (dns != null) {
            dns.close();
        }
        xds.close();
        certificates.close();
        controlPlane.close();
        admin.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
}
