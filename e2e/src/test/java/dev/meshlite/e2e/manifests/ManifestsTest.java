package dev.meshlite.e2e.manifests;

import static dev.meshlite.e2e.manifests.RenderedManifests.containers;
import static dev.meshlite.e2e.manifests.RenderedManifests.id;
import static dev.meshlite.e2e.manifests.RenderedManifests.isWorkload;
import static dev.meshlite.e2e.manifests.RenderedManifests.kind;
import static dev.meshlite.e2e.manifests.RenderedManifests.labels;
import static dev.meshlite.e2e.manifests.RenderedManifests.name;
import static dev.meshlite.e2e.manifests.RenderedManifests.namespace;
import static dev.meshlite.e2e.manifests.RenderedManifests.podSpec;
import static dev.meshlite.e2e.manifests.RenderedManifests.podTemplate;
import static dev.meshlite.e2e.manifests.RenderedManifests.selects;
import static dev.meshlite.e2e.manifests.RenderedManifests.strings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.meshlite.e2e.manifests.JibImages.JibImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * manifests/ as {@code kubectl kustomize} renders it, checked against itself (selectors, accounts,
 * bindings, the handoff directory) and against the code it deploys: the images are the ones the
 * poms build with Jib, and every flag a container passes is an option its program declares.
 * Skipped when kubectl is not installed.
 */
class ManifestsTest {

    /** A ServiceAccount annotated so declares it needs no Kubernetes API access (and so has none). */
    static final String NO_API = "meshlite.dev/kubernetes-api";
    private static final Pattern MAIN_CLASS = Pattern.compile("^dev\\.meshlite\\.[\\w.]+$");

    private static Path root;
    private static List<JsonNode> objects;
    private static List<JibImage> images;

    @BeforeAll
    static void render() throws Exception {
        Optional<Path> kubectl = RenderedManifests.kubectl();
        assumeTrue(kubectl.isPresent(), "kubectl not installed: manifests/ cannot be rendered (kubectl kustomize)");
        root = projectRoot();
        objects = RenderedManifests.render(kubectl.get(), root.resolve("manifests"));
        images = JibImages.read(root);
    }

    /** MESH_HOME (as ./mesh and the integration tests set it), else the first directory up with manifests/. */
    static Path projectRoot() {
        String home = System.getenv("MESH_HOME");
        if (home != null && !home.isBlank()) {
            return Path.of(home).toAbsolutePath().normalize();
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("manifests/kustomization.yaml")) && Files.isRegularFile(p.resolve("pom.xml"))) {
                return p;
            }
        }
        throw new AssertionError("no manifests/kustomization.yaml above " + Path.of("").toAbsolutePath());
    }

    @Test
    void everyObjectHasAnApiVersionKindAndName() {
        assertFalse(objects.isEmpty(), "kubectl kustomize rendered nothing");
        for (JsonNode o : objects) {
            assertFalse(o.path("apiVersion").asText().isEmpty(), () -> "no apiVersion: " + o);
            assertFalse(kind(o).isEmpty(), () -> "no kind: " + o);
            assertFalse(name(o).isEmpty(), () -> kind(o) + " without metadata.name");
        }
    }

    @Test
    void everyObjectAndPodCarriesTheCommonLabels() throws Exception {
        JsonNode kustomization = RenderedManifests.YAML.readTree(root.resolve("manifests/kustomization.yaml").toFile());
        List<Map<String, String>> common = new ArrayList<>();
        kustomization.path("labels").forEach(l -> common.add(RenderedManifests.stringMap(l.path("pairs"))));
        assertFalse(common.stream().allMatch(Map::isEmpty), "kustomization.yaml sets no common labels");
        for (JsonNode o : objects) {
            for (Map<String, String> pairs : common) {
                assertTrue(labels(o).entrySet().containsAll(pairs.entrySet()), () -> id(o) + " lacks " + pairs);
                if (isWorkload(o)) {
                    assertTrue(labels(podTemplate(o)).entrySet().containsAll(pairs.entrySet()),
                            () -> id(o) + "'s pods lack " + pairs);
                }
            }
        }
    }

    @Test
    void istiodRunsTwoReplicasThatElectALeader() {
        JsonNode istiod = workloadOf(image("istiod-lite/server"), "Deployment");
        assertEquals(2, istiod.path("spec").path("replicas").asInt(), id(istiod) + " replicas");
        JsonNode c = container(istiod, image("istiod-lite/server"));
        List<String> args = strings(c.path("args"));
        assertTrue(args.contains("--leader-elect") || args.contains("--leader-elect=true"),
                () -> id(istiod) + ": args without --leader-elect: " + args);
        JsonNode podName = env(c, "POD_NAME");
        assertEquals("metadata.name", podName.path("valueFrom").path("fieldRef").path("fieldPath").asText(),
                () -> id(istiod) + ": POD_NAME (the Lease identity) not from the downward API: " + podName);
    }

    @Test
    void aDisruptionBudgetKeepsOneIstiodAndSelectsItsPods() {
        JsonNode istiod = workloadOf(image("istiod-lite/server"), "Deployment");
        List<JsonNode> budgets = objects.stream().filter(o -> kind(o).equals("PodDisruptionBudget"))
                .filter(o -> namespace(o).equals(namespace(istiod))).toList();
        assertEquals(1, budgets.size(), "PodDisruptionBudgets in " + namespace(istiod));
        JsonNode pdb = budgets.getFirst();
        assertEquals(1, pdb.path("spec").path("minAvailable").asInt(-1), id(pdb) + " minAvailable");
        assertTrue(selects(pdb.path("spec").path("selector"), labels(podTemplate(istiod))),
                () -> id(pdb) + "'s selector does not select " + id(istiod) + "'s pods " + labels(podTemplate(istiod)));
    }

    @Test
    void everySelectorMatchesItsPodTemplate() {
        List<JsonNode> workloads = objects.stream().filter(RenderedManifests::isWorkload).toList();
        assertFalse(workloads.isEmpty(), "no workloads rendered");
        for (JsonNode w : workloads) {
            assertTrue(selects(w.path("spec").path("selector"), labels(podTemplate(w))),
                    () -> id(w) + "'s selector " + w.path("spec").path("selector") + " does not match its pods "
                            + labels(podTemplate(w)));
        }
        for (JsonNode svc : objects.stream().filter(o -> kind(o).equals("Service")).toList()) {
            JsonNode selector = svc.path("spec").path("selector");
            List<JsonNode> backends = workloads.stream().filter(w -> namespace(w).equals(namespace(svc)))
                    .filter(w -> selects(selector, labels(podTemplate(w)))).toList();
            assertFalse(backends.isEmpty(), () -> id(svc) + "'s selector " + selector + " matches no pod template");
            for (JsonNode port : svc.path("spec").path("ports")) {
                JsonNode target = port.path("targetPort").isMissingNode() ? port.path("port") : port.path("targetPort");
                boolean served = backends.stream().flatMap(RenderedManifests::containers)
                        .flatMap(c -> stream(c.path("ports")))
                        .anyMatch(p -> target.isInt() ? p.path("containerPort").asInt() == target.asInt()
                                : p.path("name").asText().equals(target.asText()));
                assertTrue(served, () -> id(svc) + " targets port " + target + ", which no selected container declares");
            }
        }
    }

    @Test
    void everyWorkloadRunsAsAnAccountThatExistsAndIsBound() {
        for (JsonNode w : objects.stream().filter(RenderedManifests::isWorkload).toList()) {
            String account = podSpec(w).path("serviceAccountName").asText();
            assertFalse(account.isEmpty() || account.equals("default"), () -> id(w) + " runs as the default account");
            JsonNode sa = find("ServiceAccount", namespace(w), account)
                    .orElseThrow(() -> new AssertionError(id(w) + " runs as ServiceAccount " + account + ", which is not there"));
            List<JsonNode> bindings = bindingsOf(namespace(w), account);
            if ("none".equals(sa.path("metadata").path("annotations").path(NO_API).asText())) {
                assertTrue(bindings.isEmpty(), () -> id(sa) + " declares no API access but is bound: "
                        + bindings.stream().map(RenderedManifests::id).toList());
                assertFalse(podSpec(w).path("automountServiceAccountToken").asBoolean(true)
                                && sa.path("automountServiceAccountToken").asBoolean(true),
                        () -> id(w) + " mounts an API token it has no use for");
            } else {
                assertFalse(bindings.isEmpty(), () -> id(w) + "'s ServiceAccount " + account + " is bound to no role");
            }
        }
    }

    @Test
    void rbacGrantsNoWildcardAndEveryBindingResolves() {
        for (JsonNode role : objects.stream().filter(o -> kind(o).equals("Role") || kind(o).equals("ClusterRole")).toList()) {
            assertFalse(role.path("rules").isEmpty(), () -> id(role) + " has no rules");
            for (JsonNode rule : role.path("rules")) {
                assertFalse(strings(rule.path("verbs")).isEmpty() || strings(rule.path("resources")).isEmpty(),
                        () -> id(role) + ": a rule without verbs or resources: " + rule);
                for (String field : List.of("apiGroups", "resources", "verbs", "resourceNames")) {
                    assertFalse(strings(rule.path(field)).contains("*"), () -> id(role) + ": wildcard " + field + " in " + rule);
                }
            }
        }
        for (JsonNode b : objects.stream().filter(o -> kind(o).equals("RoleBinding") || kind(o).equals("ClusterRoleBinding")).toList()) {
            JsonNode ref = b.path("roleRef");
            String roleNamespace = ref.path("kind").asText().equals("Role") ? namespace(b) : "";
            assertTrue(find(ref.path("kind").asText(), roleNamespace, ref.path("name").asText()).isPresent(),
                    () -> id(b) + " refers to " + ref + ", which is not there");
            for (JsonNode s : b.path("subjects")) {
                if (s.path("kind").asText().equals("ServiceAccount")) {
                    String ns = s.path("namespace").asText(namespace(b));
                    assertTrue(find("ServiceAccount", ns, s.path("name").asText()).isPresent(),
                            () -> id(b) + " binds ServiceAccount " + ns + "/" + s.path("name").asText() + ", which is not there");
                }
            }
        }
    }

    @Test
    void everyImageIsOneTheBuildMakesWithJib() {
        Set<String> built = images.stream().map(JibImage::image).collect(Collectors.toCollection(TreeSet::new));
        Set<String> used = objects.stream().filter(RenderedManifests::isWorkload).flatMap(RenderedManifests::containers)
                .map(c -> c.path("image").asText()).collect(Collectors.toCollection(TreeSet::new));
        assertFalse(built.isEmpty(), "no module's pom configures jib-maven-plugin");
        assertEquals(built, used, "images in manifests/ (right) against the poms' jib to.image (left)");
    }

    @Test
    void ztunnelRunsInItsOwnNetnsAndIsReadyOnHealthzReady15021() {
        JsonNode ztunnel = workloadOf(image("ztunnel"), "DaemonSet");
        assertFalse(podSpec(ztunnel).path("hostNetwork").asBoolean(false), id(ztunnel) + " must not use the host network");
        JsonNode c = container(ztunnel, image("ztunnel"));
        JsonNode get = c.path("readinessProbe").path("httpGet");
        assertEquals("/healthz/ready", get.path("path").asText(), id(ztunnel) + " readiness path");
        assertEquals(15021, portNumber(c, get.path("port")), id(ztunnel) + " readiness port");
        assertTrue(strings(c.path("securityContext").path("capabilities").path("add"))
                .containsAll(List.of("NET_ADMIN", "SYS_ADMIN", "NET_RAW")), id(ztunnel) + " capabilities");
    }

    @Test
    void ztunnelAndTheCniAgentShareTheHandoffSocketThroughOneHostDirectory() {
        JsonNode ztunnel = workloadOf(image("ztunnel"), "DaemonSet");
        JsonNode cni = workloadOf(image("cni-plugin"), "DaemonSet");
        String dialled = flagValue(container(ztunnel, image("ztunnel")), "--handoff-socket");
        String served = flagValue(container(cni, image("cni-plugin")), "--ztunnel-socket");
        String onNodeZ = hostPath(ztunnel, container(ztunnel, image("ztunnel")), dialled)
                .orElseThrow(() -> new AssertionError(id(ztunnel) + ": " + dialled + " is on no hostPath volume"));
        String onNodeA = hostPath(cni, container(cni, image("cni-plugin")), served)
                .orElseThrow(() -> new AssertionError(id(cni) + ": " + served + " is on no hostPath volume"));
        assertEquals(onNodeA, onNodeZ, "the handoff socket on the node: the agent serves it (right), ztunnel dials (left)");
    }

    @Test
    void theCniAgentRunsOnTheNodeAndInstallsIntoItsCniDirectories() {
        JsonNode cni = workloadOf(image("cni-plugin"), "DaemonSet");
        JsonNode c = container(cni, image("cni-plugin"));
        assertTrue(podSpec(cni).path("hostNetwork").asBoolean(false), id(cni) + " hostNetwork");
        assertTrue(podSpec(cni).path("hostPID").asBoolean(false), id(cni) + " hostPID (the /proc scan)");
        assertTrue(c.path("securityContext").path("privileged").asBoolean(false), id(cni) + " privileged");
        assertEquals(Optional.of("/opt/cni/bin"), hostPath(cni, c, flagValue(c, "--cni-bin-dir")), "--cni-bin-dir on the node");
        assertEquals(Optional.of("/etc/cni/net.d"), hostPath(cni, c, flagValue(c, "--cni-conf-dir")), "--cni-conf-dir on the node");
        // The plugin runs on the node, with what the agent writes into the conflist and the
        // launcher: its socket, and its own java. Both must be at the same path on the node.
        String socket = flagValue(c, "--socket");
        assertEquals(Optional.of(socket), hostPath(cni, c, socket), "--socket must be the same path on the node");
        String java = strings(c.path("command")).stream().findFirst().orElse("");
        assertEquals(Optional.of(java), hostPath(cni, c, java), id(cni) + ": the agent's java must be the same path on the node");
    }

    @Test
    void theMeshCrdsAreIncluded() throws Exception {
        Set<String> shipped = new TreeSet<>();
        try (Stream<Path> files = Files.list(root.resolve("manifests/crds"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).toList()) {
                RenderedManifests.parseAll(Files.readString(f)).stream()
                        .filter(o -> kind(o).equals("CustomResourceDefinition")).forEach(o -> shipped.add(name(o)));
            }
        }
        assertFalse(shipped.isEmpty(), "manifests/crds holds no CRD");
        Set<String> rendered = objects.stream().filter(o -> kind(o).equals("CustomResourceDefinition"))
                .map(RenderedManifests::name).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(shipped, rendered, "CRDs: manifests/crds (left) against the render (right)");
    }

    /**
     * What keeps the manifests and the code in step: every {@code --flag} a container of ours
     * passes is declared by its program, and a container that replaces the entrypoint still runs
     * the image's main class.
     */
    @Test
    void everyFlagAContainerPassesIsAnOptionOfItsProgram() throws Exception {
        List<String> problems = new ArrayList<>();
        for (JibImage image : images) {
            Set<String> declared = DeclaredOptions.in(image.sources());
            assertFalse(declared.isEmpty(), image.module() + ": no picocli @Option found under " + image.sources());
            int checked = 0;
            for (JsonNode c : objects.stream().filter(RenderedManifests::isWorkload).flatMap(RenderedManifests::containers)
                    .filter(c -> c.path("image").asText().equals(image.image())).toList()) {
                for (String token : strings(c.path("command"))) {
                    if (MAIN_CLASS.matcher(token).matches() && !token.equals(image.mainClass())) {
                        problems.add(c.path("name").asText() + " (" + image.image() + ") runs " + token
                                + ", not the image's " + image.mainClass());
                    }
                }
                for (String arg : strings(c.path("args"))) {
                    if (arg.startsWith("--")) {
                        String flag = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
                        checked++;
                        if (!declared.contains(flag)) {
                            problems.add(c.path("name").asText() + " (" + image.image() + "): " + flag
                                    + " is not an option of " + image.mainClass() + " (" + image.module() + ")");
                        }
                    }
                }
            }
            assertNotEquals(0, checked, image.image() + ": no container of this image passes a flag (nothing checked)");
        }
        if (!problems.isEmpty()) {
            fail("flags in manifests/ that the programs do not declare:\n  " + String.join("\n  ", problems));
        }
    }

    // ---- lookups ----

    private static String image(String module) {
        return images.stream().filter(i -> i.module().equals(module)).map(JibImage::image).findFirst()
                .orElseThrow(() -> new AssertionError(module + "/pom.xml configures no jib to.image"));
    }

    /** The one workload of this kind that runs this image. */
    private static JsonNode workloadOf(String image, String kind) {
        List<JsonNode> found = objects.stream().filter(o -> kind(o).equals(kind))
                .filter(o -> containers(o).anyMatch(c -> c.path("image").asText().equals(image))).toList();
        assertEquals(1, found.size(), () -> kind + "s running " + image + ": " + found.stream().map(RenderedManifests::id).toList());
        return found.getFirst();
    }

    /** The workload's main container of this image (init containers of the same image aside). */
    private static JsonNode container(JsonNode workload, String image) {
        return stream(podSpec(workload).path("containers")).filter(c -> c.path("image").asText().equals(image)).findFirst()
                .orElseThrow(() -> new AssertionError(id(workload) + " has no container of " + image));
    }

    private static JsonNode env(JsonNode container, String name) {
        return stream(container.path("env")).filter(e -> e.path("name").asText().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("container " + container.path("name").asText() + " has no env " + name));
    }

    /** The value of {@code --flag=value} or {@code --flag value} in a container's args. */
    private static String flagValue(JsonNode container, String flag) {
        List<String> args = strings(container.path("args"));
        for (int i = 0; i < args.size(); i++) {
            if (args.get(i).startsWith(flag + "=")) {
                return args.get(i).substring(flag.length() + 1);
            }
            if (args.get(i).equals(flag) && i + 1 < args.size()) {
                return args.get(i + 1);
            }
        }
        throw new AssertionError("container " + container.path("name").asText() + " does not pass " + flag);
    }

    private static int portNumber(JsonNode container, JsonNode port) {
        if (port.isInt()) {
            return port.asInt();
        }
        return stream(container.path("ports")).filter(p -> p.path("name").asText().equals(port.asText()))
                .mapToInt(p -> p.path("containerPort").asInt()).findFirst()
                .orElseThrow(() -> new AssertionError("no container port named " + port.asText()));
    }

    /** Where a path inside the container is on the node: through its longest hostPath mount. */
    private static Optional<String> hostPath(JsonNode workload, JsonNode container, String path) {
        JsonNode best = null;
        for (JsonNode m : container.path("volumeMounts")) {
            String mount = m.path("mountPath").asText();
            if ((path.equals(mount) || path.startsWith(mount.endsWith("/") ? mount : mount + "/"))
                    && (best == null || mount.length() > best.path("mountPath").asText().length())) {
                best = m;
            }
        }
        if (best == null) {
            return Optional.empty();
        }
        String volume = best.path("name").asText();
        String mount = best.path("mountPath").asText();
        return stream(podSpec(workload).path("volumes")).filter(v -> v.path("name").asText().equals(volume))
                .map(v -> v.path("hostPath").path("path")).filter(p -> !p.isMissingNode())
                .map(p -> p.asText() + path.substring(mount.length())).findFirst();
    }

    private static Optional<JsonNode> find(String kind, String namespace, String name) {
        return objects.stream().filter(o -> kind(o).equals(kind) && name(o).equals(name) && namespace(o).equals(namespace))
                .findFirst();
    }

    /** RoleBindings in the account's namespace and ClusterRoleBindings that name it as a subject. */
    private static List<JsonNode> bindingsOf(String namespace, String account) {
        return objects.stream()
                .filter(b -> kind(b).equals("ClusterRoleBinding") || (kind(b).equals("RoleBinding") && namespace(b).equals(namespace)))
                .filter(b -> stream(b.path("subjects")).anyMatch(s -> s.path("kind").asText().equals("ServiceAccount")
                        && s.path("name").asText().equals(account)
                        && s.path("namespace").asText(namespace(b)).equals(namespace)))
                .toList();
    }

    private static Stream<JsonNode> stream(JsonNode array) {
        List<JsonNode> out = new ArrayList<>();
        array.forEach(out::add);
        return out.stream();
    }
}
