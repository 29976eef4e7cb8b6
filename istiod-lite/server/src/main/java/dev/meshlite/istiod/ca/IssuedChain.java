package dev.meshlite.istiod.ca;

import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

/** A signed leaf, the chain after it (intermediates, not the root), and the roots to trust. */
public record IssuedChain(X509Certificate leaf, List<X509Certificate> issuerChain, List<X509Certificate> roots) {

    public IssuedChain {
        issuerChain = List.copyOf(issuerChain);
        roots = List.copyOf(roots);
    }

    /** Leaf first, then intermediates. */
    public List<X509Certificate> chain() {
        List<X509Certificate> all = new ArrayList<>();
        all.add(leaf);
        all.addAll(issuerChain);
        return List.copyOf(all);
    }
}
