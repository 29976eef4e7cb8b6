package dev.meshlite.e2e.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * ztunnel's JVM flags live in three places that must agree: the local cluster's launcher
 * ({@link ClusterUp#ZTUNNEL_JVM_FLAGS}), the AOT training in ztunnel/pom.xml (a cache trained with
 * other heap flags makes the JVM refuse to start), and the image's Jib flags.
 */
class ZtunnelJvmFlagsTest {

    private static final Path POM = Path.of("..", "ztunnel", "pom.xml");

    @Test
    void theAotCacheIsTrainedWithTheFlagsZtunnelRunsWith() throws Exception {
        String pom = Files.readString(POM);
        String execution = between(pom, "<id>aot-train</id>", "</execution>");
        List<String> arguments = elements(execution, "argument");
        int from = arguments.indexOf("-Xlog:aot=error") + 1;
        int to = arguments.indexOf("-cp");
        assertTrue(from > 0 && to > from, "aot-train arguments not as expected: " + arguments);
        assertEquals(ClusterUp.ZTUNNEL_JVM_FLAGS, arguments.subList(from, to));
    }

    @Test
    void theImageRunsWithTheSameFlags() throws Exception {
        String pom = Files.readString(POM);
        List<String> image = elements(between(pom, "<jvmFlags>", "</jvmFlags>"), "jvmFlag");
        assertTrue(image.containsAll(ClusterUp.ZTUNNEL_JVM_FLAGS), "image " + image + " lacks some of "
                + ClusterUp.ZTUNNEL_JVM_FLAGS);
        List<String> extra = new ArrayList<>(image);
        extra.removeAll(ClusterUp.ZTUNNEL_JVM_FLAGS);
        assertEquals(List.of("-XX:+ExitOnOutOfMemoryError"), extra, "only what a kubelet-restarted container adds");
    }

    private static String between(String text, String start, String end) {
        int a = text.indexOf(start);
        int b = text.indexOf(end, a);
        assertTrue(a >= 0 && b > a, start + " ... " + end + " not found in " + POM);
        return text.substring(a, b);
    }

    private static List<String> elements(String xml, String name) {
        Matcher m = Pattern.compile("<" + name + ">([^<]*)</" + name + ">").matcher(xml);
        List<String> out = new ArrayList<>();
        while (m.find()) {
            out.add(m.group(1).strip());
        }
        return out;
    }
}
