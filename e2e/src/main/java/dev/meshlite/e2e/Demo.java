package dev.meshlite.e2e;

import dev.meshlite.e2e.cluster.ClusterUp;
import dev.meshlite.e2e.cluster.Layout;
import dev.meshlite.e2e.cluster.Readiness;
import dev.meshlite.e2e.cluster.Sh;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./mesh demo}: the path a new user walks on the local cluster. Each step says what it does
 * and what to expect, checks it, and the demo exits non-zero when an expectation fails.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Bring up the local cluster, deploy the sample shop, and show Service traffic across nodes.")
final class Demo implements Callable<Integer> {

    @Option(names = "--keep", negatable = true, defaultValue = "true",
            description = "Leave the cluster up afterwards (default); --no-keep tears it down.")
    boolean keep;

    private int step;

    @Override
    public Integer call() throws Exception {
        int pre = ClusterCommands.preflight();
        if (pre != 0) {
            return pre;
        }
        try {
            run();
            System.out.println("\nDemo passed.");
            return 0;
        } catch (DemoFailure e) {
            System.err.println("\nDEMO FAILED: " + e.getMessage());
            return 1;
        } finally {
            if (!keep) {
                new dev.meshlite.e2e.cluster.ClusterDown(System.out).down();
            }
        }
    }

    private void run() throws Exception {
        say("Bring up a local cluster of two nodes",
                "an API server, and per node a network namespace running kubelet-lite and kube-proxy-lite");
        if (!ClusterCommands.clusterRunning()) {
            new ClusterUp(System.out).up(2, Duration.ofSeconds(60));
        } else {
            System.out.println("   (a cluster is already up; using it)");
        }
        try (KubernetesClient client = MeshCli.client(Layout.kubeconfig())) {
            say("Deploy the sample shop",
                    "namespace shop: a backend (sample/http-echo, 2 replicas, spread over both nodes); namespace legacy: a client");
            try (InputStream yaml = Demo.class.getResourceAsStream("/demo/shop.yaml")) {
                for (var item : client.load(yaml).items()) {
                    if (client.resource(item).get() == null) {
                        client.resource(item).create();
                    }
                }
            }
            waitReady(client, "shop", "app", "backend", 2);
            waitReady(client, "legacy", "app", "client", 1);
            Set<String> nodes = new HashSet<>();
            for (Pod p : client.pods().inNamespace("shop").withLabel("app", "backend").list().getItems()) {
                System.out.printf("   %s on %s at %s%n", p.getMetadata().getName(), p.getSpec().getNodeName(),
                        p.getStatus().getPodIP());
                nodes.add(p.getSpec().getNodeName());
            }
            if (nodes.size() < 2) {
                throw new DemoFailure("expected the backend's replicas on two nodes, got " + nodes);
            }

            say("Call the backend by its Service name from the legacy client",
                    "replies from both backend pods, across nodes, through the ClusterIP");
            Pod client1 = client.pods().inNamespace("legacy").withLabel("app", "client").list().getItems().get(0);
            String netns = client1.getMetadata().getAnnotations().get("mesh.local/netns");
            // The Service reaches each node's kube-proxy-lite a moment after the pods are ready.
            Instant programmed = Instant.now().plusSeconds(30);
            while (!Sh.tryRun("ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "2",
                    "http://backend.shop.svc.cluster.local/").ok()) {
                if (Instant.now().isAfter(programmed)) {
                    break; // the loop below reports the failure with curl's own words
                }
                Thread.sleep(200);
            }
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < 20 && seen.size() < 2; i++) {
                Sh.Result r = Sh.tryRun("ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "5",
                        "http://backend.shop.svc.cluster.local/");
                if (!r.ok()) {
                    throw new DemoFailure("curl backend.shop.svc.cluster.local failed: " + r.stderr().strip());
                }
                r.stdout().lines().filter(l -> l.startsWith("pod:")).findFirst().ifPresent(seen::add);
            }
            seen.forEach(s -> System.out.println("   reply from " + s));
            if (seen.size() < 2) {
                throw new DemoFailure("expected replies from 2 backend pods, saw " + seen);
            }
        }
        say("What next", "");
        System.out.println("""
                   ./mesh status                                  components, nodes, pods
                   ./mesh kubectl get pods -A -o wide             the cluster through kubectl
                   ./mesh exec -n legacy <client-pod> -- curl -s backend.shop
                   ./mesh down                                    remove everything the cluster made""");
    }

    private void waitReady(KubernetesClient client, String ns, String key, String value, int count) throws Exception {
        Instant deadline = Instant.now().plusSeconds(60);
        while (true) {
            List<Pod> pods = new ArrayList<>(client.pods().inNamespace(ns).withLabel(key, value).list().getItems());
            long ready = pods.stream().filter(Readiness::ready).count();
            if (ready >= count) {
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                throw new DemoFailure(ns + "/" + value + ": " + ready + " of " + count + " pods ready after 60 s");
            }
            Thread.sleep(250);
        }
    }

    private void say(String what, String expect) {
        step++;
        System.out.printf("%n== %d. %s%n", step, what);
        if (!expect.isEmpty()) {
            System.out.println("   expect: " + expect);
        }
    }

    private static final class DemoFailure extends RuntimeException {
        DemoFailure(String message) {
            super(message);
        }
    }
}
