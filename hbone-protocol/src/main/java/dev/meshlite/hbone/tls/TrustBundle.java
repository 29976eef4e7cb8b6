package dev.meshlite.hbone.tls;

import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

/**
 * The roots a peer's chain may end in. Several roots are normal: during a root rotation the old
 * and the new root are both trusted (DESIGN §6).
 */
public record TrustBundle(List<X509Certificate> roots) {

    public TrustBundle {
        if (roots == null || roots.isEmpty()) {
            throw new IllegalArgumentException("roots: empty (expected: at least one CA certificate)");
        }
        roots = List.copyOf(roots);
    }

    public static TrustBundle fromPem(String pem) {
        return new TrustBundle(Pem.certificates(pem, "trust bundle"));
    }

    public static TrustBundle fromPemFile(Path file) {
        return fromPem(WorkloadCertificate.read(file));
    }

    public static TrustBundle of(X509Certificate... roots) {
        return new TrustBundle(List.of(roots));
    }

    /** This bundle plus {@code other}'s roots (duplicates removed). */
    public TrustBundle with(TrustBundle other) {
        List<X509Certificate> all = new ArrayList<>(roots);
        for (X509Certificate root : other.roots) {
            if (!all.contains(root)) {
                all.add(root);
            }
        }
        return new TrustBundle(all);
    }
}
