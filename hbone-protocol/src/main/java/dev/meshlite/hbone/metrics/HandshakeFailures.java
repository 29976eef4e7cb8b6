package dev.meshlite.hbone.metrics;

import dev.meshlite.hbone.metrics.HboneMetrics.HandshakeFailure;
import dev.meshlite.hbone.tls.SessionCheck;
import dev.meshlite.hbone.tls.SpiffeIdentityException;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.util.Locale;

/** Maps a handshake exception to the reason it is counted under. */
public final class HandshakeFailures {

    private HandshakeFailures() {}

    public static HandshakeFailure classify(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof SslHandshakeTimeoutException) {
                return HandshakeFailure.TIMEOUT;
            }
            if (t instanceof SessionCheck.AlpnException) {
                return HandshakeFailure.ALPN;
            }
            if (t instanceof SpiffeIdentityException) {
                return HandshakeFailure.IDENTITY_REJECTED;
            }
            if (t instanceof CertificateExpiredException || t instanceof CertificateNotYetValidException) {
                return HandshakeFailure.EXPIRED_CERTIFICATE;
            }
            if (t instanceof CertPathValidatorException cpve
                    && cpve.getReason() == CertPathValidatorException.BasicReason.EXPIRED) {
                return HandshakeFailure.EXPIRED_CERTIFICATE;
            }
            String message = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (message.contains("peer did not return a certificate")
                    || message.contains("peer_did_not_return_a_certificate")
                    || message.contains("empty client certificate chain")
                    || message.contains("presented no certificate")
                    || message.contains("certificate_required")) {
                return HandshakeFailure.NO_CERTIFICATE;
            }
            if (t instanceof CertPathValidatorException
                    || t instanceof java.security.cert.CertPathBuilderException) {
                return HandshakeFailure.UNTRUSTED_CERTIFICATE;
            }
        }
        return HandshakeFailure.PROTOCOL;
    }
}
