package dev.meshlite.istiod.ca.client;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.istiod.api.ca.v1.CertificateResponse;
import dev.meshlite.istiod.api.ca.v1.CertificateServiceGrpc;
import dev.meshlite.istiod.api.ca.v1.CsrRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
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
 *
 * <p>{@link #prepare()} makes the next fetch's key and CSR ahead of time (the CSR names no
 * identity, so one made before the identity is known is the same CSR): a process calls it at
 * start-up so its first fetch, on the path of its first pod, neither generates a key nor loads the
 * key-generation and CSR code. A prepared key is used once, for one certificate, like any other.
 */
public final class GrpcCertificateSource implements CertificateSource, AutoCloseable {

    private final ManagedChannel channel;
    private final Supplier<String> token;
    private final Duration requestedTtl;
    private final Duration deadline;
    /** A key and its CSR not used yet, or {@code null}: taken by the next fetch. */
    private final java.util.concurrent.atomic.AtomicReference<PreparedKey> prepared =
            new java.util.concurrent.atomic.AtomicReference<>();

    private record PreparedKey(KeyPair key, String csr) {
        static PreparedKey create() {
            KeyPair key = CsrPem.newP256();
            return new PreparedKey(key, CsrPem.csr(key));
        }
    }

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
        return channel(NettyChannelBuilder.forAddress(host, port), roots, authority);
    }

    /**
     * The same on the caller's event loops (a proxy's: its own gRPC loops would be two more
     * threads, and their memory, in every node's process for one or two connections).
     * {@code channelType} must be the socket channel of {@code group}'s transport.
     */
    public static ManagedChannel channel(String host, int port, TrustBundle roots, String authority,
                                         EventLoopGroup group, Class<? extends Channel> channelType) {
        return channel(NettyChannelBuilder.forAddress(host, port).eventLoopGroup(group).channelType(channelType),
                roots, authority);
    }

    private static ManagedChannel channel(NettyChannelBuilder builder, TrustBundle roots, String authority) {
        try {
            return builder
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

    /**
     * Makes the key and CSR of the next fetch now, unless one is waiting already; also loads the
     * request's message classes. Safe from any thread.
     */
    public void prepare() {
        if (prepared.get() == null) {
            prepared.compareAndSet(null, PreparedKey.create());
        }
        CsrRequest.getDefaultInstance().toByteArray();
        CertificateServiceGrpc.getServiceDescriptor();
    }

    @Override
    public Fetched fetch(SpiffeId identity) throws Exception {
        PreparedKey next = prepared.getAndSet(null);
        if (next == null) {
            next = PreparedKey.create();
        }
        KeyPair key = next.key();
        String csr = next.csr();
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
