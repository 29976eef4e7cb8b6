package dev.meshlite.ztunnel.proxy;

import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.transport.Transport;
import dev.meshlite.ztunnel.dns.DnsProxy;
import dev.meshlite.ztunnel.identity.CertificateManager;
import dev.meshlite.ztunnel.metrics.TcpMetrics;
import dev.meshlite.ztunnel.state.ProxyState;
import io.netty.channel.EventLoopGroup;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What every listener and connection of the proxy shares, built once at start-up: the current
 * state snapshot (replaced whole by the xDS client), the certificates, the HBONE client pool,
 * the metrics, and the event loops all sockets live on.
 *
 * @param cluster the cluster's name, sent in each tunnel's {@code baggage}
 * @param dns     the DNS proxy every pod's {@code :15053} answers with, or {@code null} when DNS
 *                is not captured
 */
public record ProxyInputs(String cluster, AtomicReference<ProxyState> state, CertificateManager certificates,
                          HboneClient hbone, TcpMetrics metrics, Transport transport, EventLoopGroup group,
                          PodDirectory pods, DnsProxy dns) {

    /** Mark of ztunnel's own upstream sockets: the capture rules let them pass (DESIGN §5). */
    public static final int SOCKET_MARK = 0x539;
    public static final int OUTBOUND_PORT = 15001;
    public static final int INBOUND_PLAINTEXT_PORT = 15006;
}
