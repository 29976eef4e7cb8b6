package dev.meshlite.istiod.ca;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.client.HboneClientConfig;
import dev.meshlite.hbone.client.LocalForwarder;
import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.server.ConnectAuthorizer;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.server.HboneServerConfig;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A root rotation keeps workloads of both generations talking over HBONE: once every workload
 * holds the rotation's bundle (new and old roots), certificates from either root are accepted in
 * both directions. The control: a workload still trusting only the old root refuses a new one.
 */
@Timeout(120)
class RootRotationHboneIT {

    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    static final SpiffeId SERVER = SpiffeId.parse("spiffe://cluster.local/ns/ns-b/sa/server");
    static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/ns-a/sa/client");

    static MockCluster cluster;
    static CertificateAuthority ca;
    static EchoUpstream echo;
    static WorkloadCertificate oldServer;
    static WorkloadCertificate oldClient;
    static WorkloadCertificate newServer;
    static WorkloadCertificate newClient;
    static TrustBundle oldOnly;
    static TrustBundle rotating;
    static final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        cluster = new MockCluster().namespace("istio-system");
        ca = CertificateAuthority.start(CaOptions.defaults("cluster.local"), cluster.client(), new PrometheusRegistry());
        echo = new EchoUpstream();
        oldOnly = new TrustBundle(ca.signer().keys().roots());
        oldServer = issue(SERVER);
        oldClient = issue(CLIENT);
        ca.rotateRoot();
        rotating = new TrustBundle(ca.signer().keys().roots());
        assertEquals(2, rotating.roots().size());
        newServer = issue(SERVER);
        newClient = issue(CLIENT);
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
        echo.close();
        ca.close();
        cluster.close();
    }

    static WorkloadCertificate issue(SpiffeId id) {
        KeyPair key = RootCertificates.newP256();
        IssuedChain chain = ca.signer().sign(new CertificateRequest(key.getPublic()), id, Duration.ZERO);
        return new WorkloadCertificate(chain.chain(), key.getPrivate());
    }

    static HboneServer server(WorkloadCertificate cert, TrustBundle bundle) throws Exception {
        HboneServer s = HboneServer.start(HboneServerConfig.defaults(new InetSocketAddress(LOOPBACK, 0)),
                TlsContextHolder.forServer(cert, bundle, PeerVerifier.sameTrustDomain("cluster.local")),
                ConnectAuthorizer.dialAuthority(), new HboneMetrics());
        closeables.add(() -> s.shutdown(Duration.ofSeconds(2)).join());
        return s;
    }

    static HboneClient client(WorkloadCertificate cert, TrustBundle bundle) {
        HboneClient c = HboneClient.create(HboneClientConfig.defaults(),
                HboneClient.single(TlsContextHolder.forClient(cert, bundle)), new HboneMetrics());
        closeables.add(c);
        return c;
    }

    /** Bytes through client -> HBONE -> server -> echo and back. */
    static void roundTrip(WorkloadCertificate clientCert, WorkloadCertificate serverCert) throws Exception {
        HboneServer server = server(serverCert, rotating);
        HboneClient client = client(clientCert, rotating);
        PoolKey key = new PoolKey(CLIENT, Set.of(SERVER), server.localAddress(), LOOPBACK);
        LocalForwarder forwarder = LocalForwarder.start(client, new InetSocketAddress(LOOPBACK, 0), key, echo.address());
        closeables.add(forwarder);
        byte[] payload = ("hello across the rotation " + clientCert.leaf().getIssuerX500Principal() + " -> "
                + serverCert.leaf().getIssuerX500Principal()).getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket(LOOPBACK, forwarder.localAddress().getPort())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(payload);
            out.flush();
            InputStream in = s.getInputStream();
            assertArrayEquals(payload, in.readNBytes(payload.length));
        }
    }

    @Test
    void tunnelOpens() throws Exception {
        HboneServer server = server(newServer, rotating);
        HboneClient client = client(oldClient, rotating);
        PoolKey key = new PoolKey(CLIENT, Set.of(SERVER), server.localAddress(), LOOPBACK);
        client.open(key, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS).close();
    }

    @Test
    void oldClientToNewServer() throws Exception {
        roundTrip(oldClient, newServer);
    }

    @Test
    void newClientToOldServer() throws Exception {
        roundTrip(newClient, oldServer);
    }

    @Test
    void sameGenerationStillTalks() throws Exception {
        roundTrip(oldClient, oldServer);
        roundTrip(newClient, newServer);
    }

    @Test
    void aServerTrustingOnlyTheOldRootRefusesANewCertificate() throws Exception {
        HboneServer server = server(oldServer, oldOnly);
        HboneClient client = client(newClient, rotating);
        PoolKey key = new PoolKey(CLIENT, Set.of(SERVER), server.localAddress(), LOOPBACK);
        assertThrows(ExecutionException.class,
                () -> client.open(key, TunnelRequest.to(echo.address())).get(30, TimeUnit.SECONDS));
    }
}
