package dev.meshlite.ztunnel.inpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.cni.handoff.PodInfo;
import dev.meshlite.cni.rules.CaptureConfig;
import dev.meshlite.cni.rules.InpodRules;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.server.HboneServerConfig;
import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.CertificateSource;
import dev.meshlite.istiod.ca.client.RenewalScheduler;
import dev.meshlite.istiod.ca.client.WorkloadCertificates;
import dev.meshlite.ztunnel.Fixtures;
import dev.meshlite.ztunnel.dns.DnsMessage;
import dev.meshlite.ztunnel.dns.DnsProxy;
import dev.meshlite.ztunnel.identity.CertificateManager;
import dev.meshlite.ztunnel.metrics.AccessLog;
import dev.meshlite.ztunnel.metrics.TcpMetrics;
import dev.meshlite.ztunnel.proxy.ProxyInputs;
import dev.meshlite.ztunnel.proxy.inbound.HboneInbound;
import dev.meshlite.ztunnel.socket.Netns;
import dev.meshlite.ztunnel.state.ProxyState;
import io.netty.channel.EventLoopGroup;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * DNS capture end to end inside a real network namespace: the node agent's capture rules with DNS
 * on ({@link InpodRules}, applied with {@code iptables-restore}), the pod's resolver pointing at a
 * cluster resolver address that nothing serves (10.96.0.10, routed into a veth whose other end
 * is in the same namespace and answers nothing), and ztunnel serving the pod through {@link WorkloadManager}. glibc's own resolver
 * ({@code getent}) and a TCP client in the pod must get their answers from ztunnel's :15053: a
 * Service's VIP from the mesh state, another name from the upstream resolver (a socket of this
 * test on the host's loopback, which ztunnel reaches from its own namespace). Needs root.
 */
@Tag("root")
class DnsCaptureIT {

    private static final TestCa CA = TestCa.create("cluster.local");
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String RESOLVER = "10.96.0.10";
    private static final String BACKEND = "backend.shop.svc.cluster.local";

    private final AtomicReference<ProxyState> state = new AtomicReference<>(ProxyState.of(List.of(),
            List.of(Fixtures.service("backend", "shop", "10.96.0.20", Map.of(80, 8080))), List.of()));
    private final WorkloadCertificates certificates = new WorkloadCertificates(
            id -> new CertificateSource.Fetched(CA.issue(id), CA.bundle()), RenewalScheduler.singleThread("dns-it-certificates"),
            InstantSource.system(), RandomGenerator.getDefault(), Backoff.DEFAULT);
    private final List<AutoCloseable> closing = new ArrayList<>();
    private EventLoopGroup group;
    private String ns;
    private WorkloadManager pods;
    private DatagramSocket upstream;
    private final List<String> upstreamAsked = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** The same resolver's TCP side, on the same port. */
    private java.net.ServerSocket upstreamTcp;
    private final List<String> upstreamAskedOverTcp = new java.util.concurrent.CopyOnWriteArrayList<>();

    @BeforeEach
    void up() throws Exception {
        Assumptions.assumeTrue(Transport.EPOLL.isAvailable(), "in-pod listeners need epoll");
        group = Transport.EPOLL.newEventLoopGroup(1, "dns-it");
        ns = "mesh-dns-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24));
        run("ip", "netns", "add", ns);
        run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1"); // so the link sends nothing of its own
        run("ip", "-n", ns, "link", "set", "lo", "up");
        run("ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1");
        run("ip", "-n", ns, "link", "set", "d0", "up");
        run("ip", "-n", ns, "link", "set", "d1", "up");
        run("ip", "-n", ns, "addr", "add", "10.79.0.2/24", "dev", "d0");
        run("ip", "-n", ns, "route", "add", "default", "dev", "d0");
        // The node agent's rules, DNS capture on.
        run(List.of("ip", "netns", "exec", ns, "iptables-restore", "--noflush"),
                InpodRules.iptables(CaptureConfig.defaults().withDns(true)));
        for (List<String> jump : InpodRules.iptablesJumps()) {
            List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", ns, "iptables", "-t", jump.get(1), "-A"));
            argv.addAll(jump.subList(2, jump.size()));
            run(argv, "");
        }
        Path etc = Path.of("/etc/netns", ns);
        Files.createDirectories(etc);
        Files.writeString(etc.resolve("resolv.conf"), "nameserver " + RESOLVER + "\noptions timeout:2 attempts:1\n");
        Files.writeString(etc.resolve("hosts"), "127.0.0.1 localhost\n");

        upstream = new DatagramSocket(0, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().start(this::serveUpstream);
        upstreamTcp = new java.net.ServerSocket(upstream.getLocalPort(), 8, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().start(this::serveUpstreamOverTcp);

        DnsProxy dns = DnsProxy.start(state::get, "cluster.local",
                List.of((InetSocketAddress) upstream.getLocalSocketAddress()), Transport.EPOLL, group, null);
        closing.add(dns);
        AtomicReference<ProxyInputs> inputs = new AtomicReference<>();
        AtomicReference<HboneServer> hbone = new AtomicReference<>();
        pods = new WorkloadManager("cluster.local", inputs::get, hbone::get, Duration.ZERO);
        inputs.set(new ProxyInputs("Kubernetes", state, new CertificateManager(certificates, "cluster.local"), null,
                new TcpMetrics(new PrometheusRegistry(), new AccessLog(AccessLog.Format.TEXT)), Transport.EPOLL, group,
                pods, dns));
        hbone.set(HboneServer.start(new HboneServerConfig(null, Duration.ofSeconds(10), Duration.ofSeconds(10)), null,
                new HboneInbound(inputs.get()), new HboneMetrics(), Transport.EPOLL, group));
        closing.add(() -> hbone.get().shutdown(Duration.ZERO).orTimeout(10, TimeUnit.SECONDS).join());
    }

    @AfterEach
    void down() throws Exception {
        if (pods != null) {
            pods.closeAll();
        }
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
        certificates.close();
        if (upstream != null) {
            upstream.close();
        }
        if (upstreamTcp != null) {
            upstreamTcp.close();
        }
        if (ns != null) {
            run("ip", "netns", "del", ns);
            Path etc = Path.of("/etc/netns", ns);
            Files.deleteIfExists(etc.resolve("resolv.conf"));
            Files.deleteIfExists(etc.resolve("hosts"));
            Files.deleteIfExists(etc);
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    /** The upstream resolver: outside.example.test is 192.0.2.7; anything else does not exist. */
    private void serveUpstream() {
        byte[] buf = new byte[512];
        while (!upstream.isClosed()) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                upstream.receive(p);
                DnsMessage q = DnsMessage.parseQuery(java.util.Arrays.copyOf(p.getData(), p.getLength()));
                upstreamAsked.add(q.name());
                byte[] r = upstreamAnswer(q);
                upstream.send(new DatagramPacket(r, r.length, p.getSocketAddress()));
            } catch (Exception e) {
                return;
            }
        }
    }

    private static byte[] upstreamAnswer(DnsMessage q) {
        return q.name().equals("outside.example.test")
                ? q.answer(List.of(InetAddress.ofLiteral("192.0.2.7")), 60) : q.error(DnsMessage.NXDOMAIN);
    }

    /** The upstream resolver over TCP: one length-prefixed query per connection, answered alike. */
    private void serveUpstreamOverTcp() {
        while (!upstreamTcp.isClosed()) {
            try (Socket c = upstreamTcp.accept()) {
                c.setSoTimeout(5_000);
                DataInputStream in = new DataInputStream(c.getInputStream());
                DnsMessage q = DnsMessage.parseQuery(in.readNBytes(in.readUnsignedShort()));
                upstreamAskedOverTcp.add(q.name());
                byte[] r = upstreamAnswer(q);
                DataOutputStream out = new DataOutputStream(c.getOutputStream());
                out.writeShort(r.length);
                out.write(r);
                out.flush();
            } catch (Exception e) {
                if (upstreamTcp.isClosed()) {
                    return;
                }
            }
        }
    }

    private void serve() throws Exception {
        PodInfo pod = new PodInfo("uid-client", "client", "web", "client", List.of("10.79.0.2"));
        pods.serve(pod, Netns.open(Path.of("/run/netns/" + ns)));
    }

    @Test
    void podResolversGetServiceAddressesFromZtunnelAndOtherNamesFromUpstream() throws Exception {
        serve();
        assertEquals("10.96.0.20", getent(BACKEND), "the Service's VIP, from the mesh state");
        assertEquals(List.of(), upstreamAsked, "a Service name is not asked upstream");
        assertEquals("192.0.2.7", getent("outside.example.test"), "another name, from the upstream resolver");
        assertTrue(upstreamAsked.contains("outside.example.test"), upstreamAsked.toString());
        assertEquals(List.of("10.96.0.20"), overTcp(BACKEND), "DNS over TCP, captured the same way");
        assertEquals(List.of("192.0.2.7"), overTcp("outside.example.test"), "another name over TCP");
        assertEquals(List.of("outside.example.test"), upstreamAskedOverTcp, "asked upstream over TCP in turn");
        assertEquals("0", run("ip", "netns", "exec", ns, "cat", "/sys/class/net/d0/statistics/tx_packets"),
                "no query left the pod for the resolver's address");
    }

    @Test
    void withoutZtunnelServingThePodTheSameLookupFails() throws Exception {
        // The rules alone send port 53 to :15053: nobody listens there until ztunnel serves the pod.
        Process p = new ProcessBuilder("ip", "netns", "exec", ns, "getent", "ahostsv4", BACKEND).redirectErrorStream(true).start();
        assertTrue(p.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS), "getent hung");
        assertNotEquals(0, p.exitValue(), "resolved without ztunnel: " + new String(p.getInputStream().readAllBytes()));
        serve();
        assertEquals("10.96.0.20", getent(BACKEND));
    }

    /** The first IPv4 address glibc's resolver gives for {@code name} inside the pod. */
    private String getent(String name) throws Exception {
        String out = run("ip", "netns", "exec", ns, "getent", "ahostsv4", name);
        return out.split("\\s+")[0];
    }

    /** A query over TCP from inside the pod to the resolver's address; the answer's addresses. */
    private List<String> overTcp(String name) throws Exception {
        try (Netns n = Netns.open(Path.of("/run/netns/" + ns))) {
            byte[] answer = n.run(() -> {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(RESOLVER, 53), 5_000);
                    s.setSoTimeout(5_000);
                    byte[] q = query(0x77, name);
                    DataOutputStream out = new DataOutputStream(s.getOutputStream());
                    out.writeShort(q.length);
                    out.write(q);
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    byte[] r = new byte[in.readUnsignedShort()];
                    in.readFully(r);
                    return r;
                }
            });
            assertEquals(0x77, DnsMessage.idOf(answer));
            // One A record after the echoed question: its last four bytes are the address.
            assertEquals(1, ((answer[6] & 0xFF) << 8) | (answer[7] & 0xFF), "one answer");
            byte[] addr = java.util.Arrays.copyOfRange(answer, answer.length - 4, answer.length);
            return List.of(InetAddress.getByAddress(addr).getHostAddress());
        }
    }

    private static byte[] query(int id, String name) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) (id >> 8), (byte) id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            out.write(label.length());
            out.writeBytes(label.getBytes(StandardCharsets.US_ASCII));
        }
        out.writeBytes(new byte[] {0, 0, 1, 0, 1});
        return out.toByteArray();
    }

    private static String run(String... argv) throws IOException, InterruptedException {
        return run(List.of(argv), null);
    }

    private static String run(List<String> argv, String stdin) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS), String.join(" ", argv) + " hung");
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
        return out;
    }
}
