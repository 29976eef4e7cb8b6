package dev.meshlite.hbone.tls;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLException;

/**
 * The TLS material of one side of HBONE, swappable at runtime.
 *
 * <p>Rotation invariant: {@link #rotate} only replaces the context that <em>future</em>
 * {@link #newHandler} calls use. Every open connection keeps the engine (and therefore the
 * certificate, key and trust bundle) it was handshaken with, so open streams are never broken by
 * a rotation. The contexts are of the non-reference-counted kind, so a replaced context is freed
 * by the garbage collector once its last engine is gone.
 *
 * <p>Policy (DESIGN §4), identical for both providers: TLS 1.3 only, AES-GCM suites only, ALPN
 * {@code h2}, no SNI (handlers are made without a peer host), no session resumption, client
 * certificate required, no hostname verification (identity is the SPIFFE URI SAN, see
 * {@link SpiffeTrustManager}). BoringSSL (netty-tcnative) when it loads, else the JDK provider;
 * {@code -Dhbone.tls.provider=jdk|openssl} overrides.
 */
public final class TlsContextHolder {

    /** TLS 1.3 AES-GCM suites; CHACHA20 is left out by policy. */
    public static final List<String> CIPHERS = List.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384");
    public static final String PROTOCOL = "TLSv1.3";

    private final boolean server;
    private final PeerVerifier verifier;
    private final SslProvider provider;
    private final AtomicReference<Material> current = new AtomicReference<>();

    private record Material(SslContext context, WorkloadCertificate certificate, TrustBundle bundle) {}

    private TlsContextHolder(boolean server, PeerVerifier verifier, WorkloadCertificate cert,
                             TrustBundle bundle) {
        this.server = server;
        this.verifier = verifier;
        this.provider = chooseProvider();
        rotate(cert, bundle);
    }

    /** Server side: requires a client certificate accepted by {@code verifier}. */
    public static TlsContextHolder forServer(WorkloadCertificate cert, TrustBundle bundle,
                                             PeerVerifier verifier) {
        return new TlsContextHolder(true, verifier, cert, bundle);
    }

    /**
     * Client side. The handshake accepts any server whose chain validates and that carries a SPIFFE
     * id; the id is then checked against the expected set of each connection (pool key) before any
     * request is sent, see {@code HboneClient}.
     */
    public static TlsContextHolder forClient(WorkloadCertificate cert, TrustBundle bundle) {
        return new TlsContextHolder(false, PeerVerifier.anyValidChain(), cert, bundle);
    }

    /** New handshakes use {@code cert} and {@code bundle}; open connections are untouched. */
    public void rotate(WorkloadCertificate cert, TrustBundle bundle) {
        current.set(new Material(build(cert, bundle), cert, bundle));
    }

    /** Replaces the certificate, keeping the trust bundle. */
    public void rotate(WorkloadCertificate cert) {
        rotate(cert, current.get().bundle());
    }

    /** A handler for one new connection, from the material current at this moment. */
    public SslHandler newHandler(ByteBufAllocator alloc) {
        // No peer host: no SNI, and the client never looks up a session to resume.
        return current.get().context().newHandler(alloc);
    }

    public WorkloadCertificate certificate() {
        return current.get().certificate();
    }

    public TrustBundle trustBundle() {
        return current.get().bundle();
    }

    public SslProvider provider() {
        return provider;
    }

    public boolean isServer() {
        return server;
    }

    private SslContext build(WorkloadCertificate cert, TrustBundle bundle) {
        SslContextBuilder builder = server
                ? SslContextBuilder.forServer(cert.privateKey(), cert.chain()).clientAuth(ClientAuth.REQUIRE)
                : SslContextBuilder.forClient().keyManager(cert.privateKey(), cert.chain())
                        .endpointIdentificationAlgorithm(null);
        builder.sslProvider(provider)
                .protocols(PROTOCOL)
                .ciphers(CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                .trustManager(new SpiffeTrustManager(bundle, verifier))
                .applicationProtocolConfig(new ApplicationProtocolConfig(
                        ApplicationProtocolConfig.Protocol.ALPN,
                        // The only behaviours both providers support; a peer that does not pick
                        // h2 is closed after the handshake by SessionCheck.
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_2));
        try {
            SslContext context = builder.build();
            if (context.sessionContext() instanceof OpenSslSessionContext openSsl) {
                openSsl.setSessionCacheEnabled(false);
            }
            return context;
        } catch (SSLException e) {
            throw new IllegalStateException("cannot build the TLS context: " + e.getMessage(), e);
        }
    }

    static SslProvider chooseProvider() {
        String forced = System.getProperty("hbone.tls.provider", "").toLowerCase(Locale.ROOT);
        return switch (forced) {
            case "jdk" -> SslProvider.JDK;
            case "openssl", "boringssl" -> {
                OpenSsl.ensureAvailability();
                yield SslProvider.OPENSSL;
            }
            case "" -> OpenSsl.isAvailable() && OpenSsl.isCipherSuiteAvailable(CIPHERS.getFirst()) ? SslProvider.OPENSSL : SslProvider.JDK;
            default -> throw new IllegalArgumentException("hbone.tls.provider: '" + forced
                    + "' (expected: jdk, openssl)");
        };
    }
}
