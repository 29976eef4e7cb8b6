package dev.meshlite.e2e.bench;

import dev.meshlite.e2e.cluster.Layout;
import dev.meshlite.e2e.cluster.Sh;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The L4 peer the anchors compare against: a stunnel TLS 1.3 mutual-TLS pair. Like a sidecar,
 * one stunnel per pod in the pod's namespace: on the client's side it accepts plain TCP on
 * loopback and connects to the server pod's stunnel, which ends TLS and connects to the app on
 * loopback. Certificates are EC P-256 with SPIFFE URI SANs, made by {@code openssl} for the run.
 */
final class Stunnel implements Shape {

    static final int HTTP_LOCAL = 18080;
    static final int HTTP_TLS = 18443;
    static final int IPERF_LOCAL = 15201;
    static final int IPERF_TLS = 15443;

    private final Path work;
    private final String binary;
    private final PodProcesses proxies = new PodProcesses();

    Stunnel(Path work) throws Exception {
        this.work = work;
        this.binary = Sh.tryRun("sh", "-c", "command -v stunnel4").ok() ? "stunnel4" : "stunnel";
        Files.createDirectories(work);
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key");
        openssl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/O=cluster.local/CN=bench root",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-out", "ca.pem");
        for (String side : List.of("client", "server")) {
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", side + ".key");
            openssl("req", "-new", "-key", side + ".key", "-subj", "/O=cluster.local", "-out", side + ".csr");
            Files.writeString(work.resolve(side + ".ext"), String.join("\n", "basicConstraints=critical,CA:FALSE",
                    "keyUsage=critical,digitalSignature,keyAgreement", "extendedKeyUsage=serverAuth,clientAuth",
                    "subjectAltName=critical,URI:spiffe://cluster.local/ns/bench/sa/" + side) + "\n");
            openssl("x509", "-req", "-in", side + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "1" + side.length(),
                    "-days", "1", "-sha256", "-extfile", side + ".ext", "-out", side + ".pem");
        }
    }

    private void openssl(String... args) {
        List<String> argv = new ArrayList<>(List.of("sh", "-c", "cd \"$0\" && exec openssl \"$@\"", work.toString()));
        argv.addAll(List.of(args));
        Sh.run(argv.toArray(String[]::new));
    }

    @Override
    public String name() {
        return "stunnel";
    }

    @Override
    public void enter(BenchPods pods) throws Exception {
        BenchPods.BenchPod server = pods.serverPod();
        for (BenchPods.BenchPod pod : pods.serverNodePods()) {
            start(pod, """
                    [http]
                    accept = 0.0.0.0:%d
                    connect = 127.0.0.1:8080
                    %s
                    [iperf]
                    accept = 0.0.0.0:%d
                    connect = 127.0.0.1:%d
                    %s
                    """.formatted(HTTP_TLS, tls("server"), IPERF_TLS, Load.IPERF_PORT, tls("server")));
        }
        BenchPods.BenchPod client = pods.clientPod();
        start(client, """
                [http]
                client = yes
                accept = 127.0.0.1:%d
                connect = %s:%d
                %s
                [iperf]
                client = yes
                accept = 127.0.0.1:%d
                connect = %s:%d
                %s
                """.formatted(HTTP_LOCAL, server.ip(), HTTP_TLS, tls("client"), IPERF_LOCAL, server.ip(), IPERF_TLS,
                tls("client")));
        BenchPods.await("a call through the stunnel pair", () -> {
            try {
                return InNetns.ok(client.netns(), List.of("curl", "-sf", "--max-time", "2", "-o", "/dev/null",
                        "http://127.0.0.1:" + HTTP_LOCAL + "/"), 5);
            } catch (Exception e) {
                return false;
            }
        });
    }

    private String tls(String side) {
        return String.join("\n", "cert = " + work.resolve(side + ".pem"), "key = " + work.resolve(side + ".key"),
                "sslVersionMin = TLSv1.3", "ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
                "CAfile = " + work.resolve("ca.pem"), "verifyChain = yes");
    }

    private void start(BenchPods.BenchPod pod, String services) throws Exception {
        Path conf = work.resolve("stunnel-" + pod.name() + ".conf");
        Files.writeString(conf, "foreground = yes\npid =\ndebug = warning\n" + services);
        proxies.start(pod, List.of(binary, conf.toString()), Layout.logDir().resolve("stunnel-" + pod.name() + ".log"));
    }

    @Override
    public Target target(BenchPods pods) {
        return new Target("127.0.0.1:" + HTTP_LOCAL, "127.0.0.1", IPERF_LOCAL);
    }

    @Override
    public List<Long> proxies(String node) {
        return proxies.pids(node);
    }

    @Override
    public void exit(BenchPods pods) throws Exception {
        proxies.stopAll();
    }
}
