package dev.meshlite.istiod.analyze;

import dev.meshlite.istiod.model.ModelInputs;
import dev.meshlite.istiod.model.Problem;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code istiod-lite analyze}: the control plane's problems, before or after the fact. The I/O
 * shell around {@link Manifests} (files to objects), {@link LiveObjects} (cluster to objects) and
 * {@link Analysis} (objects to problems, by the control plane's own model).
 *
 * <p>Problems go to stdout, one a line; notes, input errors and the closing summary to stderr, so
 * stdout can be piped and compared. An input that cannot be read (a file, a document, the cluster)
 * stops the analysis whole (exit 2): judging part of a change could pass what the rest breaks.
 */
@Command(name = "analyze", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Report what the control plane would report about the mesh configuration: each problem"
                + " as '<Kind> <namespace>/<name>: <field>: <reason>'.",
                "With -f, the files (a dry run before kubectl apply); with --with-cluster too, the files applied"
                        + " on top of the live objects; without -f, the live cluster."},
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:no problem", "1:at least one problem",
                "2:an input cannot be read (file, document, cluster) or a usage error"})
public final class Analyze implements Callable<Integer> {

    static final String STDIN = "-";

    @Option(names = {"-f", "--filename"}, paramLabel = "FILE",
            description = "manifest file, directory (its *.yaml, *.yml, *.json) or - for stdin; repeatable")
    List<String> files = new ArrayList<>();

    @Option(names = "--with-cluster",
            description = "with -f: apply the files on top of the live objects (same kind, namespace, name replaced)")
    boolean withCluster;

    @Option(names = "--kubeconfig", paramLabel = "FILE",
            description = "kubeconfig of the live cluster (default: KUBECONFIG, ~/.kube/config, in-cluster);"
                    + " with -f it implies --with-cluster")
    Path kubeconfig;

    @Option(names = {"-n", "--namespace"}, paramLabel = "NS",
            description = "report only the problems of this namespace (and of the Namespace itself)")
    String namespace;

    @Option(names = "--root-namespace", defaultValue = ModelInputs.DEFAULT_ROOT_NAMESPACE,
            description = "mesh root namespace, as given to serve (default: ${DEFAULT-VALUE})")
    String rootNamespace;

    @Option(names = "--trust-domain", defaultValue = "cluster.local", description = "default: ${DEFAULT-VALUE}")
    String trustDomain;

    @Spec
    CommandSpec spec;

    private final InputStream stdin;

    public Analyze() {
        this(System.in);
    }

    Analyze(InputStream stdin) {
        this.stdin = stdin;
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Analysis.Settings settings = new Analysis.Settings(rootNamespace, trustDomain, Optional.ofNullable(namespace));
        List<String> errors = new ArrayList<>();
        List<HasMetadata> fromFiles = new ArrayList<>();
        for (Source s : sources(errors, err)) {
            Manifests.Read read = Manifests.read(s.name(), s.text());
            fromFiles.addAll(read.objects());
            read.notes().forEach(n -> err.println("note: " + n));
            errors.addAll(read.errors());
        }
        if (!errors.isEmpty()) {
            return inputErrors(errors, err);
        }
        List<HasMetadata> live = List.of();
        if (files.isEmpty() || withCluster || kubeconfig != null) {
            try (KubernetesClient client = client()) {
                LiveObjects.Listed listed = LiveObjects.list(client);
                listed.notes().forEach(n -> err.println("note: " + n));
                live = listed.objects();
            } catch (IOException | KubernetesClientException e) {
                return inputErrors(List.of("cannot read the cluster" + (kubeconfig == null ? "" : " of " + kubeconfig)
                        + ": " + oneLine(e)), err);
            }
        }
        Analysis.Report report = files.isEmpty() ? Analysis.ofCluster(live, settings)
                : Analysis.ofFiles(fromFiles, live, settings);
        for (Problem p : report.problems()) {
            out.println(Analysis.line(p));
        }
        out.flush();
        err.println(Analysis.summary(report, settings));
        err.flush();
        return report.exitCode();
    }

    private static int inputErrors(List<String> errors, PrintWriter err) {
        errors.forEach(e -> err.println("error: " + e));
        err.println("not analyzed: " + errors.size() + (errors.size() == 1 ? " input error" : " input errors"));
        err.flush();
        return 2;
    }

    /** One text to read, named for messages. */
    record Source(String name, String text) {}

    /** The -f arguments as texts, directories expanded (sorted, not recursive, as kubectl -f DIR). */
    private List<Source> sources(List<String> errors, PrintWriter err) {
        List<Source> out = new ArrayList<>();
        boolean stdinRead = false;
        for (String f : files) {
            if (f.equals(STDIN)) {
                if (stdinRead) {
                    errors.add("-f - given twice (expected: stdin at most once)");
                    continue;
                }
                stdinRead = true;
                try {
                    out.add(new Source("<stdin>", new String(stdin.readAllBytes(), StandardCharsets.UTF_8)));
                } catch (IOException e) {
                    errors.add("<stdin>: cannot read: " + oneLine(e));
                }
                continue;
            }
            Path path = Path.of(f);
            List<Path> paths = List.of(path);
            if (Files.isDirectory(path)) {
                try (Stream<Path> listing = Files.list(path)) {
                    paths = listing.filter(p -> Files.isRegularFile(p) && manifest(p)).sorted().toList();
                } catch (IOException e) {
                    errors.add(f + ": cannot list: " + oneLine(e));
                    continue;
                }
                if (paths.isEmpty()) {
                    err.println("note: " + f + ": no *.yaml, *.yml or *.json files");
                }
            }
            for (Path p : paths) {
                try {
                    out.add(new Source(p.toString(), Files.readString(p)));
                } catch (IOException e) {
                    errors.add(p + ": cannot read: " + oneLine(e)
                            + " (expected: a readable file, a directory, or - for stdin)");
                }
            }
        }
        return out;
    }

    private static boolean manifest(Path p) {
        String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".yaml") || name.endsWith(".yml") || name.endsWith(".json");
    }

    /**
     * A client as {@code serve} builds one, but failing fast: a one-shot command should say the
     * cluster is unreachable, not retry with back-off for minutes.
     */
    private KubernetesClient client() throws IOException {
        Config config = kubeconfig == null ? Config.autoConfigure(null)
                : Config.fromKubeconfig(Files.readString(kubeconfig));
        config.setRequestRetryBackoffLimit(0);
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    /** The exception and its root cause (fabric8's "list failed" alone does not say why), on one line. */
    private static String oneLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = e.getMessage() == null ? "" : e.getMessage().replaceAll("\\s+", " ").strip();
        String text = e.getClass().getSimpleName() + (m.isEmpty() ? "" : ": " + m);
        return root == e ? text : text + " (" + oneLine(root) + ")";
    }
}
