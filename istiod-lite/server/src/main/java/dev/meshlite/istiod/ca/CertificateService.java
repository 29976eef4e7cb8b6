package dev.meshlite.istiod.ca;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.istiod.ca.auth.Caller;
import dev.meshlite.istiod.ca.auth.CallerAuthenticator;
import dev.meshlite.istiod.ca.auth.NodeAuthorizer;
import dev.meshlite.istiod.ca.auth.UnauthenticatedException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One certificate request, transport aside: authenticate, decide the identity, authorize, check
 * the CSR, sign. The order matters: nothing about the CSR is looked at before the caller is
 * known and allowed, and the identity comes from the decision, never from the CSR.
 */
public final class CertificateService {

    private static final Logger log = LoggerFactory.getLogger(CertificateService.class);

    /** Why a request was refused; maps one-to-one onto gRPC status codes. */
    public enum Refusal { UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT }

    /** A refusal and its reason, for the caller. */
    public static final class RefusedException extends Exception {
        private final Refusal refusal;

        RefusedException(Refusal refusal, String message) {
            super(message);
            this.refusal = refusal;
        }

        public Refusal refusal() {
            return refusal;
        }
    }

    private final CallerAuthenticator authenticator;
    private final NodeAuthorizer authorizer;
    private final CertificateSigner signer;
    private final CaMetrics metrics;

    public CertificateService(CallerAuthenticator authenticator, NodeAuthorizer authorizer, CertificateSigner signer,
            CaMetrics metrics) {
        this.authenticator = authenticator;
        this.authorizer = authorizer;
        this.signer = signer;
        this.metrics = metrics;
    }

    /** {@code identity} empty means the caller's own; {@code ttlSeconds} 0 means the default. */
    public IssuedChain create(String bearerToken, String identity, String csrPem, long ttlSeconds)
            throws RefusedException {
        long start = System.nanoTime();
        try {
            if (bearerToken == null || bearerToken.isEmpty()) {
                throw refuse(Refusal.UNAUTHENTICATED, "no bearer token (expected: metadata authorization: Bearer <token>)");
            }
            Caller caller;
            try {
                caller = authenticator.authenticate(bearerToken);
            } catch (UnauthenticatedException e) {
                throw refuse(Refusal.UNAUTHENTICATED, e.getMessage());
            }
            SpiffeId wanted;
            try {
                wanted = identity == null || identity.isEmpty() ? authorizer.ownIdentity(caller) : SpiffeId.parse(identity);
            } catch (IllegalArgumentException e) {
                throw refuse(Refusal.INVALID_ARGUMENT, "identity: " + e.getMessage());
            }
            NodeAuthorizer.Decision decision = authorizer.authorize(caller, wanted);
            if (!decision.allowed()) {
                throw refuse(Refusal.PERMISSION_DENIED, decision.reason());
            }
            if (ttlSeconds < 0) {
                throw refuse(Refusal.INVALID_ARGUMENT, "requested_ttl_seconds: " + ttlSeconds + " (expected: >= 0)");
            }
            CertificateRequest csr;
            try {
                csr = CertificateRequest.parse(csrPem);
            } catch (InvalidCsrException e) {
                throw refuse(Refusal.INVALID_ARGUMENT, e.getMessage());
            }
            IssuedChain chain = signer.sign(csr, wanted, Duration.ofSeconds(ttlSeconds));
            metrics.issued(System.nanoTime() - start);
            log.debug("issued {} to {} until {}", wanted, caller, chain.leaf().getNotAfter());
            return chain;
        } catch (RuntimeException e) {
            metrics.denied("unavailable");
            throw e;
        }
    }

    public List<X509Certificate> roots() {
        return signer.keys().roots();
    }

    private RefusedException refuse(Refusal refusal, String reason) {
        metrics.denied(refusal.name().toLowerCase(java.util.Locale.ROOT));
        log.info("refused certificate request: {}: {}", refusal, reason);
        return new RefusedException(refusal, reason);
    }
}
