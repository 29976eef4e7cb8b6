package dev.meshlite.e2e.controllers;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Service;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;

/**
 * Cluster name resolution for the local cluster: one hosts file per namespace, listing every
 * Service's ClusterIP under {@code name.ns.svc.cluster.local}, {@code name.ns.svc} and
 * {@code name.ns}, and, for the namespace's own Services, the short {@code name}. kubelet-lite
 * links each pod's /etc/hosts to its namespace's file ({@code ip netns exec} binds it over
 * /etc/hosts). Files are rewritten in place, so processes that bound them earlier see changes.
 */
final class ClusterDns {

    static final String DOMAIN = "cluster.local";

    private final Path dir;
    private final Map<String, String> written = new HashMap<>();

    ClusterDns(Path dir) {
        this.dir = dir;
    }

    void write(ControllerManager.Snapshot s) {
        try {
            Files.createDirectories(dir);
            for (Namespace ns : s.namespaces()) {
                String name = ns.getMetadata().getName();
                String content = hosts(name, s);
                if (!content.equals(written.get(name))) {
                    rewriteInPlace(dir.resolve(name + ".hosts"), content);
                    written.put(name, content);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String hosts(String namespace, ControllerManager.Snapshot s) {
        StringBuilder out = new StringBuilder("127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
        for (Service svc : s.services().stream().sorted(Comparator.comparing((Service x) -> x.getMetadata().getNamespace())
                .thenComparing(x -> x.getMetadata().getName())).toList()) {
            String ip = svc.getSpec().getClusterIP();
            if (ip == null || ip.isEmpty() || ip.equals("None")) {
                continue;
            }
            String n = svc.getMetadata().getName();
            String ns = svc.getMetadata().getNamespace();
            out.append(ip).append(' ').append(n).append('.').append(ns).append(".svc.").append(DOMAIN)
                    .append(' ').append(n).append('.').append(ns).append(".svc")
                    .append(' ').append(n).append('.').append(ns);
            if (ns.equals(namespace)) {
                out.append(' ').append(n);
            }
            out.append('\n');
        }
        return out.toString();
    }

    private static void rewriteInPlace(Path file, String content) throws IOException {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(bytes), 0);
            ch.truncate(bytes.length);
        }
    }
}
