package dev.meshlite.hbone.tls;

import java.security.cert.CertificateException;

/**
 * A chain that validated cryptographically but whose SPIFFE identity is missing, malformed or not
 * the expected one. Distinct from other {@link CertificateException}s so failures can be counted
 * by reason.
 */
public final class SpiffeIdentityException extends CertificateException {

    public SpiffeIdentityException(String message) {
        super(message);
    }
}
