package dev.meshlite.ztunnel.dns;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The resolvers the DNS proxy forwards to, from {@code --dns-upstream}: IP literals with an
 * optional port ({@code 10.96.0.10}, {@code 10.96.0.10:53}, {@code [fd00::a]:53}) separated by
 * commas, {@code resolv.conf} for the {@code nameserver} lines of a resolv.conf file (ztunnel's
 * own, as a pod's {@code dnsPolicy: ClusterFirst} gives it the cluster's resolver), or
 * {@code none}. Host names are refused: resolving them would need the resolver being configured.
 */
public final class DnsUpstreams {

    public static final String RESOLV_CONF = "resolv.conf";
    public static final String NONE = "none";

    private DnsUpstreams() {
    }

    public static List<InetSocketAddress> parse(String spec, Path resolvConf) {
        String s = spec.strip();
        if (s.equals(NONE)) {
            return List.of();
        }
        if (s.equals(RESOLV_CONF)) {
            return fromResolvConf(resolvConf);
        }
        List<InetSocketAddress> out = new ArrayList<>();
        for (String part : s.split(",", -1)) {
            out.add(address(part.strip(), spec));
        }
        return List.copyOf(out);
    }

    /** The {@code nameserver} lines of a resolv.conf, port 53; a missing file is no upstream. */
    static List<InetSocketAddress> fromResolvConf(Path file) {
        if (!Files.isReadable(file)) {
            return List.of();
        }
        try {
            List<InetSocketAddress> out = new ArrayList<>();
            for (String line : Files.readAllLines(file)) {
                String[] f = line.strip().split("\\s+");
                if (f.length >= 2 && f[0].equals("nameserver")) {
                    out.add(address(f[1], file + ": " + line.strip()));
                }
            }
            return List.copyOf(out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private static InetSocketAddress address(String part, String context) {
        String host = part;
        int port = 53;
        if (part.startsWith("[")) {
            int close = part.indexOf(']');
            if (close < 0) {
                throw invalid(part, context);
            }
            host = part.substring(1, close);
            if (close + 1 < part.length()) {
                port = port(part.substring(close + 1), part, context);
            }
        } else if (part.indexOf(':') >= 0 && part.indexOf(':') == part.lastIndexOf(':')) {
            host = part.substring(0, part.indexOf(':'));
            port = port(part.substring(part.indexOf(':')), part, context);
        }
        if (host.isEmpty() || !(host.indexOf(':') >= 0 || host.matches("[0-9.]+"))) {
            throw invalid(part, context);
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host), port); // a literal: no lookup
        } catch (UnknownHostException e) {
            throw invalid(part, context);
        }
    }

    private static int port(String colonPort, String part, String context) {
        try {
            int p = Integer.parseInt(colonPort.substring(1));
            if (colonPort.charAt(0) == ':' && p > 0 && p < 65536) {
                return p;
            }
        } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
            // reported below
        }
        throw invalid(part, context);
    }

    private static IllegalArgumentException invalid(String part, String context) {
        return new IllegalArgumentException("--dns-upstream: '" + part + "' in '" + context
                + "' (expected: IP[:port] or [IPv6]:port, comma-separated; resolv.conf; or none)");
    }
}
