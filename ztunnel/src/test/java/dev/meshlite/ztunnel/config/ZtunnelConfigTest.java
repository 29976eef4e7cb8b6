package dev.meshlite.ztunnel.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.cni.handoff.PodInfo;
import dev.meshlite.ztunnel.metrics.AccessLog;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ZtunnelConfigTest {

    static final PodInfo POD = new PodInfo("uid", "app", "shop", "app", List.of("10.244.1.5"));
    static final List<InetSocketAddress> UPSTREAM = List.of(new InetSocketAddress("10.96.0.10", 53));

    static ZtunnelConfig config(Path handoff, PodInfo dedicated, boolean dns, String domain) {
        InetSocketAddress any = new InetSocketAddress("127.0.0.1", 1);
        return new ZtunnelConfig("node-1", "cluster.local", "Kubernetes", any, Path.of("/ca.pem"), "istiod",
                Path.of("/token"), handoff, any, any, any, AccessLog.Format.TEXT, Duration.ofSeconds(5),
                Duration.ofSeconds(5), Duration.ofHours(24), dedicated, dns, domain, UPSTREAM);
    }

    @Test
    void dnsCaptureInPodMode() {
        ZtunnelConfig c = config(Path.of("/ztunnel.sock"), null, true, "cluster.local");
        assertTrue(c.dnsCapture());
        assertEquals(UPSTREAM, c.dnsUpstreams());
    }

    @Test
    void dnsCaptureIsRefusedInDedicatedModeWhereItsOwnQueriesWouldComeBack() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> config(null, POD, true, "cluster.local"));
        assertTrue(e.getMessage().startsWith("--dns-capture is for in-pod mode"), e.getMessage());
        assertEquals(POD, config(null, POD, false, "cluster.local").dedicatedPod());
    }

    @Test
    void aClusterDomainWithDotsAtItsEndsIsRefused() {
        for (String bad : List.of("", ".cluster.local", "cluster.local.")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> config(Path.of("/ztunnel.sock"), null, true, bad));
            assertTrue(e.getMessage().startsWith("--cluster-domain"), e.getMessage());
        }
    }
}
