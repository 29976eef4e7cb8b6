package dev.meshlite.istiod.ca.grpc;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.istiod.ca.CertificateService;
import dev.meshlite.istiod.ca.CertificateSigner;
import dev.meshlite.istiod.ca.IssuedChain;
import dev.meshlite.istiod.ca.RootCertificates;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The CA's gRPC endpoint: TLS 1.3 with a serving certificate the CA issues to itself at start-up
 * (DNS names for host verification, the istiod SPIFFE id for identity verification). Clients
 * trust it through the published roots.
 *
 * <p>Not done yet: re-issuing the serving certificate before it expires or after a root
 * rotation without a restart; it is issued for {@link #SERVING_TTL}.
 */
public final class CaServer implements AutoCloseable {

    public static final Duration SERVING_TTL = Duration.ofDays(90);
    /** The names clients use for the CA (Istio's istiod Service), so they can verify the host. */
    public static final List<String> DEFAULT_DNS_NAMES =
            List.of("istiod.istio-system.svc", "istiod-lite.istio-system.svc", "localhost");

    /** The shortest PING interval accepted from a client, below the clients' 30 s. */
    static final java.time.Duration KEEPALIVE_PERMIT = java.time.Duration.ofSeconds(15);

    private final Server server;
    private final IssuedChain serving;

    private CaServer(Server server, IssuedChain serving) {
        this.server = server;
        this.serving = serving;
    }

    public static CaServer start(CertificateService service, CertificateSigner signer, SpiffeId identity,
            InetSocketAddress bind) {
        return start(service, signer, identity, bind, List.of());
    }

    /**
     * Also serves {@code more} (the discovery service) on the same port and TLS, each behind the
     * same bearer-token interceptor: one endpoint, one credential for a proxy.
     */
    public static CaServer start(CertificateService service, CertificateSigner signer, SpiffeId identity,
            InetSocketAddress bind, List<BindableService> more) {
        KeyPair key = RootCertificates.newP256();
        List<String> ips = bind.getAddress().isAnyLocalAddress() ? List.of() : List.of(bind.getAddress().getHostAddress());
        IssuedChain serving = signer.signServing(key.getPublic(), identity, DEFAULT_DNS_NAMES, ips, SERVING_TTL);
        try {
            NettyServerBuilder builder = NettyServerBuilder.forAddress(bind)
                    .sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(key.getPrivate(),
                                    serving.chain().toArray(X509Certificate[]::new)))
                            .protocols("TLSv1.3")
                            .build())
                    // The proxies' client PINGs a connection silent for 30 s (to notice a lost
                    // node); grpc-java's default (one PING per 5 minutes) would answer that with
                    // GOAWAY too_many_pings.
                    .permitKeepAliveTime(KEEPALIVE_PERMIT.toSeconds(), TimeUnit.SECONDS)
                    .permitKeepAliveWithoutCalls(true)
                    .addService(ServerInterceptors.intercept(new CertificateGrpcService(service), new BearerToken()));
            for (BindableService s : more) {
                builder.addService(ServerInterceptors.intercept(s, new BearerToken()));
            }
            Server server = builder.build().start();
            return new CaServer(server, serving);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen on " + bind, e);
        }
    }

    public int port() {
        return server.getPort();
    }

    public IssuedChain servingCertificate() {
        return serving;
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
