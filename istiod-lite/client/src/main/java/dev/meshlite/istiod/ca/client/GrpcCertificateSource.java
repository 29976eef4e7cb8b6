package dev.meshlite.istiod.ca.client;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.istiod.api.ca.v1.CertificateResponse;
import dev.meshlite.istiod.api.ca.v1.CertificateServiceGrpc;
import dev.meshlite.istiod.api.ca.v1.CsrRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;

/**
 * Fetches certificates from the CA over gRPC: a new P-256 key per certificate, a CSR proving it,
 * the bearer token from {@code token} (read at every call: projected tokens rotate).
 */
public final class GrpcCertificateSource implements CertificateSource, AutoCloseable {

    private final ManagedChannel channel;
    private final Supplier<String> token;
    private final Duration requestedTtl;
    private final Duration deadline;

    public GrpcCertificateSource(ManagedChannel channel, Supplier<String> token, Duration requestedTtl,
            Duration deadline) {
        this.channel = channel;
        this.token = token;
        this.requestedTtl = requestedTtl;
        this.deadline = deadline;
    }

    /**
     * Our callers retry on their own schedule (backoff, closing in before expiry). A channel that
     * failed to connect waits out gRPC's own reconnect backoff (up to two minutes) and fails every
     * call meanwhile, even once the server is back; so an attempt first cuts that wait short.
     */
    public static void reconnectNow(ManagedChannel channel) {
        if (channel.getState(false) == io.grpc.ConnectivityState.TRANSIENT_FAILURE) {
            channel.resetConnectBackoff();
        }
    }

    /** A TLS channel to the CA at {@code host:port}, verifying it against {@code roots} as {@code authority}. */
    public static ManagedChannel channel(String host, int port, TrustBundle roots, String authority) {
        try {
            return NettyChannelBuilder.forAddress(host, port)
                    .sslContext(GrpcSslContexts.forClient()
                            .trustManager(roots.roots().toArray(X509Certificate[]::new))
                            .protocols("TLSv1.3")
                            .build())
                    .overrideAuthority(authority)
                    .build();
        } catch (SSLException e) {
            throw new IllegalStateException("CA client TLS: " + e.getMessage(), e);
        }
    }

    @Override
    public Fetched fetch(SpiffeId identity) throws Exception {
        KeyPair key = CsrPem.newP256();
        String csr = CsrPem.csr(key);
        reconnectNow(channel);
        CertificateResponse response = CertificateServiceGrpc.newBlockingStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(BearerTokenHeader.metadata(token.get())))
                .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
                .createCertificate(CsrRequest.newBuilder()
                        .setCsrPem(csr)
                        .setIdentity(identity.uri())
                        .setRequestedTtlSeconds(requestedTtl.toSeconds())
                        .build());
        List<X509Certificate> chain = new ArrayList<>();
        for (String pem : response.getCertChainPemList()) {
            chain.addAll(CsrPem.certificates(pem, "cert_chain_pem"));
        }
        List<X509Certificate> roots = new ArrayList<>();
        for (String pem : response.getRootCertsPemList()) {
            roots.addAll(CsrPem.certificates(pem, "root_certs_pem"));
        }
        return new Fetched(new WorkloadCertificate(chain, key.getPrivate()), new TrustBundle(roots));
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
