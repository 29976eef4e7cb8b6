package dev.meshlite.ztunnel.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AotCacheTest {

    static byte[] cmdline(String... args) {
        return (String.join("\0", args) + "\0").getBytes(StandardCharsets.UTF_8);
    }

    static final String MAPS = """
            55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234 /usr/lib/jvm/bin/java
            68001000-6acd6000 rw-p 00001000 08:01 5678 /opt/ztunnel/ztunnel.aot
            7f0000000000-7f0000021000 rw-p 00000000 00:00 0
            """;

    @Test
    void stateFromTheCommandLineAndTheMemoryMap() {
        Path cwd = Path.of("/opt/ztunnel");
        assertEquals(AotCache.State.IN_USE,
                AotCache.of(cmdline("java", "-XX:AOTCache=/opt/ztunnel/ztunnel.aot", "Main"), MAPS, cwd).state());
        assertEquals(AotCache.State.IN_USE,
                AotCache.of(cmdline("java", "-XX:AOTCache=ztunnel.aot", "Main"), MAPS, cwd).state(),
                "a relative path is the process's working directory's");
        assertEquals(AotCache.State.IN_USE,
                AotCache.of(cmdline("java", "-XX:SharedArchiveFile=/opt/ztunnel/ztunnel.aot"), MAPS, cwd).state());
        AotCache refused = AotCache.of(cmdline("java", "-XX:AOTCache=/opt/other.aot", "Main"), MAPS, cwd);
        assertEquals(AotCache.State.REFUSED, refused.state());
        assertEquals(Optional.of("/opt/other.aot"), refused.requested());
        assertEquals(AotCache.State.NONE, AotCache.of(cmdline("java", "-Xmx64m", "Main"), MAPS, cwd).state());
        assertEquals(AotCache.State.NONE, AotCache.of(cmdline("java", "-XX:AOTCache="), MAPS, cwd).state());
    }

    @Test
    void unreadableProcIsNone(@TempDir Path empty) {
        assertEquals(AotCache.State.NONE, AotCache.read(empty).state());
    }

    @Test
    void aJvmStartedWithACacheItCannotUseIsSeenAsRefused(@TempDir Path dir) throws Exception {
        Path cache = Files.write(dir.resolve("stale.aot"), new byte[4096]);
        Path main = Files.writeString(dir.resolve("Idle.java"),
                "class Idle { public static void main(String[] a) throws Exception {"
                        + " System.out.println(\"up\"); System.out.flush(); Thread.sleep(60_000); } }");
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:AOTCache=" + cache, "-Xlog:aot=off", "-Xlog:cds=off", main.toString())
                .redirectErrorStream(true).start();
        try {
            byte[] first = child.getInputStream().readNBytes(3);
            assertEquals("up\n", new String(first, StandardCharsets.UTF_8), "the JVM went on without the cache");
            AotCache seen = AotCache.read(Path.of("/proc/" + child.pid()));
            assertEquals(AotCache.State.REFUSED, seen.state(), seen.toString());
        } finally {
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
        // This test JVM runs without a cache.
        assertEquals(AotCache.State.NONE, AotCache.read(Path.of("/proc/self")).state());
    }
}
