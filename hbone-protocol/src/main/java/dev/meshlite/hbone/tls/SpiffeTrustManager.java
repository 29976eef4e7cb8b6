package dev.meshlite.hbone.tls;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * PKIX validation against a {@link TrustBundle}, then the SPIFFE identity check of a
 * {@link PeerVerifier}. A failure in either aborts the handshake with an alert.
 *
 * <p>Hostname verification is structurally off: the delegate is always called through the variants
 * that take no socket or engine, so no endpoint identification algorithm can apply. Identity is the
 * URI SAN, nothing else.
 */
final class SpiffeTrustManager extends X509ExtendedTrustManager {

    private final X509TrustManager pkix;
    private final PeerVerifier verifier;
    private final X509Certificate[] accepted;

    SpiffeTrustManager(TrustBundle bundle, PeerVerifier verifier) {
        this.verifier = verifier;
        this.accepted = bundle.roots().toArray(new X509Certificate[0]);
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            int i = 0;
            for (X509Certificate root : bundle.roots()) {
                store.setCertificateEntry("root-" + i++, root);
            }
            TrustManagerFactory factory = TrustManagerFactory.getInstance("PKIX");
            factory.init(store);
            X509TrustManager found = null;
            for (TrustManager tm : factory.getTrustManagers()) {
                if (tm instanceof X509TrustManager x) {
                    found = x;
                }
            }
            if (found == null) {
                throw new IllegalStateException("no X509TrustManager from PKIX");
            }
            this.pkix = found;
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalStateException("cannot build the trust manager: " + e.getMessage(), e);
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        requireChain(chain);
        pkix.checkClientTrusted(chain, authType);
        verifier.verify(CertificateIdentity.of(chain[0]));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        requireChain(chain);
        pkix.checkServerTrusted(chain, authType);
        verifier.verify(CertificateIdentity.of(chain[0]));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return accepted.clone();
    }

    private static void requireChain(X509Certificate[] chain) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("peer presented no certificate");
        }
    }
}
