package dev.meshlite.ztunnel.identity;

import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.istiod.ca.client.WorkloadCertificates;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The TLS material of every identity with a pod on this node: one client and one server context
 * per identity, built from the certificate the CA issued and rotated in place whenever it is
 * renewed (open connections keep the material they started with). Identities are reference
 * counted by pod: the last pod of an identity leaving stops its renewal.
 */
public final class CertificateManager {

    private final WorkloadCertificates certificates;
    private final String trustDomain;
    private final Map<SpiffeId, Held> held = new HashMap<>();

    private static final class Held {
        int pods;
        TlsContextHolder client;
        TlsContextHolder server;
    }

    public CertificateManager(WorkloadCertificates certificates, String trustDomain) {
        this.certificates = certificates;
        this.trustDomain = trustDomain;
        certificates.listener(this::renewed);
    }

    /**
     * A pod of {@code id} arrived: start fetching (or keep renewing) its certificate. The fetch is
     * asked for outside this object's lock: its completion builds contexts under that lock.
     */
    public CompletableFuture<WorkloadCertificate> acquire(SpiffeId id) {
        synchronized (this) {
            held.computeIfAbsent(id, k -> new Held()).pods++;
        }
        return certificates.certificate(id);
    }

    /** A pod of {@code id} left. */
    public synchronized void release(SpiffeId id) {
        Held h = held.get(id);
        if (h != null && --h.pods <= 0) {
            held.remove(id);
            certificates.forget(id);
        }
    }

    /** The client context of {@code id} once its certificate is held. */
    public CompletableFuture<TlsContextHolder> client(SpiffeId id) {
        return certificates.certificate(id).thenApply(cert -> holder(id, cert, false));
    }

    /** The client context of {@code id} if its certificate is held now, else {@code null}. */
    public TlsContextHolder clientNow(SpiffeId id) {
        return certificates.current(id).map(cert -> holder(id, cert, false)).orElse(null);
    }

    /** The server context of {@code id}: it requires a client certificate of this trust domain. */
    public CompletableFuture<TlsContextHolder> server(SpiffeId id) {
        return certificates.certificate(id).thenApply(cert -> holder(id, cert, true));
    }

    private synchronized TlsContextHolder holder(SpiffeId id, WorkloadCertificate cert, boolean server) {
        Held h = held.computeIfAbsent(id, k -> new Held());
        TrustBundle bundle = certificates.trustBundle().orElseThrow(
                () -> new IllegalStateException("no trust bundle yet for " + id));
        if (server) {
            if (h.server == null) {
                h.server = TlsContextHolder.forServer(cert, bundle, PeerVerifier.sameTrustDomain(trustDomain));
            } else if (newer(cert, h.server)) {
                h.server.rotate(cert, bundle);
            }
            return h.server;
        }
        if (h.client == null) {
            h.client = TlsContextHolder.forClient(cert, bundle);
        } else if (newer(cert, h.client)) {
            h.client.rotate(cert, bundle);
        }
        return h.client;
    }

    /** A renewal may land between a fetch and building its context: never keep the older one. */
    private static boolean newer(WorkloadCertificate cert, TlsContextHolder holder) {
        return cert.notAfter().isAfter(holder.certificate().notAfter());
    }

    private synchronized void renewed(SpiffeId id, WorkloadCertificate cert, TrustBundle bundle) {
        Held h = held.get(id);
        if (h == null) {
            return;
        }
        if (h.client != null) {
            h.client.rotate(cert, bundle);
        }
        if (h.server != null) {
            h.server.rotate(cert, bundle);
        }
    }

    /** What is held, for the admin endpoint: identity, chain as PEM, expiry. */
    public synchronized List<HeldCertificate> snapshot() {
        List<HeldCertificate> out = new ArrayList<>();
        for (SpiffeId id : held.keySet()) {
            certificates.current(id).ifPresent(c -> out.add(new HeldCertificate(id, c, held.get(id).pods)));
        }
        return out;
    }

    public record HeldCertificate(SpiffeId identity, WorkloadCertificate certificate, int pods) {}
}
