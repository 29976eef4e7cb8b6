package dev.meshlite.hbone.testing;

import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.client.HboneClientConfig;
import dev.meshlite.hbone.client.LocalForwarder;
import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.server.ConnectAuthorizer;
import dev.meshlite.hbone.server.ConnectRequest;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.server.HboneServerConfig;
import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A complete HBONE loopback setup: a test CA, a server (127.0.0.1 port 0, trust domain
 * {@code cluster.local}), a pooled client and helpers. The authorizer can be swapped per test and
 * every request it saw is recorded.
 */
public final class HboneTestbed implements AutoCloseable {

    public static final String TRUST_DOMAIN = "cluster.local";
    public static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    public final TestCa ca = TestCa.create(TRUST_DOMAIN);
    public final SpiffeId serverId = ca.id("ns-b", "ztunnel");
    public final SpiffeId clientId = ca.id("ns-a", "sleep");
    public final TlsContextHolder serverTls;
    public final TlsContextHolder clientTls;
    public final HboneMetrics serverMetrics = new HboneMetrics();
    public final HboneMetrics clientMetrics = new HboneMetrics();
    public final HboneServer server;
    public final HboneClient client;
    public final List<ConnectRequest> requests = new CopyOnWriteArrayList<>();
    private final AtomicReference<ConnectAuthorizer> authorizer =
            new AtomicReference<>(ConnectAuthorizer.dialAuthority());
    private final List<AutoCloseable> closeables = new ArrayList<>();

    public HboneTestbed() throws InterruptedException {
        this(HboneClientConfig.defaults());
    }

    public HboneTestbed(HboneClientConfig clientConfig) throws InterruptedException {
        serverTls = TlsContextHolder.forServer(ca.issue(serverId), ca.bundle(),
                PeerVerifier.sameTrustDomain(TRUST_DOMAIN));
        clientTls = TlsContextHolder.forClient(ca.issue(clientId), ca.bundle());
        server = HboneServer.start(HboneServerConfig.defaults(new InetSocketAddress(LOOPBACK, 0)), serverTls,
                request -> {
                    requests.add(request);
                    return authorizer.get().decide(request);
                }, serverMetrics);
        client = HboneClient.create(clientConfig, HboneClient.single(clientTls), clientMetrics);
    }

    public void authorize(ConnectAuthorizer a) {
        authorizer.set(a);
    }

    public PoolKey key() {
        return new PoolKey(clientId, Set.of(serverId), server.localAddress(), LOOPBACK);
    }

    public PoolKey key(Set<SpiffeId> expected) {
        return new PoolKey(clientId, expected, server.localAddress(), LOOPBACK);
    }

    /** A local TCP listener whose every connection is tunnelled to {@code target}. */
    public LocalForwarder forwarder(InetSocketAddress target) throws InterruptedException {
        LocalForwarder f = LocalForwarder.start(client, new InetSocketAddress(LOOPBACK, 0), key(), target);
        closeables.add(f);
        return f;
    }

    public <T extends AutoCloseable> T closeLater(T c) {
        closeables.add(c);
        return c;
    }

    @Override
    public void close() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
        client.close();
        server.shutdown(Duration.ofSeconds(2)).join();
    }
}
