package dev.meshlite.cni.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.cni.rules.CaptureConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link Capture} against real network namespaces: applying twice leaves one copy of every
 * rule, jump and route; removing takes all of it out and removing again is not an error. Prints
 * what one pod's capture costs, one after another and on a pool of four as the agent runs it (a
 * figure, not a pass condition). Needs root.
 */
@Tag("root")
class CaptureIT {

    private static final int PODS = 8;
    private final List<String> namespaces = new ArrayList<>();

    private String namespace() {
        String ns = "mesh-cap-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24));
        Cmd.run(List.of("ip", "netns", "add", ns), null);
        namespaces.add(ns);
        Cmd.run(List.of("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"), null);
        return "/run/netns/" + ns;
    }

    @AfterEach
    void cleanup() {
        namespaces.forEach(ns -> Cmd.ok(List.of("ip", "netns", "del", ns)));
    }

    private static String in(String netns, String... argv) {
        List<String> all = new ArrayList<>(List.of("nsenter", "--net=" + netns, "--"));
        all.addAll(List.of(argv));
        return Cmd.run(all, null);
    }

    private static long count(String text, String line) {
        return text.lines().filter(line::equals).count();
    }

    /** Every piece of the capture, counted: each is 1 when applied and 0 when removed. */
    private static List<Long> pieces(String netns, Capture.Backend backend) {
        String rules = in(netns, "ip", "-4", "rule", "show");
        String table = Cmd.ok(List.of("nsenter", "--net=" + netns, "--", "ip", "-4", "route", "show", "table", "100"))
                ? in(netns, "ip", "-4", "route", "show", "table", "100") : "";
        List<Long> n = new ArrayList<>();
        if (backend == Capture.Backend.IPTABLES) {
            String mangle = in(netns, "iptables-save", "-t", "mangle");
            String nat = in(netns, "iptables-save", "-t", "nat");
            n.add(count(mangle, "-A PREROUTING -j ISTIO_PRERT"));
            n.add(count(mangle, "-A OUTPUT -j ISTIO_OUTPUT"));
            n.add(count(nat, "-A PREROUTING -j ISTIO_PRERT"));
            n.add(count(nat, "-A OUTPUT -j ISTIO_OUTPUT"));
            n.add(count(nat, "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j REDIRECT --to-ports 15001"));
            n.add(count(mangle, ":ISTIO_PRERT - [0:0]"));
        } else {
            String tables = in(netns, "nft", "list", "tables");
            n.add(count(tables, "table inet istio-inpod"));
        }
        n.add(rules.lines().filter(l -> l.contains("lookup 100")).count());
        n.add(table.lines().filter(l -> l.startsWith("local default dev lo")).count());
        return n;
    }

    @ParameterizedTest
    @EnumSource(Capture.Backend.class)
    void applyIsIdempotentAndRemoveLeavesNothing(Capture.Backend backend) throws Exception {
        Capture capture = new Capture(CaptureConfig.defaults(), backend);
        String netns = namespace();
        capture.remove(netns); // nothing there yet: not an error
        capture.apply(netns);
        List<Long> once = pieces(netns, backend);
        assertTrue(once.stream().allMatch(c -> c == 1), "applied once: " + once);
        capture.apply(netns);
        assertEquals(once, pieces(netns, backend), "applying again leaves one copy of everything");
        assertTrue(capture.isApplied(netns));
        capture.remove(netns);
        List<Long> gone = pieces(netns, backend);
        assertTrue(gone.stream().allMatch(c -> c == 0), "removed: " + gone);
        capture.remove(netns);
        capture.apply(netns); // and back, as a re-enrolled pod
        assertEquals(once, pieces(netns, backend));
    }

    @org.junit.jupiter.api.Test
    void theProbeChainIsRewrittenWhole() {
        String netns = namespace();
        ProbeBypass probes = new ProbeBypass("169.254.7.127");
        String rule = " -p tcp -m addrtype --src-type LOCAL -j SNAT --to-source 169.254.7.127";
        for (int i = 0; i < 2; i++) {
            Cmd.run(List.of("nsenter", "--net=" + netns, "--", "iptables-restore", "--noflush"),
                    probes.restoreInput(new java.util.TreeSet<>(List.of("10.0.0.1", "10.0.0.2"))));
        }
        String nat = in(netns, "iptables-save", "-t", "nat");
        assertEquals(1, count(nat, "-A MESH-PROBE-SNAT -d 10.0.0.1/32" + rule), nat);
        assertEquals(1, count(nat, "-A MESH-PROBE-SNAT -d 10.0.0.2/32" + rule), nat);
        Cmd.run(List.of("nsenter", "--net=" + netns, "--", "iptables-restore", "--noflush"),
                probes.restoreInput(new java.util.TreeSet<>(List.of("10.0.0.2"))));
        nat = in(netns, "iptables-save", "-t", "nat");
        assertEquals(0, count(nat, "-A MESH-PROBE-SNAT -d 10.0.0.1/32" + rule), nat);
        assertEquals(1, count(nat, "-A MESH-PROBE-SNAT -d 10.0.0.2/32" + rule), nat);
    }

    @ParameterizedTest
    @EnumSource(Capture.Backend.class)
    void perPodCost(Capture.Backend backend) throws Exception {
        Capture capture = new Capture(CaptureConfig.defaults(), backend);
        List<String> pods = new ArrayList<>();
        for (int i = 0; i < 2 * PODS; i++) {
            pods.add(namespace());
        }
        capture.apply(pods.get(0)); // warm: the first process of each tool pays for the page cache
        long start = System.nanoTime();
        for (String p : pods.subList(0, PODS)) {
            capture.apply(p);
        }
        long serial = (System.nanoTime() - start) / PODS;
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            start = System.nanoTime();
            List<Future<?>> done = new ArrayList<>();
            for (String p : pods.subList(PODS, 2 * PODS)) {
                done.add(pool.submit(() -> capture.apply(p)));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        long pooled = (System.nanoTime() - start) / PODS;
        for (String p : pods) {
            assertTrue(capture.isApplied(p));
        }
        System.out.printf("capture %s: %.1f ms per pod one after another, %.1f ms per pod on a pool of 4 (%d pods, %d cores)%n",
                backend, serial / 1e6, pooled / 1e6, PODS, Runtime.getRuntime().availableProcessors());
    }
}
