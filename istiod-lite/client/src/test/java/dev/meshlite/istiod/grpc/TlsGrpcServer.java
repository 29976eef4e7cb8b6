package dev.meshlite.istiod.grpc;

import dev.meshlite.hbone.testing.TestCa;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * grpc-java's server over TLS on 127.0.0.1, its certificate from a test CA for {@link #AUTHORITY}:
 * the independent peer {@link GrpcChannel} is tested against.
 */
public final class TlsGrpcServer implements AutoCloseable {

    public static final String AUTHORITY = "istiod.istio-system.svc";

    private final TestCa ca;
    private final Server server;

    private TlsGrpcServer(TestCa ca, Server server) {
        this.ca = ca;
        this.server = server;
    }

    /** Serves {@code services} (each a {@link BindableService} or a {@link ServerServiceDefinition}) on {@code port} (0: any). */
    public static TlsGrpcServer start(TestCa ca, int port, Object... services) throws IOException {
        TestCa.Serving serving = ca.issueServing(List.of(AUTHORITY));
        NettyServerBuilder b = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(serving.key(),
                        serving.chain().toArray(X509Certificate[]::new))).protocols("TLSv1.3").build())
                .permitKeepAliveTime(1, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true);
        for (Object s : services) {
            if (s instanceof BindableService bindable) {
                b.addService(bindable);
            } else {
                b.addService((ServerServiceDefinition) s);
            }
        }
        return new TlsGrpcServer(ca, b.build().start());
    }

    public int port() {
        return server.getPort();
    }

    /** A client channel that trusts the test CA and expects {@link #AUTHORITY}. */
    public GrpcChannel channel() {
        return channel(GrpcChannel.Settings.DEFAULTS);
    }

    public GrpcChannel channel(GrpcChannel.Settings settings) {
        return GrpcChannel.create("127.0.0.1", port(), ca.bundle(), AUTHORITY, settings);
    }

    /** Stops at once: open calls are cancelled, connections closed. */
    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }

    /** Stops gracefully: a GOAWAY first, open calls may finish. */
    public void shutdown() {
        server.shutdown();
    }
}
