package dev.meshlite.istiod.lead;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;

/**
 * The name a replica holds the Lease under when {@code --identity} is not given: {@code POD_NAME}
 * (the Downward API), else the host name, else a random id.
 *
 * <p>Replicas must not share an identity: two holders of one name both believe they lead. In a
 * cluster the pod name is unique; replicas on one host (tests, a laptop) need {@code --identity}.
 * Reusing a name across restarts is a feature: a replica restarted under its old name takes its
 * unexpired Lease back at once.
 */
public final class ReplicaIdentity {

    private ReplicaIdentity() {}

    public static String resolve() {
        return resolve(System.getenv(), Path.of("/proc/sys/kernel/hostname"));
    }

    static String resolve(Map<String, String> env, Path kernelHostname) {
        String pod = env.get("POD_NAME");
        if (pod != null && !pod.isBlank()) {
            return pod.strip();
        }
        String host = env.get("HOSTNAME");
        if (host == null || host.isBlank()) {
            host = hostname(kernelHostname);
        }
        return host == null || host.isBlank() ? "istiod-" + UUID.randomUUID() : host.strip();
    }

    private static String hostname(Path kernelHostname) {
        // The kernel's name first: InetAddress.getLocalHost() may wait on DNS, and start-up must not.
        try {
            if (Files.isReadable(kernelHostname)) {
                return Files.readString(kernelHostname);
            }
        } catch (IOException e) {
            // fall through
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return null;
        }
    }
}
