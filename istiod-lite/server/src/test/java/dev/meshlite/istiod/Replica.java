package dev.meshlite.istiod;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import dev.meshlite.istiod.ca.client.GrpcCertificateSource;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;

/**
 * One {@code istiod-lite serve} in this JVM, as a replica: its own kubeconfig (whose token names
 * it to the API server), gRPC and metrics on loopback port 0. Stopping it is a clean shutdown.
 */
final class Replica implements AutoCloseable {

    private static final Pattern READY = Pattern.compile("listening on 127.0.0.1:(\\d+), metrics on 127.0.0.1:(\\d+)");
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    final String identity;
    private final CountDownLatch stop = new CountDownLatch(1);
    private final CompletableFuture<String> ready = new CompletableFuture<>();
    private final CompletableFuture<Integer> done;
    private volatile Thread thread;
    private int grpcPort;
    private int metricsPort;

    private Replica(String identity, IstiodLite.Serve serve) {
        this.identity = identity;
        done = CompletableFuture.supplyAsync(() -> {
            try {
                return serve.serve(stop, ready::complete);
            } catch (Exception e) {
                ready.completeExceptionally(e);
                throw new IllegalStateException(e);
            }
        }, r -> thread = Thread.ofPlatform().name("serve-" + identity).start(r));
    }

    /** Starts serving; {@link #awaitReady} waits until its CA listens (a follower may wait for the root). */
    static Replica start(Path kubeconfig, String identity, String... more) {
        List<String> args = new ArrayList<>(List.of("--kubeconfig", kubeconfig.toString(), "--port", "0",
                "--metrics-port", "0", "--auth", "NODE_CREDENTIAL", "--identity", identity));
        args.addAll(List.of(more));
        IstiodLite.Serve serve = new IstiodLite.Serve();
        new CommandLine(serve).parseArgs(args.toArray(String[]::new));
        return new Replica(identity, serve);
    }

    Replica awaitReady(Duration bound) throws Exception {
        Matcher m = READY.matcher(ready.get(bound.toMillis(), TimeUnit.MILLISECONDS));
        if (!m.find()) {
            throw new AssertionError("ready line: " + ready.get());
        }
        grpcPort = Integer.parseInt(m.group(1));
        metricsPort = Integer.parseInt(m.group(2));
        return this;
    }

    boolean isReady() {
        return ready.isDone() && !ready.isCompletedExceptionally();
    }

    String metrics() {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8)).body();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** What {@code istiod_leader} says. */
    boolean leads() {
        String m = metrics();
        if (m.contains("\nistiod_leader 1.0")) {
            return true;
        }
        if (m.contains("\nistiod_leader 0.0")) {
            return false;
        }
        throw new AssertionError("no istiod_leader in\n" + m);
    }

    /** Problems this replica's model holds, of {@code kind}. */
    boolean reports(String kind, int problems) {
        return metrics().contains("istiod_config_problems{kind=\"" + kind + "\"} " + problems + ".0");
    }

    /** A workload certificate from this replica's CA, trusting {@code roots}. */
    WorkloadCertificate sign(TrustBundle roots, String token, String identity) throws Exception {
        try (GrpcCertificateSource source = new GrpcCertificateSource(GrpcCertificateSource.channel(
                "127.0.0.1", grpcPort, roots, "istiod.istio-system.svc"), () -> token, Duration.ZERO,
                Duration.ofSeconds(30))) {
            return source.fetch(SpiffeId.parse(identity)).certificate();
        }
    }

    /** Clean shutdown, as on SIGTERM; returns serve's exit code. */
    int stop() throws Exception {
        stop.countDown();
        return done.get(60, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws Exception {
        if (stop.getCount() == 0) {
            return;
        }
        stop.countDown();
        if (!ready.isDone()) {
            thread.interrupt(); // still waiting for a CA root: give up
        }
        try {
            done.get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            // a replica given up before it was ready
        }
    }

    @Override
    public String toString() {
        return identity;
    }
}
