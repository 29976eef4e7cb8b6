package dev.meshlite.istiod.bench;

import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.istiod.api.xds.v1.Node;
import dev.meshlite.istiod.ca.client.Backoff;
import dev.meshlite.istiod.ca.client.GrpcCertificateSource;
import dev.meshlite.istiod.xds.XdsSnapshot;
import dev.meshlite.istiod.xds.client.XdsClient;
import dev.meshlite.istiod.grpc.GrpcChannel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;
import java.util.stream.IntStream;

/**
 * Simulated ztunnels: per node a real {@link XdsClient} on its own TLS connection (all on two
 * shared event loops, as the connections of one process would be), authenticated with
 * that node's credential, subscribed to every type; its handler only counts ({@link CountingHandler}).
 */
final class ProxyFleet implements AutoCloseable {

    /** istiod's certificate names this; the CA's gRPC server presents it. */
    static final String AUTHORITY = "istiod.istio-system.svc";
    private static final Duration POLL = Duration.ofMillis(1);

    private record Member(String node, GrpcChannel channel, XdsClient client, CountingHandler handler) {}

    /** What {@link #await} saw when every proxy got there. */
    record Reached(long lastUpdateMicros, long bytesSinceMark) {}

    private final List<Member> members = new ArrayList<>();
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    private long[] marked = new long[0];
    private long[] markedBytes = new long[0];

    /** Connects one client per {@code tokens} entry (node → bearer token), in order. */
    static ProxyFleet connect(String host, int port, TrustBundle roots, Map<String, String> tokens) {
        ProxyFleet fleet = new ProxyFleet();
        tokens.forEach((node, token) -> {
            GrpcChannel channel = GrpcCertificateSource.channel(host, port, roots, AUTHORITY, fleet.group,
                    NioSocketChannel.class);
            CountingHandler handler = new CountingHandler();
            XdsClient client = new XdsClient(channel, () -> token, Node.newBuilder().setId("ztunnel~" + node)
                    .setRole("ztunnel").setNodeName(node).build(), XdsSnapshot.TYPES, handler,
                    new Backoff(Duration.ofMillis(100), Duration.ofSeconds(2)), Clock.systemUTC());
            fleet.members.add(new Member(node, channel, client, handler));
            client.start();
        });
        fleet.mark();
        return fleet;
    }

    int size() {
        return members.size();
    }

    /** Waits until every proxy holds exactly this many workloads and services. */
    Reached awaitHolding(int workloads, int services, Duration timeout) throws InterruptedException {
        return await(i -> handler(i).workloads() == workloads && handler(i).services() == services, timeout,
                "holding " + workloads + " workloads and " + services + " services");
    }

    /** Remembers every proxy's update count, for {@link #awaitChanged}. */
    void mark() {
        marked = members.stream().mapToLong(m -> m.handler.updates()).toArray();
        markedBytes = members.stream().mapToLong(m -> m.handler.bytes()).toArray();
    }

    /** Waits until every proxy applied an update since {@link #mark}. */
    Reached awaitChanged(Duration timeout) throws InterruptedException {
        long[] since = marked;
        return await(i -> handler(i).updates() > since[i], timeout, "an update since the mark");
    }

    private CountingHandler handler(int i) {
        return members.get(i).handler;
    }

    private Reached await(IntPredicate done, Duration timeout, String what) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long notYet = IntStream.range(0, members.size()).filter(i -> !done.test(i)).count();
            if (notYet == 0) {
                long last = members.stream().mapToLong(m -> m.handler.lastUpdateMicros()).max().orElse(0);
                long bytes = 0;
                for (int i = 0; i < members.size(); i++) {
                    bytes += members.get(i).handler.bytes() - markedBytes[i];
                }
                return new Reached(last, bytes);
            }
            if (System.nanoTime() > deadline) {
                Member m = members.get(IntStream.range(0, members.size()).filter(i -> !done.test(i)).findFirst()
                        .orElseThrow());
                throw new IllegalStateException(notYet + " of " + members.size() + " proxies not " + what + " after "
                        + timeout + " (e.g. " + m.node + ": " + m.handler.workloads() + " workloads, "
                        + m.handler.services() + " services, synced " + m.client.synced() + ")");
            }
            Thread.sleep(POLL);
        }
    }

    @Override
    public void close() throws InterruptedException {
        for (Member m : members) {
            m.client.close();
        }
        for (Member m : members) {
            m.channel.close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
    }
}
