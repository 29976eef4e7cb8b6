package dev.meshlite.e2e.manifests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The command-line options a program declares: every picocli {@code @Option(names = ...)} in its
 * module's main sources. The whole module, not only the main class's file: subcommands and mixins
 * may live in files of their own. Read from the source text, so the check needs no build of the
 * module and follows its sources exactly as they are.
 */
final class DeclaredOptions {

    private static final Pattern OPTION = Pattern.compile("@(?:picocli\\.)?(?:CommandLine\\.)?Option\\s*\\(");
    private static final Pattern NAMES = Pattern.compile("\\bnames\\s*=\\s*(\\{[^}]*}|\"[^\"]*\")");
    private static final Pattern QUOTED = Pattern.compile("\"([^\"]*)\"");

    private DeclaredOptions() {
    }

    static Set<String> in(Path sources) throws IOException {
        Set<String> names = new TreeSet<>();
        try (Stream<Path> files = Files.walk(sources)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                names.addAll(inSource(Files.readString(f)));
            }
        }
        return names;
    }

    static Set<String> inSource(String java) {
        Set<String> names = new TreeSet<>();
        Matcher option = OPTION.matcher(java);
        while (option.find()) {
            String attributes = java.substring(option.end(), closingParen(java, option.end()));
            Matcher n = NAMES.matcher(attributes);
            if (n.find()) {
                Matcher q = QUOTED.matcher(n.group(1));
                while (q.find()) {
                    names.add(q.group(1));
                }
            }
        }
        return names;
    }

    /** The index of the parenthesis closing the one just before {@code from}; strings may hold parentheses. */
    private static int closingParen(String s, int from) {
        int depth = 1;
        boolean quoted = false;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quoted) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    quoted = false;
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == '(') {
                depth++;
            } else if (c == ')' && --depth == 0) {
                return i;
            }
        }
        throw new AssertionError("unbalanced @Option( ... ) at offset " + from);
    }
}
