package dev.meshlite.istiod.ca;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.istiod.ca.auth.CallerAuthenticator;
import dev.meshlite.istiod.ca.auth.KubernetesPodDirectory;
import dev.meshlite.istiod.ca.auth.NodeAuthorizer;
import dev.meshlite.istiod.ca.auth.NodeCredentials;
import dev.meshlite.istiod.ca.auth.TokenReviewAuthenticator;
import dev.meshlite.istiod.ca.grpc.CaServer;
import dev.meshlite.istiod.lead.Leadership;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running CA: keys from the Secret store, the signer, caller authentication and node
 * authorization, the gRPC server, the root published in every namespace, and a periodic re-read
 * of the Secret so replicas follow a rotation. Start-up order is the dependency order; close
 * reverses it.
 *
 * <p>Every replica signs; only the leader ({@link Leadership}) writes: it creates the root on the
 * first start, publishes the roots in every namespace, and ends a due rotation. The others read
 * the Secret and follow.
 */
public final class CertificateAuthority implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(CertificateAuthority.class);

    private final CaSecretStore store;
    private final CertificateSigner signer;
    private final RootPublisher publisher;
    private final CaServer server;
    private final ScheduledExecutorService reloader;
    private final java.time.Duration maxTtl;
    private final Leadership leadership;

    private CertificateAuthority(CaSecretStore store, CertificateSigner signer, RootPublisher publisher,
            CaServer server, ScheduledExecutorService reloader, java.time.Duration maxTtl, Leadership leadership) {
        this.maxTtl = maxTtl;
        this.leadership = leadership;
        this.store = store;
        this.signer = signer;
        this.publisher = publisher;
        this.server = server;
        this.reloader = reloader;
    }

    public static CertificateAuthority start(CaOptions options, KubernetesClient client, PrometheusRegistry registry) {
        return start(options, client, registry, List.of());
    }

    /** How callers are authenticated under {@code options}: the CA's and the discovery service's rule. */
    public static CallerAuthenticator callerAuthenticator(CaOptions options, KubernetesClient client) {
        List<CallerAuthenticator> auth = new ArrayList<>();
        for (CaOptions.Auth a : options.auth()) {
            auth.add(switch (a) {
                case NODE_CREDENTIAL -> new NodeCredentials(client, options.namespace(),
                        options.nodeAgents().stream().sorted((x, y) -> x.toString().compareTo(y.toString()))
                                .findFirst().orElse(CaOptions.DEFAULT_NODE_AGENT));
                case TOKEN_REVIEW -> new TokenReviewAuthenticator(client, options.audiences());
            });
        }
        return CallerAuthenticator.firstOf(auth);
    }

    /** Starts a CA that is the only writer (no other replica). */
    public static CertificateAuthority start(CaOptions options, KubernetesClient client, PrometheusRegistry registry,
            List<io.grpc.BindableService> more) {
        return start(options, client, registry, more, Leadership.always("istiod"));
    }

    /**
     * Starts the CA; {@code more} gRPC services share its port, TLS and bearer-token handling.
     * Blocks until the CA has keys: on a first start without leadership, until the leader has
     * created the root.
     */
    public static CertificateAuthority start(CaOptions options, KubernetesClient client, PrometheusRegistry registry,
            List<io.grpc.BindableService> more, Leadership leadership) {
        CaSecretStore store = new CaSecretStore(client, options.namespace(), options.trustDomain(),
                options.rootTtl(), options.clock());
        CaKeys keys = CaBootstrap.keys(store, leadership, options.namespace() + "/" + CaSecretStore.SELF_SIGNED_SECRET);
        CertificateSigner signer = new CertificateSigner(keys, options.maxTtl(), options.clock());
        CaMetrics metrics = new CaMetrics(registry, signer::keys, options.clock());
        NodeAuthorizer authorizer = new NodeAuthorizer(options.trustDomain(), options.nodeAgents(),
                new KubernetesPodDirectory(client));
        CertificateService service = new CertificateService(callerAuthenticator(options, client), authorizer, signer, metrics);
        RootPublisher publisher = new RootPublisher(client, () -> signer.keys().roots(), leadership);
        publisher.start();
        CaServer server = CaServer.start(service, signer,
                new SpiffeId(options.trustDomain(), options.namespace(), "istiod"), options.bind(), more);
        ScheduledExecutorService reloader = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ca-secret-reload");
            t.setDaemon(true);
            return t;
        });
        CertificateAuthority ca = new CertificateAuthority(store, signer, publisher, server, reloader,
                options.maxTtl(), leadership);
        long every = options.reloadInterval().toMillis();
        reloader.scheduleWithFixedDelay(ca::reloadQuietly, every, every, TimeUnit.MILLISECONDS);
        log.info("CA serving on {}:{} with root {}", options.bind().getAddress().getHostAddress(), server.port(),
                signer.keys().activeRoot().getSubjectX500Principal());
        return ca;
    }

    public int port() {
        return server.port();
    }

    public CertificateSigner signer() {
        return signer;
    }

    public CaServer server() {
        return server;
    }

    /**
     * Re-reads the Secret (the leader ends a rotation first if it is due); on a change, signs with
     * the new keys and (the leader) republishes the roots. A follower that finds no Secret keeps
     * its keys; the leader recreates it, as a single CA always did.
     */
    public void reload() {
        boolean leads = leadership.isLeader();
        if (leads) {
            store.retireOldRootsIfDue(maxTtl);
        }
        CaKeys current = signer.keys();
        Optional<CaKeys> found = leads ? Optional.of(store.loadOrCreate()) : store.load();
        if (found.isEmpty()) {
            return;
        }
        CaKeys stored = found.get();
        if (!stored.equals(current)) {
            signer.update(stored);
            publisher.publishAll();
            log.info("CA keys changed: signing with {}, trusting {} root(s)",
                    stored.signingCert().getSubjectX500Principal(), stored.roots().size());
        }
    }

    /** Rotates the self-signed root (old roots stay trusted) and republishes. */
    public CaKeys rotateRoot() {
        CaKeys next = store.rotateSelfSigned();
        signer.update(next);
        publisher.publishAll();
        return next;
    }

    /** Ends a rotation: only the active root stays trusted. */
    public CaKeys retireOldRoots() {
        CaKeys next = store.retireOldRoots();
        signer.update(next);
        publisher.publishAll();
        return next;
    }

    private void reloadQuietly() {
        try {
            reload();
        } catch (RuntimeException e) {
            log.warn("cannot re-read the CA Secret (keeping the current keys): {}", e.getMessage());
        }
    }

    @Override
    public void close() {
        reloader.shutdownNow();
        server.close();
        publisher.close();
    }
}
