package dev.meshlite.ztunnel.dns;

import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.ScheduledFuture;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's DNS proxy (DESIGN §5, {@code :15053} in every served pod when the node agent captures
 * DNS): a pod's query for a Service's hostname is answered from the mesh's own state (the
 * Service's VIPs, as xDS delivered them) without leaving the node; any other query is forwarded to
 * the upstream resolvers and their answer relayed unchanged. Without upstreams, an unknown name in
 * the cluster's domain is NXDOMAIN and any other name REFUSED.
 *
 * <p>Forwarded queries leave from ztunnel's own network namespace (never a pod's, so the pod's
 * capture rules cannot send them back here). A query that came over UDP goes over UDP, from one
 * socket, under a fresh id restored on the way back; its answer is relayed even when truncated,
 * and the pod's resolver then asks again over TCP. A query that came over TCP goes over TCP, one
 * connection per query, so an answer too large for a datagram reaches the pod whole. An upstream
 * that has not answered within {@link #UPSTREAM_TIMEOUT} is skipped for the next; when none
 * answered, the pod gets SERVFAIL. A query that cannot be read gets FORMERR when it had an id,
 * and is dropped otherwise; either way nothing is forwarded and nothing kept.
 *
 * <p>Counted in {@code istio_dns_requests_total{result}} (answered, forwarded, nxdomain, refused,
 * formerr, servfail, dropped).
 */
public final class DnsProxy implements AutoCloseable {

    /** The port in each pod's namespace the capture rules redirect port 53 to. */
    public static final int PORT = 15053;
    /** Time to live of the answers given from the mesh's state. */
    public static final int TTL_SECONDS = 30;
    public static final Duration UPSTREAM_TIMEOUT = Duration.ofSeconds(2);
    /** Queries forwarded and not yet answered, at most; more get SERVFAIL at once. */
    static final int MAX_PENDING = 4096;
    /** The largest DNS message (its length is two bytes over TCP; a UDP datagram's payload holds no more). */
    static final int MAX_MESSAGE = 0xFFFF;
    /** A pod's TCP connection to the proxy is closed after this long without a query. */
    public static final Duration TCP_IDLE = Duration.ofSeconds(30);

    private static final Logger LOG = LoggerFactory.getLogger(DnsProxy.class);

    private final Supplier<ProxyState> state;
    private final String clusterDomain;
    private final List<InetSocketAddress> upstreams;
    private final Channel upstream;
    private final Counter requests;
    /** Forwarded queries by the id they were sent under; touched on {@link #upstream}'s loop only. */
    private final Map<Integer, Pending> pending = new HashMap<>();
    private final Transport transport;
    private final EventLoopGroup group;
    /** Queries being forwarded over TCP, at most {@link #MAX_PENDING}. */
    private final AtomicInteger overTcp = new AtomicInteger();

    private DnsProxy(Supplier<ProxyState> state, String clusterDomain, List<InetSocketAddress> upstreams,
                     Channel upstream, Counter requests, Transport transport, EventLoopGroup group) {
        this.state = state;
        this.clusterDomain = clusterDomain.toLowerCase(Locale.ROOT);
        this.upstreams = List.copyOf(upstreams);
        this.upstream = upstream;
        this.requests = requests;
        this.transport = transport;
        this.group = group;
    }

    /**
     * @param upstreams where names the mesh does not know are resolved (empty: nowhere)
     * @param registry  where {@code istio_dns_requests_total} is registered, or {@code null}
     */
    public static DnsProxy start(Supplier<ProxyState> state, String clusterDomain, List<InetSocketAddress> upstreams,
                                 Transport transport, EventLoopGroup group, PrometheusRegistry registry)
            throws InterruptedException {
        Counter requests = Counter.builder().withoutExemplars().name("istio_dns_requests_total")
                .help("DNS queries from pods, by what became of them").labelNames("result").build();
        if (registry != null) {
            registry.register(requests);
        }
        // The socket exists before the proxy that owns it: a datagram arriving in between (no
        // query was sent yet, so nobody's answer) is dropped.
        AtomicReference<DnsProxy> self = new AtomicReference<>();
        Channel ch = null;
        if (!upstreams.isEmpty()) {
            ch = new Bootstrap().group(group).channel(transport.datagramChannel())
                    // Room for any answer (EDNS lets one exceed Netty's 2 KiB default): never cut short.
                    .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_MESSAGE))
                    .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                        @Override
                        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket p) {
                            DnsProxy proxy = self.get();
                            if (proxy != null) {
                                proxy.fromUpstream(p.sender(), ByteBufUtil.getBytes(p.content()));
                            }
                        }
                    })
                    .bind(new InetSocketAddress(0)).sync().channel();
        }
        self.set(new DnsProxy(state, clusterDomain, upstreams, ch, requests, transport, group));
        return self.get();
    }

    /**
     * Answers one query that came over UDP; {@code reply} is called once with the response (on
     * some event loop), or never for a message that is dropped.
     */
    public void handle(byte[] query, Consumer<byte[]> reply) {
        handle(query, false, reply);
    }

    /** As {@link #handle(byte[], Consumer)}, for a query that came over TCP when {@code tcp}. */
    public void handle(byte[] query, boolean tcp, Consumer<byte[]> reply) {
        DnsMessage q;
        try {
            q = DnsMessage.parseQuery(query);
        } catch (DnsMessage.Malformed e) {
            LOG.debug("DNS query refused: {}", e.getMessage());
            if (e.id() < 0) {
                count("dropped");
                return;
            }
            count("formerr");
            reply.accept(DnsMessage.formatError(e.id(), query));
            return;
        }
        if (q.opcode() != 0) {
            count("refused");
            reply.accept(q.error(DnsMessage.NOTIMP));
            return;
        }
        List<InetAddress> known = q.qclass() == DnsMessage.CLASS_IN ? state.get().addressesOf(q.name()) : List.of();
        if (!known.isEmpty()) {
            count("answered");
            reply.accept(q.answer(known, TTL_SECONDS));
        } else if (upstream != null && tcp) {
            forwardTcp(q, query, reply);
        } else if (upstream != null) {
            upstream.eventLoop().execute(() -> forward(q, query, reply, 0));
        } else if (q.name().equals(clusterDomain) || q.name().endsWith("." + clusterDomain)) {
            count("nxdomain");
            reply.accept(q.error(DnsMessage.NXDOMAIN));
        } else {
            count("refused");
            reply.accept(q.error(DnsMessage.REFUSED));
        }
    }

    private void forward(DnsMessage q, byte[] query, Consumer<byte[]> reply, int attempt) {
        if (pending.size() >= MAX_PENDING || !upstream.isActive()) {
            count("servfail");
            reply.accept(q.error(DnsMessage.SERVFAIL));
            return;
        }
        int id;
        do {
            id = ThreadLocalRandom.current().nextInt(1 << 16);
        } while (pending.containsKey(id));
        int sentAs = id;
        InetSocketAddress to = upstreams.get(attempt);
        ScheduledFuture<?> timeout = upstream.eventLoop().schedule(() -> {
            if (pending.remove(sentAs) == null) {
                return;
            }
            if (attempt + 1 < upstreams.size()) {
                forward(q, query, reply, attempt + 1);
            } else {
                LOG.debug("DNS {}: no upstream answered within {}", q.name(), UPSTREAM_TIMEOUT);
                count("servfail");
                reply.accept(q.error(DnsMessage.SERVFAIL));
            }
        }, UPSTREAM_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        pending.put(id, new Pending(q.id(), to, reply, timeout));
        upstream.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(DnsMessage.withId(query, id)), to));
    }

    private void forwardTcp(DnsMessage q, byte[] query, Consumer<byte[]> reply) {
        if (overTcp.incrementAndGet() > MAX_PENDING) {
            overTcp.decrementAndGet();
            count("servfail");
            reply.accept(q.error(DnsMessage.SERVFAIL));
            return;
        }
        askOverTcp(q, query, 0, answer -> {
            overTcp.decrementAndGet();
            if (answer == null) {
                LOG.debug("DNS {} over TCP: no upstream answered", q.name());
                count("servfail");
                reply.accept(q.error(DnsMessage.SERVFAIL));
            } else {
                count("forwarded");
                reply.accept(answer);
            }
        });
    }

    /**
     * Sends {@code query} to upstream {@code attempt} on a connection of its own and passes the
     * first response carrying the query's id to {@code done}; a refused or failed connection, a
     * close before the answer, a foreign message or {@link #UPSTREAM_TIMEOUT} from the dial on
     * moves to the next upstream, and after the last {@code done} gets {@code null}.
     */
    private void askOverTcp(DnsMessage q, byte[] query, int attempt, Consumer<byte[]> done) {
        InetSocketAddress to = upstreams.get(attempt);
        AtomicBoolean settled = new AtomicBoolean();
        Consumer<byte[]> settle = answer -> {
            if (!settled.compareAndSet(false, true)) {
                return;
            }
            if (answer == null && attempt + 1 < upstreams.size()) {
                askOverTcp(q, query, attempt + 1, done);
            } else {
                done.accept(answer);
            }
        };
        ChannelFuture dial = new Bootstrap().group(group).channel(transport.socketChannel())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(2 + MAX_MESSAGE, 0, 2, 0, 2),
                                new SimpleChannelInboundHandler<ByteBuf>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) {
                                        byte[] r = ByteBufUtil.getBytes(frame);
                                        if (DnsMessage.idOf(r) == q.id() && DnsMessage.isResponse(r)) {
                                            settle.accept(r);
                                        }
                                        ctx.close(); // one query per connection; anything else ends it too
                                    }

                                    @Override
                                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                        ctx.close();
                                    }
                                });
                    }
                })
                .connect(to);
        Channel ch = dial.channel();
        if (dial.isDone() && !dial.isSuccess() && !ch.isRegistered()) { // no socket at all (descriptors exhausted, say)
            LOG.debug("DNS over TCP to {}: {}", to, dial.cause().toString());
            settle.accept(null);
            return;
        }
        // One bound for the dial and the answer together.
        ScheduledFuture<?> timeout = ch.eventLoop().schedule(() -> ch.close(), UPSTREAM_TIMEOUT.toNanos(),
                TimeUnit.NANOSECONDS);
        ch.closeFuture().addListener(f -> {
            timeout.cancel(false);
            settle.accept(null); // closed without an answer (no-op when one came)
        });
        dial.addListener((ChannelFuture f) -> {
            if (f.isSuccess()) {
                ByteBuf out = f.channel().alloc().buffer(2 + query.length);
                out.writeShort(query.length).writeBytes(query);
                f.channel().writeAndFlush(out);
            } else {
                ch.close();
            }
        });
    }

    private void fromUpstream(InetSocketAddress sender, byte[] response) {
        int id = DnsMessage.idOf(response);
        Pending p = pending.get(id);
        // Only the upstream asked may answer, and only with a response: anything else is dropped.
        if (p == null || !p.to.equals(sender) || !DnsMessage.isResponse(response)) {
            return;
        }
        pending.remove(id);
        p.timeout.cancel(false);
        count("forwarded");
        p.reply.accept(DnsMessage.withId(response, p.originalId));
    }

    private void count(String result) {
        requests.labelValues(result).inc();
    }

    /** Queries forwarded and not answered yet (read on the upstream socket's loop). */
    int pending() throws Exception {
        return upstream == null ? 0 : upstream.eventLoop().submit(pending::size).get();
    }

    /** The handler of a pod's UDP socket on {@link #PORT}: each datagram one query, answered to its sender. */
    public ChannelHandler udpHandler() {
        return new SimpleChannelInboundHandler<DatagramPacket>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket p) {
                Channel ch = ctx.channel();
                InetSocketAddress from = p.sender();
                handle(ByteBufUtil.getBytes(p.content()),
                        r -> ch.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(r), from)));
            }
        };
    }

    /**
     * The pipeline of a pod's TCP connection to {@link #PORT}: queries and answers each behind a
     * two-byte length (RFC 1035 §4.2.2), answered in any order; closed after
     * {@link #TCP_IDLE} without a query.
     */
    public ChannelInitializer<Channel> tcpInitializer() {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(new ReadTimeoutHandler(TCP_IDLE.toSeconds(), TimeUnit.SECONDS),
                        new LengthFieldBasedFrameDecoder(2 + MAX_MESSAGE, 0, 2, 0, 2),
                        new SimpleChannelInboundHandler<ByteBuf>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) {
                                handle(ByteBufUtil.getBytes(frame), true, r -> {
                                    ByteBuf out = ctx.alloc().buffer(2 + r.length);
                                    out.writeShort(r.length).writeBytes(r);
                                    ctx.writeAndFlush(out);
                                });
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                ctx.close(); // idle, or a length past the message: done with this client
                            }
                        });
            }
        };
    }

    /** The local address forwarded queries leave from ({@code null} without upstreams). */
    InetSocketAddress upstreamSocket() {
        return upstream == null ? null : (InetSocketAddress) upstream.localAddress();
    }

    @Override
    public void close() {
        if (upstream != null) {
            upstream.close().syncUninterruptibly();
        }
    }

    private record Pending(int originalId, InetSocketAddress to, Consumer<byte[]> reply, ScheduledFuture<?> timeout) {}
}
