package dev.meshlite.ztunnel;

import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.client.HboneClientConfig;
import dev.meshlite.hbone.client.HboneStream;
import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.server.ConnectAuthorizer;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.server.HboneServerConfig;
import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.istiod.api.xds.v1.Node;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.GrpcCertificateSource;
import dev.meshlite.istiod.ca.client.RenewalScheduler;
import dev.meshlite.istiod.ca.client.WorkloadCertificates;
import dev.meshlite.istiod.xds.client.XdsClient;
import dev.meshlite.ztunnel.admin.AdminServer;
import dev.meshlite.ztunnel.identity.CertificateManager;
import dev.meshlite.ztunnel.inpod.WorkloadManager;
import dev.meshlite.ztunnel.metrics.AccessLog;
import dev.meshlite.ztunnel.metrics.ProcessMetrics;
import dev.meshlite.ztunnel.metrics.TcpMetrics;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.xds.StateUpdater;
import dev.meshlite.istiod.grpc.GrpcChannel;
import io.netty.channel.EventLoopGroup;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.time.Duration;
import java.time.InstantSource;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;
import picocli.CommandLine;

/**
 * The build's AOT training run for ztunnel (ztunnel/pom.xml, {@code -XX:AOTCacheOutput}, with the
 * JVM flags the local cluster runs ztunnel with): its start-up and first-pod code on loopback,
 * without a control plane or a node agent. The command line is parsed; the event loops, the
 * {@link Warmup} (key and CSR, a pod-style listener and marked dial, TLS contexts and a
 * handshake), a CA call and an xDS stream against a port nobody listens on (the client code up to
 * the refused connection), the admin, metrics and readiness endpoints asked once each, and one HBONE tunnel between an
 * {@link HboneServer} and an {@link HboneClient} to an echo socket. Exits 0 whatever the steps
 * meet: the cache only records what ran.
 */
final class AotTraining {

    private AotTraining() {}

    public static void main(String[] args) throws Exception {
        dev.meshlite.hbone.transport.NettyDefaults.forProxy(); // as Main runs
        new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).parseArgs("--node", "train",
                "--ca-root", "/dev/null", "--token-file", "/dev/null", "--handoff-socket", "/nonexistent");
        InetAddress loopback = InetAddress.getLoopbackAddress();
        Transport transport = Transport.EPOLL;
        EventLoopGroup group = transport.newEventLoopGroup(0, "ztunnel");
        SpiffeId id = new SpiffeId("cluster.local", "train", "default");
        WorkloadCertificate cert = Warmup.selfSigned(id);
        TrustBundle roots = TrustBundle.of(cert.leaf());
        int refused;
        try (ServerSocket s = new ServerSocket(0, 1, loopback)) {
            refused = s.getLocalPort();
        }
        GrpcChannel channel = GrpcCertificateSource.channel(loopback.getHostAddress(), refused, roots,
                "istiod.istio-system.svc", group, transport.socketChannel());
        GrpcCertificateSource ca = new GrpcCertificateSource(channel, () -> "train", Duration.ofHours(24),
                Duration.ofSeconds(2));
        Warmup.run(ca, "cluster.local", transport, group);
        XdsClient xds = new XdsClient(channel, () -> "train",
                Node.newBuilder().setId("ztunnel~train").setRole("ztunnel").setNodeName("train").build(),
                StateUpdater.TYPES, new StateUpdater(new AtomicReference<>(ProxyState.EMPTY), s -> {}),
                Backoff.DEFAULT, InstantSource.system());
        xds.start();
        try {
            ca.fetch(id);
        } catch (Exception expected) {
            // nobody listens: the call path ran up to the refused connection
        }
        xds.close();
        channel.close();

        PrometheusRegistry registry = new PrometheusRegistry();
        new TcpMetrics(registry, new AccessLog(AccessLog.Format.TEXT));
        new ProcessMetrics(java.nio.file.Path.of("/proc/self")).register(registry);
        InetSocketAddress any = new InetSocketAddress(loopback, 0);
        try (WorkloadCertificates none = new WorkloadCertificates(unused -> {
                 throw new IllegalStateException("no CA in training");
             }, RenewalScheduler.singleThread("train-certificates"), InstantSource.system(), RandomGenerator.getDefault(),
                     Backoff.DEFAULT);
             AdminServer admin = new AdminServer(new AdminServer.Addresses(any, any, any), transport, group, registry,
                     () -> ProxyState.EMPTY, new WorkloadManager("cluster.local", () -> null, () -> null, Duration.ZERO),
                     new CertificateManager(none, "cluster.local"), java.util.Map::of, () -> null)) {
            for (String path : new String[] {":" + admin.metricsPort() + "/metrics",
                    ":" + admin.adminPort() + "/config_dump", ":" + admin.readinessPort() + "/healthz/ready"}) {
                try (InputStream in = URI.create("http://127.0.0.1" + path).toURL().openStream()) {
                    in.readAllBytes();
                }
            }
        }

        try (ServerSocket echo = new ServerSocket(0, 1, loopback)) {
            Thread echoing = Thread.ofPlatform().daemon().start(() -> {
                try (Socket s = echo.accept()) {
                    s.getInputStream().transferTo(s.getOutputStream());
                } catch (Exception ignored) {
                    // the tunnel is closed when training ends
                }
            });
            HboneServer server = HboneServer.start(HboneServerConfig.defaults(new InetSocketAddress(loopback, 0)),
                    TlsContextHolder.forServer(cert, roots, PeerVerifier.sameTrustDomain("cluster.local")),
                    ConnectAuthorizer.dialAuthority(), new HboneMetrics(), transport, group);
            HboneClient client = HboneClient.create(HboneClientConfig.defaults(),
                    HboneClient.single(TlsContextHolder.forClient(cert, roots)), new HboneMetrics(), transport, group);
            try {
                HboneStream stream = client.open(new PoolKey(id, Set.of(id), server.localAddress(), null),
                        TunnelRequest.to(new InetSocketAddress(loopback, echo.getLocalPort()))).get(5, TimeUnit.SECONDS);
                stream.close();
            } finally {
                client.close();
                server.shutdown(Duration.ZERO).orTimeout(2, TimeUnit.SECONDS).exceptionally(e -> null).join();
                echoing.interrupt();
            }
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        System.exit(0); // leftover gRPC and HTTP threads must not keep the training JVM up
    }
}
