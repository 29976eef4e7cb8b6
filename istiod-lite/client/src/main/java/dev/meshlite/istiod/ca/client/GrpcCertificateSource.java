package dev.meshlite.istiod.ca.client;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.istiod.api.ca.v1.CertificateResponse;
import dev.meshlite.istiod.api.ca.v1.CsrRequest;
import dev.meshlite.istiod.grpc.GrpcChannel;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;

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

    /** The CA's method (service {@code meshlite.ca.v1.CertificateService}). */
    public static final String CREATE_CERTIFICATE = "/meshlite.ca.v1.CertificateService/CreateCertificate";

    private final GrpcChannel channel;

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

    public GrpcCertificateSource(GrpcChannel channel, Supplier<String> token, Duration requestedTtl,
            Duration deadline) {
        this.channel = channel;
        this.token = token;
        this.requestedTtl = requestedTtl;
        this.deadline = deadline;
    }

    /** A TLS channel to the CA at {@code host:port}, verifying it against {@code roots} as {@code authority}. */
    public static GrpcChannel channel(String host, int port, TrustBundle roots, String authority) {
        return GrpcChannel.create(host, port, roots, authority, GrpcChannel.Settings.DEFAULTS);
    }

    /**
     * The same on the caller's event loops (a proxy's: a loop of its own would be one more
     * thread, and its memory, in every node's process for one connection).
     * {@code channelType} must be the socket channel of {@code group}'s transport.
     */
    public static GrpcChannel channel(String host, int port, TrustBundle roots, String authority,
                                      EventLoopGroup group, Class<? extends Channel> channelType) {
        return GrpcChannel.create(host, port, roots, authority, GrpcChannel.Settings.DEFAULTS, group, channelType);
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
        CertificateResponse.parser();
    }

    @Override
    public Fetched fetch(SpiffeId identity) throws Exception {
        PreparedKey next = prepared.getAndSet(null);
        if (next == null) {
            next = PreparedKey.create();
        }
        KeyPair key = next.key();
        String csr = next.csr();
        CsrRequest request = CsrRequest.newBuilder()
                .setCsrPem(csr)
                .setIdentity(identity.uri())
                .setRequestedTtlSeconds(requestedTtl.toSeconds())
                .build();
        CertificateResponse response;
        try {
            response = channel.unary(CREATE_CERTIFICATE, request, BearerTokenHeader.metadata(token.get()),
                    CertificateResponse.parser(), deadline).get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
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

    /** Closes the channel this source was given. */
    @Override
    public void close() {
        channel.close();
    }
}
