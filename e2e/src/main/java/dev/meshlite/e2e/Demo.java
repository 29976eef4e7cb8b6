package dev.meshlite.e2e;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.meshlite.e2e.cluster.ClusterDown;
import dev.meshlite.e2e.cluster.ClusterUp;
import dev.meshlite.e2e.cluster.Components;
import dev.meshlite.e2e.cluster.Layout;
import dev.meshlite.e2e.cluster.Readiness;
import dev.meshlite.e2e.cluster.Sh;
import dev.meshlite.e2e.ZtunnelEvidence.AccessLine;
import dev.meshlite.e2e.ZtunnelEvidence.Scrape;
import dev.meshlite.e2e.ZtunnelEvidence.Series;
import dev.meshlite.e2e.cluster.WireCapture;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.function.Predicate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./mesh demo}: the path a new user walks on the local cluster. Each step says what it does
 * and what to expect, checks it, and the demo exits non-zero when an expectation fails.
 *
 * <p>Every wait is bounded and ends in a {@link DemoFailure} that says what did not happen. Counts
 * read from ztunnel's metrics are differences over the step, so a second run on a kept cluster
 * proves as much as the first.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Bring up the local cluster with the mesh, deploy the sample shop, enroll it live, show mTLS on "
                + "the wire and the peer identities, a policy denial, and PERMISSIVE against STRICT for a client "
                + "outside the mesh.")
final class Demo implements Callable<Integer> {

    // picocli sets a negatable option to the opposite of its default when the name given is
    // used, so the default-true flag is declared by its negative name: --no-keep gives false.
    @Option(names = "--no-keep", negatable = true, defaultValue = "true",
            description = "Leave the cluster up afterwards (default); --no-keep tears it down.")
    boolean keep;

    private static final String SERVICE_URL = "http://backend.shop.svc.cluster.local/";
    private static final String LEGACY_IDENTITY = "spiffe://cluster.local/ns/legacy/sa/default";
    private static final String SHOP_IDENTITIES = "spiffe://cluster.local/ns/shop/sa/";
    private static final String OPENED = "istio_tcp_connections_opened_total";
    /** How long a change (label, policy) may take to reach the data path. */
    private static final Duration SETTLE = Duration.ofSeconds(30);
    private static final String DEMO_RESOURCES = "e2e/src/main/resources/demo/";

    private int step;

    @Override
    public Integer call() throws Exception {
        int pre = ClusterCommands.preflight();
        if (pre != 0) {
            return pre;
        }
        boolean passed = false;
        try {
            run();
            passed = true;
            System.out.println("\nDemo passed.");
            return 0;
        } catch (DemoFailure e) {
            System.err.println("\nDEMO FAILED: " + e.getMessage());
            return 1;
        } catch (Exception e) {
            System.err.println("\nDEMO FAILED: " + e);
            e.printStackTrace();
            return 1;
        } finally {
            if (!keep) {
                if (!passed) {
                    keepLogs();
                }
                new ClusterDown(System.out).down();
            }
        }
    }

    /** Before --no-keep takes a failed run's cluster down: its logs, for finding out why. */
    private static void keepLogs() {
        if (!Files.isDirectory(Layout.logDir())) {
            return;
        }
        try {
            Path kept = Files.createTempDirectory("mesh-demo-logs-");
            try (var logs = Files.list(Layout.logDir())) {
                for (Path log : logs.toList()) {
                    Files.copy(log, kept.resolve(log.getFileName()));
                }
            }
            System.err.println("the cluster's logs are kept in " + kept + " (--no-keep takes the cluster down)");
        } catch (IOException e) {
            System.err.println("cannot keep the cluster's logs: " + e);
        }
    }

    private void run() throws Exception {
        say("Bring up a local cluster of two nodes",
                "an API server and istiod-lite; per node a network namespace running kubelet-lite, kube-proxy-lite, "
                        + "the CNI node agent and ztunnel");
        if (!ClusterCommands.clusterRunning()) {
            if (Files.exists(Layout.stateDir()) || !ClusterCommands.ClusterDownProbe.leftovers().isEmpty()) {
                System.out.println("   cleaning up what an earlier cluster left behind");
                new ClusterDown(System.out).down();
            }
            try {
                new ClusterUp(System.out).up(2, Duration.ofSeconds(90), true);
            } catch (IllegalStateException | IllegalArgumentException e) {
                throw new DemoFailure("the cluster did not come up: " + e.getMessage() + "; see " + Layout.logDir());
            }
        } else {
            if (new Components(Layout.stateDir()).find("ztunnel", "node-1").isEmpty()) {
                throw new DemoFailure("the running cluster has no mesh (started without --mesh): run ./mesh down first");
            }
            System.out.println("   (a cluster is already up; using it)");
        }
        try (KubernetesClient client = MeshCli.client(Layout.kubeconfig())) {
            say("Deploy the sample shop",
                    "namespace shop: a backend (sample/http-echo, 2 replicas, spread over both nodes); namespace legacy: a client");
            try (InputStream yaml = resource("shop.yaml")) {
                for (var item : client.load(yaml).items()) {
                    if (client.resource(item).get() == null) {
                        client.resource(item).create();
                    }
                }
            }
            waitReady(client, "shop", "app", "backend", 2);
            waitReady(client, "legacy", "app", "client", 1);
            Set<String> nodes = new TreeSet<>();
            for (Pod p : client.pods().inNamespace("shop").withLabel("app", "backend").list().getItems()) {
                System.out.printf("   %s on %s at %s%n", p.getMetadata().getName(), p.getSpec().getNodeName(),
                        p.getStatus().getPodIP());
                nodes.add(p.getSpec().getNodeName());
            }
            if (nodes.size() < 2) {
                throw new DemoFailure("expected the backend's replicas on two nodes, got " + nodes);
            }
            Pod legacyClient = client.pods().inNamespace("legacy").withLabel("app", "client").list().getItems().get(0);
            String netns = legacyClient.getMetadata().getAnnotations().get("mesh.local/netns");
            // A second run on the same cluster starts from the same place: outside the mesh, no policy.
            delete(client, "AuthorizationPolicy", "deny-legacy");
            delete(client, "PeerAuthentication", "strict");
            for (String ns : List.of("shop", "legacy")) {
                label(client, ns, null);
            }
            awaitRedirection(client, "shop", false);
            awaitRedirection(client, "legacy", false);
            Map<String, String> lifetimes = lifetimes(client);

            say("Call the backend by its Service name from the legacy client, outside the mesh",
                    "replies from both backend pods, across nodes; on the wire between the nodes the HTTP request is readable");
            // The Service reaches each node's kube-proxy-lite a moment after the pods are ready.
            awaitCall(netns, true, SETTLE);
            showPlaintext(netns, "plain-");

            say("Enroll both namespaces in the mesh, live: istio.io/dataplane-mode=ambient",
                    "the CNI agent captures the running pods and hands them to ztunnel; no pod restarts");
            for (String ns : List.of("shop", "legacy")) {
                label(client, ns, "ambient");
            }
            awaitRedirection(client, "shop", true);
            awaitRedirection(client, "legacy", true);
            checkNoRestart(client, lifetimes, "while enrolling");
            System.out.println("   every pod annotated ambient.istio.io/redirection=enabled, none restarted");

            say("Call the backend again", "the same replies; on the wire only TLS between the pods' port 15008 (HBONE)");
            awaitCall(netns, true, SETTLE);
            Instant meshedFrom = Instant.now();
            Scrape beforeMeshed = Scrape.of(client);
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

            say("Who talked to whom: ztunnel's metrics and access log",
                    "each backend's ztunnel counts the client's connections with both SPIFFE identities and "
                            + "connection_security_policy=\"mutual_tls\", and logs each one with them");
            showIdentities(client, nodes, beforeMeshed, meshedFrom);

            say("Deny the legacy namespace with an AuthorizationPolicy in shop (" + DEMO_RESOURCES + "deny-legacy.yaml)",
                    "the backend's ztunnel refuses the client's connections and counts them");
            Scrape beforeDeny = Scrape.of(client);
            apply(client, "deny-legacy.yaml");
            awaitCall(netns, false, SETTLE);
            Predicate<Series> deniedLegacy = s -> s.is(OPENED) && s.has("response_flags", "DENY")
                    && s.has("source_workload_namespace", "legacy");
            long denied = Scrape.of(client).since(beforeDeny, deniedLegacy);
            if (denied == 0) {
                throw new DemoFailure("the refusal was not counted in ztunnel's metrics (" + OPENED
                        + "{response_flags=\"DENY\",source_workload_namespace=\"legacy\"} did not grow)");
            }
            System.out.printf("   curl fails; the backends' ztunnels counted %d refused connection(s): "
                    + "%s{response_flags=\"DENY\",source_workload_namespace=\"legacy\"}%n", denied, OPENED);

            say("Remove the policy", "traffic flows again; nothing restarted");
            delete(client, "AuthorizationPolicy", "deny-legacy");
            awaitCall(netns, true, SETTLE);
            checkNoRestart(client, lifetimes, "after the policy");
            System.out.println("   curl works again; no pod restarted");

            say("Take legacy out of the mesh: remove its label, live",
                    "the CNI agent removes the client's capture and ztunnel lets go of it; the client does not restart");
            label(client, "legacy", null);
            awaitRedirection(client, "legacy", false);
            awaitReleased(legacyClient);
            checkNoRestart(client, lifetimes, "while leaving the mesh");
            System.out.println("   " + legacyClient.getMetadata().getName()
                    + ": annotation ambient.istio.io/redirection gone, no longer served by ztunnel on "
                    + legacyClient.getSpec().getNodeName());

            say("Call the backend from legacy, now outside the mesh",
                    "it still works: shop is PERMISSIVE by default, so the backends' ztunnels accept plaintext from "
                            + "outside the mesh; on mesh0 the request is readable again");
            awaitCall(netns, true, SETTLE);
            Scrape beforePlain = Scrape.of(client);
            showPlaintext(netns, "permissive-");
            long accepted = Scrape.of(client).since(beforePlain, plaintextIntoShop("-"));
            if (accepted == 0) {
                throw new DemoFailure("the backends' ztunnels did not count the plaintext calls (" + OPENED
                        + "{connection_security_policy=\"none\",response_flags=\"-\"} did not grow): did they bypass ztunnel?");
            }
            System.out.printf("   the backends' ztunnels accepted %d plaintext connection(s): "
                    + "%s{connection_security_policy=\"none\",response_flags=\"-\"}%n", accepted, OPENED);

            say("Require mutual TLS in shop: PeerAuthentication strict, mode STRICT (" + DEMO_RESOURCES + "strict.yaml)",
                    "the backends' ztunnels refuse the plaintext call from legacy and count the refusal");
            Instant strictFrom = Instant.now();
            Scrape beforeStrict = Scrape.of(client);
            apply(client, "strict.yaml");
            awaitCall(netns, false, SETTLE);
            long refused = Scrape.of(client).since(beforeStrict, plaintextIntoShop("DENY"));
            if (refused == 0) {
                throw new DemoFailure("the STRICT refusal was not counted in ztunnel's metrics (" + OPENED
                        + "{connection_security_policy=\"none\",response_flags=\"DENY\"} did not grow)");
            }
            System.out.printf("   curl fails; STRICT refused %d plaintext connection(s): "
                    + "%s{connection_security_policy=\"none\",response_flags=\"DENY\"}%n", refused, OPENED);
            AccessLine why = ZtunnelEvidence.awaitAccessLine(nodes, strictFrom, f -> "inbound".equals(f.get("direction"))
                    && "plaintext".equals(f.get("via")) && f.getOrDefault("error", "").contains("STRICT"),
                    "a plaintext connection refused under STRICT");
            System.out.println("   " + why.file() + ": error=\"" + why.fields().get("error") + "\"");

            say("Delete the PeerAuthentication", "shop is PERMISSIVE again and the plaintext call works; no pod restarted "
                    + "during the whole demo");
            delete(client, "PeerAuthentication", "strict");
            awaitCall(netns, true, SETTLE);
            checkNoRestart(client, lifetimes, "during the demo");
            System.out.println("   curl works; every pod has the uid and restart count it had at the start");

            say("What next", "");
            System.out.println("""
                      # the cluster
                      ./mesh status
                      ./mesh kubectl get pods -A -o wide
                      # the client calls the backend; enroll it again
                      ./mesh exec -n legacy %1$s -- curl -s backend.shop
                      ./mesh kubectl label namespace legacy istio.io/dataplane-mode=ambient
                      # a policy by hand: what the control plane makes of it, apply it, call again, remove it
                      ./mesh analyze -f %2$sdeny-legacy.yaml
                      ./mesh kubectl apply -f %2$sdeny-legacy.yaml
                      ./mesh kubectl delete -n shop authorizationpolicy deny-legacy
                      # what the control plane finds wrong in the live configuration
                      ./mesh analyze
                      # what ztunnel holds, counts and logs
                      ./mesh exec --node node-1 -- curl -s localhost:15000/config_dump
                      curl -s %3$s:15020/metrics | grep ^istio_tcp
                      tail -f %4$s
                      # when done: remove everything the cluster made
                      ./mesh down
                   """.formatted(legacyClient.getMetadata().getName(), DEMO_RESOURCES, Layout.nodeIp(1),
                    Layout.logDir().resolve("ztunnel-node-1.log")).stripTrailing());
            if (!keep) {
                System.out.println("   (--no-keep: the cluster is taken down now; ./mesh demo brings it back)");
            }
        }
    }

    /** Calls until both backends answered with a capture on mesh0, and shows the request crossing in clear. */
    /** Plaintext connections into shop as its ztunnels count them, with {@code flags} ("-" accepted, "DENY" refused). */
    private static Predicate<Series> plaintextIntoShop(String flags) {
        return s -> s.is(OPENED) && s.has("reporter", "destination") && s.has("destination_workload_namespace", "shop")
                && s.has("connection_security_policy", "none") && s.has("response_flags", flags);
    }

    private static void showPlaintext(String netns, String prefix) throws Exception {
        String marker = prefix + UUID.randomUUID();
        WireCapture.Seen plain = captureCalls(netns, marker);
        if (!plain.contains(marker)) {
            throw new DemoFailure("the capture on mesh0 did not show the plaintext request");
        }
        System.out.println("   seen on mesh0: GET /" + marker + " in clear");
    }

    /**
     * The identities of the meshed calls: on each node that runs a backend, the destination
     * ztunnel's series of connections from the legacy client in mutual TLS must have grown since
     * {@code before}, and its access log must name both identities.
     */
    private static void showIdentities(KubernetesClient client, Set<String> backendNodes, Scrape before, Instant from)
            throws Exception {
        Predicate<Series> meshed = s -> s.is(OPENED) && s.has("reporter", "destination")
                && s.has("source_principal", LEGACY_IDENTITY)
                && s.labels().getOrDefault("destination_principal", "").startsWith(SHOP_IDENTITIES)
                && s.has("connection_security_policy", "mutual_tls") && s.has("response_flags", "-");
        Scrape now = Scrape.of(client);
        for (String node : backendNodes) {
            Predicate<Series> here = meshed.and(s -> s.node().equals(node));
            if (now.since(before, here) == 0) {
                throw new DemoFailure("ztunnel on " + node + " (" + Scrape.url(node) + ") has no " + OPENED
                        + " series from " + LEGACY_IDENTITY + " to " + SHOP_IDENTITIES + "* with connection_security_policy="
                        + "\"mutual_tls\" that grew with the calls; it has: " + now.series(s -> s.is(OPENED)
                        && s.node().equals(node)).stream().map(Series::toString).toList());
            }
            System.out.println("   ztunnel on " + node + ", " + Scrape.url(node) + ":");
            for (Series s : now.series(here)) {
                System.out.println("     " + s.show("reporter", "source_principal", "destination_principal",
                        "connection_security_policy"));
            }
        }
        AccessLine line = ZtunnelEvidence.awaitAccessLine(backendNodes, from, f -> "inbound".equals(f.get("direction"))
                && "hbone".equals(f.get("via")) && LEGACY_IDENTITY.equals(f.get("src.identity"))
                && f.getOrDefault("dst.identity", "").startsWith(SHOP_IDENTITIES) && !f.containsKey("error"),
                "an inbound HBONE connection from " + LEGACY_IDENTITY + " to " + SHOP_IDENTITIES + "*");
        System.out.println("   access log, " + line.file() + ":");
        System.out.println("     " + line.text());
    }

    /** Calls the Service until the outcome is {@code succeed} (traffic settles a moment after each change). */
    private static void awaitCall(String netns, boolean succeed, Duration bound) throws Exception {
        Instant deadline = Instant.now().plus(bound);
        Sh.Result r;
        while ((r = Sh.tryRun("ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "3", SERVICE_URL)).ok() != succeed) {
            if (Instant.now().isAfter(deadline)) {
                throw new DemoFailure(succeed ? "curl " + SERVICE_URL + " still fails after " + bound.toSeconds() + " s: "
                        + r.stderr().strip() : "curl " + SERVICE_URL + " still succeeds after " + bound.toSeconds() + " s");
            }
            Thread.sleep(250);
        }
    }

    /** Calls until both backends answered, with the capture running; returns what crossed mesh0. */
    private static WireCapture.Seen captureCalls(String netns, String marker) throws Exception {
        try (WireCapture capture = WireCapture.start()) {
            Set<String> seen = new TreeSet<>();
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

    /** Waits until every pod of {@code ns} has (or has not) the CNI agent's redirection annotation. */
    private static void awaitRedirection(KubernetesClient client, String ns, boolean enrolled) throws Exception {
        Instant deadline = Instant.now().plusSeconds(60);
        while (true) {
            List<Pod> pods = client.pods().inNamespace(ns).list().getItems();
            List<String> pending = pods.stream().filter(p -> enrolled != (p.getMetadata().getAnnotations() != null
                    && "enabled".equals(p.getMetadata().getAnnotations().get("ambient.istio.io/redirection"))))
                    .map(p -> p.getMetadata().getName()).toList();
            if (pending.isEmpty()) {
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                throw new DemoFailure(ns + ": " + pending + " not " + (enrolled ? "enrolled" : "out of the mesh")
                        + " after 60 s (annotation ambient.istio.io/redirection); see " + Layout.logDir() + "/cni-agent-*.log");
            }
            Thread.sleep(250);
        }
    }

    /**
     * Waits until the pod's node's ztunnel no longer serves it: the CNI agent lets go of a leaving
     * pod last (annotation, then rules, then ztunnel), so from then on its traffic bypasses ztunnel.
     */
    private static void awaitReleased(Pod pod) throws Exception {
        String node = pod.getSpec().getNodeName();
        String uid = pod.getMetadata().getUid();
        Instant deadline = Instant.now().plus(SETTLE);
        String last;
        while (true) {
            Sh.Result r = Sh.tryRun("ip", "netns", "exec", Layout.nodeNetns(node), "curl", "-sS", "--max-time", "3",
                    "http://127.0.0.1:15000/config_dump");
            if (r.ok()) {
                var dump = new ObjectMapper().readTree(r.stdout());
                boolean served = false;
                for (var p : dump.path("pods")) {
                    served |= uid.equals(p.path("uid").asText());
                }
                if (!served) {
                    return;
                }
                last = "still listed under \"pods\"";
            } else {
                last = r.stderr().strip();
            }
            if (Instant.now().isAfter(deadline)) {
                throw new DemoFailure("ztunnel on " + node + " still serves " + pod.getMetadata().getName() + " after "
                        + SETTLE.toSeconds() + " s (config_dump: " + last + "); see " + Layout.logDir());
            }
            Thread.sleep(250);
        }
    }

    private static void label(KubernetesClient client, String ns, String mode) {
        client.namespaces().withName(ns).edit(n -> {
            Map<String, String> labels = n.getMetadata().getLabels() == null ? new TreeMap<>()
                    : new TreeMap<>(n.getMetadata().getLabels());
            if (mode == null) {
                labels.remove("istio.io/dataplane-mode");
            } else {
                labels.put("istio.io/dataplane-mode", mode);
            }
            n.getMetadata().setLabels(labels);
            return n;
        });
    }

    /** Creates or replaces one of the demo's security.istio.io/v1 objects (all in namespace shop). */
    private static void apply(KubernetesClient client, String file) throws IOException {
        try (InputStream yaml = resource(file)) {
            GenericKubernetesResource r = client.getKubernetesSerialization().unmarshal(yaml, GenericKubernetesResource.class);
            client.genericKubernetesResources(r.getApiVersion(), r.getKind()).inNamespace(r.getMetadata().getNamespace())
                    .resource(r).createOr(existing -> existing.update());
        }
    }

    private static void delete(KubernetesClient client, String kind, String name) {
        client.genericKubernetesResources("security.istio.io/v1", kind).inNamespace("shop").withName(name).delete();
    }

    private static InputStream resource(String file) {
        InputStream in = Demo.class.getResourceAsStream("/demo/" + file);
        if (in == null) {
            throw new IllegalStateException("/demo/" + file + " is missing from the e2e jar");
        }
        return in;
    }

    private static void checkNoRestart(KubernetesClient client, Map<String, String> before, String when) {
        Map<String, String> now = lifetimes(client);
        if (!before.equals(now)) {
            throw new DemoFailure("a pod restarted " + when + ": " + before + " -> " + now);
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

    private static void waitReady(KubernetesClient client, String ns, String key, String value, int count) throws Exception {
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

}
