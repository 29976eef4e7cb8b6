package dev.meshlite.hbone.cli;

import dev.meshlite.hbone.client.HboneClient;
import dev.meshlite.hbone.client.HboneClientConfig;
import dev.meshlite.hbone.client.HboneStream;
import dev.meshlite.hbone.client.LocalForwarder;
import dev.meshlite.hbone.client.PoolKey;
import dev.meshlite.hbone.client.TunnelRequest;
import dev.meshlite.hbone.metrics.HboneMetrics;
import dev.meshlite.hbone.server.ConnectAuthorizer;
import dev.meshlite.hbone.server.HboneServer;
import dev.meshlite.hbone.server.HboneServerConfig;
import dev.meshlite.hbone.tls.PeerVerifier;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TlsContextHolder;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hbone}: an operator's probe and the harness of tests and benchmarks.
 *
 * <pre>
 * hbone serve   --listen ADDR:PORT --cert F --key F --ca F [--trust-domain TD]
 * hbone connect --via ADDR:PORT --to IP:PORT [--listen ADDR:PORT] --cert F --key F --ca F --expect-id ID
 * </pre>
 */
@Command(name = "hbone", mixinStandardHelpOptions = true, subcommands = {HboneCli.Serve.class, HboneCli.Connect.class},
        description = "HBONE tunnel probe: terminate tunnels (serve) or open them (connect).")
public final class HboneCli implements Runnable {

    public static void main(String[] args) {
        if (System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", "dev/meshlite/hbone/cli/logback-cli.xml");
        }
        dev.meshlite.hbone.transport.NettyDefaults.forProxy();
        System.exit(run(args));
    }

    /** Runs without exiting (tests). */
    public static int run(String... args) {
        return new CommandLine(new HboneCli())
                .registerConverter(InetSocketAddress.class, HboneCli::address)
                .registerConverter(SpiffeId.class, SpiffeId::parse)
                .execute(args);
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.err);
    }

    static InetSocketAddress address(String s) {
        int colon = s.lastIndexOf(':');
        if (colon <= 0) {
            throw new CommandLine.TypeConversionException("'" + s + "' (expected: ADDR:PORT)");
        }
        String host = s.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        try {
            int port = Integer.parseInt(s.substring(colon + 1));
            return new InetSocketAddress(InetAddress.getByName(host), port);
        } catch (Exception e) {
            throw new CommandLine.TypeConversionException("'" + s + "' (expected: ADDR:PORT): " + e.getMessage());
        }
    }

    /** The certificate options both commands share. */
    static final class Material {
        @Option(names = "--cert", required = true, description = "PEM certificate chain (leaf first)")
        Path cert;
        @Option(names = "--key", required = true, description = "PEM private key")
        Path key;
        @Option(names = "--ca", required = true, description = "PEM trust bundle (one or more roots)")
        Path ca;

        WorkloadCertificate certificate() {
            return WorkloadCertificate.fromPemFiles(cert, key);
        }

        TrustBundle bundle() {
            return TrustBundle.fromPemFile(ca);
        }
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = "Terminate HBONE tunnels and connect each to its CONNECT authority.")
    static final class Serve implements Callable<Integer> {
        @Option(names = "--listen", required = true, description = "ADDR:PORT to accept HBONE on")
        InetSocketAddress listen;
        @CommandLine.Mixin
        Material material = new Material();
        @Option(names = "--trust-domain", description = "accepted client trust domain (default: our own)")
        String trustDomain;

        @Override
        public Integer call() throws Exception {
            WorkloadCertificate cert = material.certificate();
            String td = trustDomain != null ? trustDomain : cert.identity().trustDomain();
            TlsContextHolder tls = TlsContextHolder.forServer(cert, material.bundle(), PeerVerifier.sameTrustDomain(td));
            HboneServer server = HboneServer.start(HboneServerConfig.defaults(listen), tls,
                    ConnectAuthorizer.dialAuthority(), new HboneMetrics());
            System.err.println("hbone serve: listening on " + server.localAddress() + " as " + cert.identity()
                    + " (" + tls.provider() + "), accepting trust domain " + td);
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                server.shutdown(Duration.ofSeconds(5)).join();
                stop.countDown();
            }));
            stop.await();
            return 0;
        }
    }

    @Command(name = "connect", mixinStandardHelpOptions = true,
            description = "Open an HBONE tunnel: pipe stdin/stdout through it, or with --listen tunnel every "
                    + "accepted connection.")
    static final class Connect implements Callable<Integer> {
        @Option(names = "--via", required = true, description = "ADDR:PORT of the HBONE server")
        InetSocketAddress via;
        @Option(names = "--to", required = true, description = "IP:PORT: the CONNECT authority")
        InetSocketAddress to;
        @Option(names = "--listen", description = "ADDR:PORT: tunnel every accepted TCP connection")
        InetSocketAddress listen;
        @CommandLine.Mixin
        Material material = new Material();
        @Option(names = "--expect-id", required = true, split = ",",
                description = "SPIFFE id(s) the server must present")
        Set<SpiffeId> expect;

        @Override
        public Integer call() throws Exception {
            WorkloadCertificate cert = material.certificate();
            TlsContextHolder tls = TlsContextHolder.forClient(cert, material.bundle());
            HboneMetrics metrics = new HboneMetrics();
            HboneClient client = HboneClient.create(HboneClientConfig.defaults(), HboneClient.single(tls), metrics);
            PoolKey key = new PoolKey(cert.identity(), expect, via, null);
            if (listen != null) {
                LocalForwarder forwarder = LocalForwarder.start(client, listen, key, to);
                System.err.println("hbone connect: " + forwarder.localAddress() + " -> " + via + " -> " + to);
                CountDownLatch stop = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    forwarder.close();
                    client.close();
                    stop.countDown();
                }));
                stop.await();
                return 0;
            }
            try (client) {
                HboneStream stream;
                try {
                    stream = client.open(key, TunnelRequest.to(to)).get(30, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    System.err.println("hbone connect: " + e.getCause().getMessage());
                    return 2;
                }
                return new StdioPipe(stream).run();
            }
        }
    }
}
