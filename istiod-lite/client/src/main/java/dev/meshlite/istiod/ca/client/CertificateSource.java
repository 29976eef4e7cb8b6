package dev.meshlite.istiod.ca.client;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;

/** Where certificates come from: the CA over gRPC, or a fake in tests. Blocking; never on an event loop. */
public interface CertificateSource {

    /** A fresh certificate (new key) for {@code identity} and the roots to trust with it. */
    Fetched fetch(SpiffeId identity) throws Exception;

    /** A certificate and the trust bundle the CA sent with it. */
    record Fetched(WorkloadCertificate certificate, TrustBundle trustBundle) {}
}
