package dev.meshlite.istiod.ca;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the CA's keys live, so restarts and replicas share one root (DESIGN §6).
 *
 * <p>Precedence, as in Istio: a plugged-in Secret {@code cacerts} (an operator's intermediate:
 * {@code ca-cert.pem}, {@code ca-key.pem}, {@code root-cert.pem}, {@code cert-chain.pem}) wins;
 * otherwise the self-signed root in {@code istio-ca-secret} ({@code ca-cert.pem},
 * {@code ca-key.pem}); otherwise a new self-signed root is created there. Creation races between
 * replicas are settled by the API server: the loser's create gets 409 and it reads the winner's.
 *
 * <p>Rotation of the self-signed root: the new root becomes the signer and the previous roots stay
 * in {@code trusted-roots.pem} (our addition to the Secret) until {@link #retireOldRoots()}, so
 * workloads holding certificates of either generation keep trusting each other. A plugged-in CA
 * rotates the same way by listing several roots in its {@code root-cert.pem}.
 */
public final class CaSecretStore {

    private static final Logger log = LoggerFactory.getLogger(CaSecretStore.class);

    public static final String DEFAULT_NAMESPACE = "istio-system";
    public static final String SELF_SIGNED_SECRET = "istio-ca-secret";
    public static final String PLUGGED_SECRET = "cacerts";
    public static final String CA_CERT = "ca-cert.pem";
    public static final String CA_KEY = "ca-key.pem";
    public static final String ROOT_CERT = "root-cert.pem";
    public static final String CERT_CHAIN = "cert-chain.pem";
    public static final String TRUSTED_ROOTS = "trusted-roots.pem";
    /** When the current rotation started (ISO-8601), on istio-ca-secret while old roots are kept. */
    public static final String ROTATED_AT = "meshlite.dev/rotated-at";

    private final KubernetesClient client;
    private final String namespace;
    private final String trustDomain;
    private final Duration rootTtl;
    private final Clock clock;

    public CaSecretStore(KubernetesClient client, String namespace, String trustDomain, Duration rootTtl,
            Clock clock) {
        this.client = client;
        this.namespace = namespace;
        this.trustDomain = trustDomain;
        this.rootTtl = rootTtl;
        this.clock = clock;
    }

    /** The CA keys as stored now, if any: reads only (what a replica that does not lead may do). */
    public Optional<CaKeys> load() {
        Secret plugged = get(PLUGGED_SECRET);
        if (plugged != null) {
            return Optional.of(plugged(plugged));
        }
        Secret own = get(SELF_SIGNED_SECRET);
        return own == null ? Optional.empty() : Optional.of(selfSigned(own));
    }

    /**
     * The CA keys as stored now, creating a self-signed root on the very first start. A write:
     * in a replicated control plane only the leader calls this ({@link CaBootstrap}).
     */
    public CaKeys loadOrCreate() {
        for (int attempt = 0; attempt < 5; attempt++) {
            Optional<CaKeys> stored = load();
            if (stored.isPresent()) {
                return stored.get();
            }
            CaKeys fresh = RootCertificates.selfSigned(trustDomain, rootTtl, clock);
            try {
                client.secrets().inNamespace(namespace).resource(secret(fresh, List.of())).create();
                log.info("created self-signed root {} in {}/{}", fresh.activeRoot().getSubjectX500Principal(),
                        namespace, SELF_SIGNED_SECRET);
                return fresh;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
                // Another replica created it first: read theirs.
            }
        }
        throw new IllegalStateException(namespace + "/" + SELF_SIGNED_SECRET + " keeps conflicting");
    }

    /**
     * Starts a rotation of the self-signed root: a new root signs from now on; the old roots stay
     * trusted. Refused when a plugged-in CA is in use (its operator rotates it).
     */
    public CaKeys rotateSelfSigned() {
        requireNotPlugged("rotate");
        Secret current = get(SELF_SIGNED_SECRET);
        CaKeys old = current == null ? loadOrCreate() : selfSigned(current);
        CaKeys next = RootCertificates.selfSigned(trustDomain, rootTtl, clock);
        List<X509Certificate> keep = old.roots();
        Secret written = secret(next, keep);
        written.getMetadata().setAnnotations(java.util.Map.of(ROTATED_AT, clock.instant().toString()));
        write(current, written);
        log.info("rotated root: signing with {}, still trusting {} old root(s)",
                next.activeRoot().getSubjectX500Principal(), keep.size());
        return next.trusting(keep);
    }

    /**
     * Ends the rotation once it is safe: {@code maxTtl} after it started, every certificate the old
     * root signed has expired, so every workload holding a valid certificate holds one of the new
     * root. Returns whether old roots were retired. Any replica may call this; the write is
     * conditional on the Secret's resourceVersion, so concurrent callers cannot clobber each other.
     */
    public boolean retireOldRootsIfDue(Duration maxTtl) {
        Secret current = get(SELF_SIGNED_SECRET);
        if (current == null || optionalData(current, TRUSTED_ROOTS) == null || get(PLUGGED_SECRET) != null) {
            return false;
        }
        Map<String, String> annotations = current.getMetadata().getAnnotations();
        String at = annotations == null ? null : annotations.get(ROTATED_AT);
        if (at == null) {
            return false; // Old roots kept without a start time: only an explicit retire ends this.
        }
        if (clock.instant().isBefore(Instant.parse(at).plus(maxTtl).plus(CertificateSigner.BACKDATE))) {
            return false;
        }
        retireOldRoots();
        log.info("root rotation complete: {} has passed since it started, old roots retired", maxTtl);
        return true;
    }

    /**
     * Ends a rotation now: only the active root stays trusted. Workloads still holding a
     * certificate of an old root lose the trust of their peers: prefer {@link #retireOldRootsIfDue}.
     */
    public CaKeys retireOldRoots() {
        requireNotPlugged("retire old roots of");
        Secret current = get(SELF_SIGNED_SECRET);
        if (current == null) {
            return loadOrCreate();
        }
        CaKeys keys = selfSigned(current);
        CaKeys only = CaKeys.selfSigned(keys.signingCert(), keys.signingKey());
        write(current, secret(only, List.of()));
        return only;
    }

    private void requireNotPlugged(String what) {
        if (get(PLUGGED_SECRET) != null) {
            throw new IllegalStateException("cannot " + what + " a plugged-in CA (" + namespace + "/"
                    + PLUGGED_SECRET + "): replace that Secret instead");
        }
    }

    private void write(Secret current, Secret next) {
        if (current == null) {
            client.secrets().inNamespace(namespace).resource(next).create();
        } else {
            // resourceVersion set: a concurrent writer makes this fail instead of being overwritten.
            next.getMetadata().setResourceVersion(current.getMetadata().getResourceVersion());
            client.secrets().inNamespace(namespace).resource(next).update();
        }
    }

    private Secret get(String name) {
        return client.secrets().inNamespace(namespace).withName(name).get();
    }

    private Secret secret(CaKeys keys, List<X509Certificate> oldRoots) {
        SecretBuilder b = new SecretBuilder()
                .withNewMetadata().withName(SELF_SIGNED_SECRET).withNamespace(namespace).endMetadata()
                .withType("istio.io/ca-root")
                .addToData(CA_CERT, b64(PemText.encode(keys.signingCert())))
                .addToData(CA_KEY, b64(PemText.encode(keys.signingKey())));
        List<X509Certificate> old = new ArrayList<>(oldRoots);
        old.remove(keys.activeRoot());
        if (!old.isEmpty()) {
            b.addToData(TRUSTED_ROOTS, b64(PemText.encodeAll(old)));
        }
        return b.build();
    }

    private CaKeys selfSigned(Secret s) {
        String where = namespace + "/" + SELF_SIGNED_SECRET;
        X509Certificate root = PemText.certificates(data(s, CA_CERT, where), where + " " + CA_CERT).getFirst();
        CaKeys keys = CaKeys.selfSigned(root, PemText.privateKey(data(s, CA_KEY, where), where + " " + CA_KEY));
        String trusted = optionalData(s, TRUSTED_ROOTS);
        if (trusted == null) {
            return keys;
        }
        Instant now = clock.instant();
        List<X509Certificate> old = PemText.certificates(trusted, where + " " + TRUSTED_ROOTS).stream()
                .filter(c -> c.getNotAfter().toInstant().isAfter(now))
                .toList();
        return keys.trusting(old);
    }

    private CaKeys plugged(Secret s) {
        String where = namespace + "/" + PLUGGED_SECRET;
        X509Certificate signing = PemText.certificates(data(s, CA_CERT, where), where + " " + CA_CERT).getFirst();
        var key = PemText.privateKey(data(s, CA_KEY, where), where + " " + CA_KEY);
        List<X509Certificate> roots = PemText.certificates(data(s, ROOT_CERT, where), where + " " + ROOT_CERT);
        String chainPem = optionalData(s, CERT_CHAIN);
        List<X509Certificate> intermediates = new ArrayList<>();
        if (chainPem != null) {
            for (X509Certificate c : PemText.certificates(chainPem, where + " " + CERT_CHAIN)) {
                if (!c.equals(signing) && !isSelfSigned(c)) {
                    intermediates.add(c);
                }
            }
        }
        X509Certificate top = intermediates.isEmpty() ? signing : intermediates.getLast();
        // The active root is the one the chain ends in; the others are trusted alongside it.
        List<X509Certificate> ordered = new ArrayList<>();
        for (X509Certificate r : roots) {
            if (Arrays.equals(r.getSubjectX500Principal().getEncoded(), top.getIssuerX500Principal().getEncoded())) {
                ordered.addFirst(r);
            } else {
                ordered.add(r);
            }
        }
        return new CaKeys(signing, key, intermediates, ordered);
    }

    private static boolean isSelfSigned(X509Certificate c) {
        if (!c.getSubjectX500Principal().equals(c.getIssuerX500Principal())) {
            return false;
        }
        try {
            c.verify(c.getPublicKey());
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    private static String data(Secret s, String key, String where) {
        String v = optionalData(s, key);
        if (v == null) {
            throw new IllegalArgumentException(where + ": key " + key + " missing");
        }
        return v;
    }

    private static String optionalData(Secret s, String key) {
        Map<String, String> data = s.getData();
        if (data != null && data.get(key) != null) {
            return new String(Base64.getDecoder().decode(data.get(key)), StandardCharsets.US_ASCII);
        }
        Map<String, String> stringData = s.getStringData();
        return stringData == null ? null : stringData.get(key);
    }

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
    }
}
