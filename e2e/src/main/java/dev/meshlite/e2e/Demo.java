package dev.meshlite.e2e;

import dev.meshlite.e2e.cluster.ClusterUp;
import dev.meshlite.e2e.cluster.Layout;
import dev.meshlite.e2e.cluster.Readiness;
import dev.meshlite.e2e.cluster.Sh;
import dev.meshlite.e2e.cluster.WireCapture;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./mesh demo}: the path a new user walks on the local cluster. Each step says what it does
 * and what to expect, checks it, and the demo exits non-zero when an expectation fails.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Bring up the local cluster with the mesh, deploy the sample shop, enroll it live, show mTLS on the wire and a policy denial.")
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

    private static final String SERVICE_URL = "http://backend.shop.svc.cluster.local/";

    private void run() throws Exception {
        say("Bring up a local cluster of two nodes",
                "an API server and istiod-lite; per node a network namespace running kubelet-lite, kube-proxy-lite, "
                        + "the CNI node agent and ztunnel");
        if (!ClusterCommands.clusterRunning()) {
            new ClusterUp(System.out).up(2, Duration.ofSeconds(90), true);
        } else {
            if (new dev.meshlite.e2e.cluster.Components(Layout.stateDir()).find("ztunnel", "node-1").isEmpty()) {
                throw new DemoFailure("the running cluster has no mesh (started without --mesh): run ./mesh down first");
            }
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
            Pod client1 = client.pods().inNamespace("legacy").withLabel("app", "client").list().getItems().get(0);
            String netns = client1.getMetadata().getAnnotations().get("mesh.local/netns");
            // A second run on the same cluster starts from the same place: outside the mesh, no policy.
            client.genericKubernetesResources("security.istio.io/v1", "AuthorizationPolicy").inNamespace("shop")
                    .withName("deny-legacy").delete();
            for (String ns : List.of("shop", "legacy")) {
                client.namespaces().withName(ns).edit(n -> {
                    if (n.getMetadata().getLabels() != null) {
                        Map<String, String> labels = new TreeMap<>(n.getMetadata().getLabels());
                        labels.remove("istio.io/dataplane-mode");
                        n.getMetadata().setLabels(labels);
                    }
                    return n;
                });
            }
            awaitEnrolled(client, false);
            Map<String, String> lifetimes = lifetimes(client);

            say("Call the backend by its Service name from the legacy client, outside the mesh",
                    "replies from both backend pods, across nodes; on the wire between the nodes the HTTP request is readable");
            // The Service reaches each node's kube-proxy-lite a moment after the pods are ready.
            awaitCall(netns, true, Duration.ofSeconds(30));
            String marker = "plain-" + UUID.randomUUID();
            WireCapture.Seen plain = captureCalls(netns, marker);
            if (!plain.contains(marker)) {
                throw new DemoFailure("the capture on mesh0 did not show the plaintext request");
            }
            System.out.println("   seen on mesh0: GET /" + marker + " in clear");

            say("Enroll both namespaces in the mesh, live: istio.io/dataplane-mode=ambient",
                    "the CNI agent captures the running pods and hands them to ztunnel; no pod restarts");
            for (String ns : List.of("shop", "legacy")) {
                client.namespaces().withName(ns).edit(n -> {
                    Map<String, String> labels = n.getMetadata().getLabels() == null ? new TreeMap<>()
                            : new TreeMap<>(n.getMetadata().getLabels());
                    labels.put("istio.io/dataplane-mode", "ambient");
                    n.getMetadata().setLabels(labels);
                    return n;
                });
            }
            awaitEnrolled(client, true);
            if (!lifetimes.equals(lifetimes(client))) {
                throw new DemoFailure("a pod restarted while enrolling: " + lifetimes + " -> " + lifetimes(client));
            }
            System.out.println("   every pod annotated ambient.istio.io/redirection=enabled, none restarted");

            say("Call the backend again", "the same replies; on the wire only TLS between the pods' port 15008 (HBONE)");
            awaitCall(netns, true, Duration.ofSeconds(30));
            String meshedMarker = "meshed-" + UUID.randomUUID();
            WireCapture.Seen meshed = captureCalls(netns, meshedMarker);
            if (meshed.contains(meshedMarker)) {
                throw new DemoFailure("the request crossed mesh0 in clear after enrollment");
            }
            if (meshed.packets().isEmpty() || !meshed.notHbone().isEmpty()) {
                throw new DemoFailure("expected only HBONE between the pods, saw " + meshed.notHbone());
            }
            System.out.printf("   %d packets between pods on mesh0, every one to or from port 15008; the request text never appears%n",
                    meshed.packets().size());

            say("Deny the legacy namespace with an AuthorizationPolicy in shop",
                    "the backend's ztunnel refuses the client's connections and counts them");
            client.genericKubernetesResources("security.istio.io/v1", "AuthorizationPolicy").inNamespace("shop")
                    .resource(client.getKubernetesSerialization().unmarshal("""
                            apiVersion: security.istio.io/v1
                            kind: AuthorizationPolicy
                            metadata: {name: deny-legacy, namespace: shop}
                            spec:
                              action: DENY
                              rules: [{from: [{source: {namespaces: [legacy]}}]}]
                            """, io.fabric8.kubernetes.api.model.GenericKubernetesResource.class)).createOr(r -> r.update());
            awaitCall(netns, false, Duration.ofSeconds(30));
            long denied = deniedConnections();
            if (denied == 0) {
                throw new DemoFailure("the refusal was not counted in ztunnel's metrics");
            }
            System.out.printf("   curl fails; the backends' ztunnels counted %d refused connection(s): "
                    + "istio_tcp_connections_opened_total{response_flags=\"DENY\",source_workload_namespace=\"legacy\"}%n", denied);

            say("Remove the policy", "traffic flows again; nothing restarted");
            client.genericKubernetesResources("security.istio.io/v1", "AuthorizationPolicy").inNamespace("shop")
                    .withName("deny-legacy").delete();
            awaitCall(netns, true, Duration.ofSeconds(30));
            if (!lifetimes.equals(lifetimes(client))) {
                throw new DemoFailure("a pod restarted during the demo");
            }
        }
        say("What next", "");
        System.out.println("""
                   ./mesh status                                  components, nodes, pods
                   ./mesh kubectl get pods -A -o wide             the cluster through kubectl
                   ./mesh exec -n legacy <client-pod> -- curl -s backend.shop
                   ./mesh exec --node node-1 -- curl -s localhost:15000/config_dump     what ztunnel holds
                   ./mesh exec --node node-1 -- curl -s localhost:15020/metrics          Istio's TCP metrics
                   ./mesh down                                    remove everything the cluster made""");
    }

    /** Connections the nodes' ztunnels refused by policy for callers in legacy, from their /metrics. */
    private static long deniedConnections() throws Exception {
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        double sum = 0;
        for (int i = 1; i <= 2; i++) {
            String body = http.send(java.net.http.HttpRequest.newBuilder(
                            java.net.URI.create("http://" + Layout.nodeIp(i) + ":15020/metrics")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            for (String line : body.lines().toList()) {
                if (line.startsWith("istio_tcp_connections_opened_total{") && line.contains("response_flags=\"DENY\"")
                        && line.contains("source_workload_namespace=\"legacy\"")) {
                    sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
        }
        return (long) sum;
    }

    /** Calls the Service until the outcome is {@code succeed} (traffic settles a moment after each change). */
    private static void awaitCall(String netns, boolean succeed, Duration bound) throws Exception {
        Instant deadline = Instant.now().plus(bound);
        Sh.Result r;
        while ((r = Sh.tryRun("ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "3", SERVICE_URL)).ok() != succeed) {
            if (Instant.now().isAfter(deadline)) {
                throw new DemoFailure(succeed ? "curl " + SERVICE_URL + " failed: " + r.stderr().strip()
                        : "curl " + SERVICE_URL + " still succeeds");
            }
            Thread.sleep(250);
        }
    }

    /** Calls until both backends answered, with the capture running; returns what crossed mesh0. */
    private static WireCapture.Seen captureCalls(String netns, String marker) throws Exception {
        try (WireCapture capture = WireCapture.start()) {
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < 20 && seen.size() < 2; i++) {
                Sh.Result r = Sh.tryRun("ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "5", SERVICE_URL + marker);
                if (!r.ok()) {
                    throw new DemoFailure("curl " + SERVICE_URL + " failed: " + r.stderr().strip());
                }
                r.stdout().lines().filter(l -> l.startsWith("pod:")).findFirst().ifPresent(seen::add);
            }
            seen.forEach(s -> System.out.println("   reply from " + s));
            if (seen.size() < 2) {
                throw new DemoFailure("expected replies from 2 backend pods, saw " + seen);
            }
            return capture.stop();
        }
    }

    private void awaitEnrolled(KubernetesClient client, boolean enrolled) throws Exception {
        Instant deadline = Instant.now().plusSeconds(60);
        while (true) {
            List<Pod> pods = new ArrayList<>(client.pods().inNamespace("shop").list().getItems());
            pods.addAll(client.pods().inNamespace("legacy").list().getItems());
            if (pods.stream().allMatch(p -> enrolled == (p.getMetadata().getAnnotations() != null
                    && "enabled".equals(p.getMetadata().getAnnotations().get("ambient.istio.io/redirection"))))) {
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                throw new DemoFailure("pods not " + (enrolled ? "enrolled" : "out of the mesh") + " after 60 s; see "
                        + Layout.logDir());
            }
            Thread.sleep(250);
        }
    }

    private static Map<String, String> lifetimes(KubernetesClient client) {
        Map<String, String> out = new TreeMap<>();
        for (Pod p : client.pods().inAnyNamespace().list().getItems()) {
            out.put(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName(), p.getMetadata().getUid() + " "
                    + p.getStatus().getContainerStatuses().stream().mapToInt(c -> c.getRestartCount()).sum());
        }
        return out;
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
