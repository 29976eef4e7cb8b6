package dev.meshlite.hbone.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.client.HboneStream;
import dev.meshlite.hbone.client.HboneTunnelException;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.testing.EchoUpstream;
import dev.meshlite.hbone.testing.HboneTestbed;
import dev.meshlite.hbone.testing.RawH2Connection;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The status codes of DESIGN §3, each produced by a real client over real TLS. */
@Timeout(60)
class ConnectResponseIT {

    static HboneTestbed bed;
    static EchoUpstream echo;

    @BeforeAll
    static void start() throws Exception {
        bed = new HboneTestbed();
        echo = bed.closeLater(new EchoUpstream());
    }

    @AfterAll
    static void stop() throws Exception {
        bed.close();
    }

    @AfterEach
    void allowAgain() {
        bed.authorize(ConnectAuthorizer.dialAuthority());
    }

    private static int refusedStatus(TunnelRequest request) throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> bed.client.open(bed.key(), request).get(30, TimeUnit.SECONDS));
        return assertInstanceOf(HboneTunnelException.class, e.getCause()).status();
    }

    @Test
    void okCarriesTheHeadersAndThePeerIdentityToTheAuthorizer() throws Exception {
        TunnelRequest request = TunnelRequest.to(echo.address())
                .withForwardedFor(new InetSocketAddress("10.1.2.3", 4567), "echo.ns-b.svc.cluster.local")
                .withBaggage(TunnelRequest.baggage("Kubernetes", "ns-a", "sleep", "sleep", "v1"));
        HboneStream stream = bed.client.open(bed.key(), request).get(30, TimeUnit.SECONDS);
        stream.close();
        ConnectRequest seen = bed.requests.getLast();
        assertEquals(bed.clientId, seen.peer());
        assertEquals(echo.address(), seen.authority());
        assertEquals("for=\"10.1.2.3:4567\";host=echo.ns-b.svc.cluster.local", seen.headers().get("forwarded").toString());
        assertTrue(seen.headers().get("traceparent").toString().matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01"),
                "traceparent: " + seen.headers().get("traceparent"));
        assertEquals("k8s.cluster.name=Kubernetes,k8s.namespace.name=ns-a,k8s.deployment.name=sleep,"
                + "service.name=sleep,service.version=v1", seen.headers().get("baggage").toString());
    }

    @Test
    void deniedIs401AndNothingIsDialed() throws Exception {
        int before = echo.accepted();
        bed.authorize(r -> ConnectDecision.deny("no"));
        assertEquals(401, refusedStatus(TunnelRequest.to(echo.address())));
        assertEquals(before, echo.accepted(), "the upstream must not be dialed for a denied CONNECT");
    }

    @Test
    void unknownUpstreamIs503() throws Exception {
        bed.authorize(r -> ConnectDecision.unavailable("no such workload"));
        assertEquals(503, refusedStatus(TunnelRequest.to(echo.address())));
    }

    @Test
    void unreachableUpstreamIs503() throws Exception {
        InetSocketAddress closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = (InetSocketAddress) s.getLocalSocketAddress();
        }
        assertEquals(503, refusedStatus(TunnelRequest.to(closed)));
    }

    @Test
    void authorizerFailureIs503() throws Exception {
        bed.authorize(r -> {
            throw new IllegalStateException("policy store unavailable");
        });
        assertEquals(503, refusedStatus(TunnelRequest.to(echo.address())));
    }

    @Test
    void nonConnectIs400() throws Exception {
        var cert = bed.ca.issue(bed.clientId);
        try (RawH2Connection c = RawH2Connection.connect(bed.server.localAddress(), cert.leaf(), cert.privateKey())) {
            assertEquals("h2", c.applicationProtocol());
            c.preface().headers(1, new DefaultHttp2Headers().method("GET").scheme("https").path("/")
                    .authority(hostPort(echo.address())), true);
            assertEquals(400, c.awaitStatus(1));
        }
    }

    @Test
    void malformedConnectsAre400() throws Exception {
        var cert = bed.ca.issue(bed.clientId);
        String[] bogus = {"echo.local:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-1",
                "[::1:80", "1.2.3:80", "127.0.0.1:80x", "[::1]:99999"};
        try (RawH2Connection c = RawH2Connection.connect(bed.server.localAddress(), cert.leaf(), cert.privateKey())) {
            c.preface();
            int stream = 1;
            for (String authority : bogus) {
                c.headers(stream, new DefaultHttp2Headers().method("CONNECT").authority(authority), false);
                assertEquals(400, c.awaitStatus(stream), "authority '" + authority + "'");
                stream += 2;
            }
            // CONNECT with a path, and CONNECT that already ends the stream
            c.headers(stream, new DefaultHttp2Headers().method("CONNECT").path("/").scheme("https")
                    .authority(hostPort(echo.address())), false);
            assertEquals(400, c.awaitStatus(stream));
            stream += 2;
            c.headers(stream, new DefaultHttp2Headers().method("CONNECT").authority(hostPort(echo.address())), true);
            assertEquals(400, c.awaitStatus(stream));
        }
    }

    static String hostPort(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }
}
