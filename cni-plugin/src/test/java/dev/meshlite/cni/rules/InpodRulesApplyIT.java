package dev.meshlite.cni.rules;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The golden rules loaded by the real tools into a real network namespace, then shown to work:
 * an outbound connection to an address of the namespace's own subnet lands on the outbound
 * capture port instead. Needs root.
 */
@Tag("root")
class InpodRulesApplyIT {

    private String ns;
    private final List<Process> started = new ArrayList<>();

    record Run(int exit, String out) {
    }

    static Run run(String stdin, String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes());
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", argv) + " hung");
        return new Run(p.exitValue(), out);
    }

    private Run in(String stdin, String... argv) throws Exception {
        List<String> all = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        all.addAll(List.of(argv));
        Run r = run(stdin, all.toArray(String[]::new));
        return r;
    }

    private void ok(Run r, String what) {
        assertEquals(0, r.exit(), what + ": " + r.out());
    }

    @BeforeEach
    void namespace() throws Exception {
        ns = "mesh-rules-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24));
        ok(run(null, "ip", "netns", "add", ns), "netns add");
        ok(in(null, "ip", "link", "set", "lo", "up"), "lo up");
        // a subnet of the namespace's own (a veth pair inside it), for the app to aim at
        ok(in(null, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"), "veth");
        ok(in(null, "ip", "addr", "add", "10.99.0.1/24", "dev", "v0"), "addr");
        ok(in(null, "ip", "link", "set", "v0", "up"), "v0 up");
        ok(in(null, "ip", "link", "set", "v1", "up"), "v1 up");
    }

    @AfterEach
    void cleanup() throws Exception {
        started.forEach(Process::destroyForcibly);
        for (Process p : started) {
            p.waitFor(5, TimeUnit.SECONDS);
        }
        run(null, "ip", "netns", "del", ns);
    }

    @ParameterizedTest
    @ValueSource(strings = {"iptables", "nftables"})
    void outboundTcpIsRedirectedToTheCapturePort(String backend) throws Exception {
        CaptureConfig c = CaptureConfig.defaults();
        if (backend.equals("iptables")) {
            ok(in(InpodRules.iptables(c), "iptables-restore", "--noflush"), "iptables-restore");
            for (List<String> jump : InpodRules.iptablesJumps()) {
                List<String> argv = new ArrayList<>(List.of("iptables", jump.get(0), jump.get(1), "-A"));
                argv.addAll(jump.subList(2, jump.size()));
                ok(in(null, argv.toArray(String[]::new)), "jump " + jump);
            }
            assertTrue(in(null, "iptables-save", "-t", "nat").out().contains("-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j REDIRECT --to-ports 15001"));
        } else {
            ok(in(InpodRules.nftables(c), "nft", "-f", "-"), "nft -f");
            ok(in(InpodRules.nftables(c), "nft", "-f", "-"), "nft -f again (idempotent)");
            assertTrue(in(null, "nft", "list", "table", "inet", "istio-inpod").out().contains("redirect to :15001"));
        }
        for (List<String> route : InpodRules.routes(c)) {
            List<String> argv = new ArrayList<>(List.of("ip"));
            argv.addAll(route);
            ok(in(null, argv.toArray(String[]::new)), "route " + route);
        }
        // The capture port answers with a word; the app "connects" to another address entirely.
        Process listener = new ProcessBuilder("ip", "netns", "exec", ns, "socat",
                "TCP-LISTEN:15001,bind=0.0.0.0,reuseaddr,fork", "SYSTEM:echo captured").redirectErrorStream(true).start();
        started.add(listener);
        Run probe = null;
        for (int i = 0; i < 50; i++) {
            probe = in(null, "socat", "-T", "2", "-", "TCP:10.99.0.2:80,connect-timeout=2");
            if (probe.out().contains("captured")) {
                break;
            }
            Thread.sleep(100); // the listener may still be starting: retry a bounded number of times
        }
        assertTrue(probe.out().contains("captured"), "connection to 10.99.0.2:80 was not redirected: " + probe.out());
        for (List<String> route : InpodRules.routesRemoval(c)) {
            List<String> argv = new ArrayList<>(List.of("ip"));
            argv.addAll(route);
            ok(in(null, argv.toArray(String[]::new)), "remove " + route);
        }
    }
}
