package dev.meshlite.hbone.tls;

import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** Reads the SPIFFE id out of a leaf certificate's URI SAN. */
final class CertificateIdentity {

    private static final int SAN_URI = 6;

    private CertificateIdentity() {}

    /**
     * The single SPIFFE URI SAN of {@code leaf}. The SPIFFE X.509 profile allows exactly one URI
     * SAN; a certificate with none or several is not a workload certificate and is refused.
     */
    static SpiffeId of(X509Certificate leaf) throws CertificateException {
        List<String> uris = new ArrayList<>();
        Collection<List<?>> sans;
        try {
            sans = leaf.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            throw new CertificateException("unreadable subject alternative names", e);
        }
        if (sans != null) {
            for (List<?> san : sans) {
                if (san.size() >= 2 && Integer.valueOf(SAN_URI).equals(san.get(0))) {
                    uris.add(String.valueOf(san.get(1)));
                }
            }
        }
        if (uris.size() != 1) {
            throw new SpiffeIdentityException("certificate " + leaf.getSubjectX500Principal()
                    + " has " + uris.size() + " URI SANs (expected: exactly one spiffe:// URI)");
        }
        try {
            return SpiffeId.parse(uris.getFirst());
        } catch (IllegalArgumentException e) {
            throw new SpiffeIdentityException(e.getMessage());
        }
    }
}
