package dev.meshlite.istiod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.istiod.ca.MockCluster;
import dev.meshlite.istiod.ca.PemText;
import dev.meshlite.istiod.ca.RootPublisher;
import dev.meshlite.istiod.ca.client.GrpcCertificateSource;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The {@code istiod-lite} command against a kubeconfig: node credential, serve, fetch, metrics. */
class IstiodLiteIT {

    @TempDir
    Path tmp;

    @Test
    void nodeCredentialThenServeThenAZtunnelFetchesACertificate() throws Exception {
        try (MockCluster cluster = new MockCluster().namespace("istio-system").namespace("shop")
                .pod("shop", "cart-1", "cart", "node-a")) {
            Path kubeconfig = tmp.resolve("kubeconfig");
            Files.writeString(kubeconfig, """
                    apiVersion: v1
                    kind: Config
                    clusters:
                    - name: mock
                      cluster: {server: "%s"}
                    users:
                    - name: test
                      user: {token: test}
                    contexts:
                    - name: mock
                      context: {cluster: mock, user: test}
                    current-context: mock
                    """.formatted(cluster.client().getMasterUrl()));

            ByteArrayOutputStream out = new ByteArrayOutputStream();
            CommandLine cli = new CommandLine(new IstiodLite());
            cli.setOut(new PrintWriter(out, true));
            int exit = cli.execute("node-credential", "--kubeconfig", kubeconfig.toString(), "--node", "node-a");
            assertEquals(0, exit);
            String token = out.toString(StandardCharsets.UTF_8).strip();
            assertTrue(token.startsWith("node-a."), token);

            IstiodLite.Serve serve = new IstiodLite.Serve();
            new CommandLine(serve).parseArgs("--kubeconfig", kubeconfig.toString(), "--port", "0", "--metrics-port", "0",
                    "--auth", "NODE_CREDENTIAL");
            CountDownLatch stop = new CountDownLatch(1);
            CompletableFuture<String> ready = new CompletableFuture<>();
            CompletableFuture<Integer> done = CompletableFuture.supplyAsync(() -> {
                try {
                    return serve.serve(stop, ready::complete);
                } catch (Exception e) {
                    ready.completeExceptionally(e);
                    throw new IllegalStateException(e);
                }
            }, r -> Thread.ofPlatform().name("serve").start(r));
            try {
                Matcher m = Pattern.compile("listening on 127.0.0.1:(\\d+), metrics on 127.0.0.1:(\\d+)")
                        .matcher(ready.get(60, TimeUnit.SECONDS));
                assertTrue(m.find(), ready.get());
                int grpcPort = Integer.parseInt(m.group(1));
                int metricsPort = Integer.parseInt(m.group(2));

                // A client trusting what the CA published in the workload's namespace.
                String rootPem = cluster.client().configMaps().inNamespace("istio-system")
                        .withName(RootPublisher.CONFIG_MAP).get().getData().get(RootPublisher.KEY);
                TrustBundle roots = new TrustBundle(PemText.certificates(rootPem, "published root"));
                try (GrpcCertificateSource source = new GrpcCertificateSource(GrpcCertificateSource.channel(
                        "127.0.0.1", grpcPort, roots, "istiod.istio-system.svc"), () -> token, Duration.ZERO,
                        Duration.ofSeconds(30))) {
                    WorkloadCertificate cert = source.fetch(SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/cart"))
                            .certificate();
                    assertEquals("spiffe://cluster.local/ns/shop/sa/cart", cert.identity().uri());
                }

                HttpResponse<String> metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + metricsPort + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
                assertTrue(metrics.body().contains("meshlite_ca_certificates_issued_total 1.0"), metrics.body());
            } finally {
                stop.countDown();
            }
            assertEquals(0, done.get(60, TimeUnit.SECONDS));
        }
    }
}
