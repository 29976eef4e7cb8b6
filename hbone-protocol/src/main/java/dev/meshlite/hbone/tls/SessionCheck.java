package dev.meshlite.hbone.tls;

import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslHandler;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * What must hold for a completed handshake before a single HTTP/2 byte is trusted: TLS 1.3, an
 * AES-GCM suite, ALPN {@code h2}, a peer certificate with a SPIFFE id. The trust manager already
 * enforced the chain and the identity policy; this re-reads the id and guards the negotiated
 * parameters against a provider that ignored part of the configuration.
 */
public final class SessionCheck {

    private SessionCheck() {}

    /** The peer's SPIFFE id, or an exception naming what was not as expected. */
    public static SpiffeId verify(SslHandler handler) throws CertificateException {
        SSLSession session = handler.engine().getSession();
        if (!TlsContextHolder.PROTOCOL.equals(session.getProtocol())) {
            throw new CertificateException("protocol " + session.getProtocol() + " (expected: TLSv1.3)");
        }
        if (!TlsContextHolder.CIPHERS.contains(session.getCipherSuite())) {
            throw new CertificateException("cipher suite " + session.getCipherSuite()
                    + " (expected: one of " + TlsContextHolder.CIPHERS + ")");
        }
        String alpn = handler.applicationProtocol();
        if (!ApplicationProtocolNames.HTTP_2.equals(alpn)) {
            throw new AlpnException("ALPN protocol " + alpn + " (expected: h2)");
        }
        return peerIdentity(session);
    }

    public static SpiffeId peerIdentity(SSLSession session) throws CertificateException {
        Certificate[] peer;
        try {
            peer = session.getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            throw new CertificateException("peer presented no certificate", e);
        }
        if (peer.length == 0 || !(peer[0] instanceof X509Certificate leaf)) {
            throw new CertificateException("peer presented no X.509 certificate");
        }
        return CertificateIdentity.of(leaf);
    }

    /** The peer did not negotiate {@code h2}. */
    public static final class AlpnException extends CertificateException {
        AlpnException(String message) {
            super(message);
        }
    }
}
