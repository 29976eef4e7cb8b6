package dev.meshlite.cni.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeInstallTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CONFLIST = "{\"cniVersion\":\"1.0.0\",\"name\":\"pods\",\"plugins\":[{\"type\":\"bridge\"},{\"type\":\"portmap\"}]}";

    @TempDir
    Path dir;

    @Test
    void chainsItselfLastOnceAndUninstallRestoresTheNodesChain() throws Exception {
        Path conf = Files.createDirectories(dir.resolve("net.d"));
        Path bin = dir.resolve("bin");
        Files.writeString(conf.resolve("10-pods.conflist"), CONFLIST);
        for (int i = 0; i < 2; i++) {
            NodeInstall.install(conf, bin, Path.of("/run/agent.sock"), Path.of("/var/log/cni.log"), "/usr/bin/java", "/opt/cni/*");
        }
        JsonNode installed = JSON.readTree(conf.resolve("10-pods.conflist").toFile());
        assertEquals(3, installed.path("plugins").size(), "installed once, whatever the number of installs");
        assertEquals("mesh-cni", installed.path("plugins").path(2).path("type").asText());
        assertEquals("/run/agent.sock", installed.path("plugins").path(2).path("agent_socket").asText());
        assertTrue(Files.isExecutable(bin.resolve("mesh-cni")));
        assertTrue(Files.readString(bin.resolve("mesh-cni")).contains("dev.meshlite.cni.plugin.CniPlugin"));
        assertFalse(Files.readString(bin.resolve("mesh-cni")).contains("AOTCache"), "no cache next to /opt/cni: none used");

        NodeInstall.uninstall(conf, bin);
        assertEquals(JSON.readTree(CONFLIST), JSON.readTree(conf.resolve("10-pods.conflist").toFile()));
        assertFalse(Files.exists(bin.resolve("mesh-cni")));
        NodeInstall.uninstall(conf, bin); // nothing left to remove is not an error
    }

    @Test
    void theWrapperUsesTheBuildsAotCacheWhenThereIsOne() throws Exception {
        Path target = Files.createDirectories(dir.resolve("target"));
        String classpath = target.resolve("cni-plugin-0.1.0-SNAPSHOT.jar") + ":" + target.resolve("lib/jackson-core.jar");
        assertEquals(java.util.Optional.empty(), NodeInstall.aotCache(classpath));
        Files.writeString(target.resolve("cni-plugin.aot"), "");
        assertEquals(java.util.Optional.of(target.resolve("cni-plugin.aot")), NodeInstall.aotCache(classpath));
        String wrapper = NodeInstall.wrapper("/usr/bin/java", classpath, NodeInstall.aotCache(classpath));
        assertTrue(wrapper.contains(" -XX:AOTCache=" + target.resolve("cni-plugin.aot") + " "), wrapper);
        assertTrue(wrapper.contains(" -Xlog:disable -Xlog:all=warning:stderr -Xlog:aot=off:stderr "),
                "nothing of the JVM's on stdout: " + wrapper);        assertTrue(wrapper.contains(" -cp '" + target.resolve("cni-plugin-0.1.0-SNAPSHOT.jar") + "' "),
                "the plugin jar alone, the classpath the cache was trained on: " + wrapper);
    }

    @Test
    void withoutAPluginJarTheWrapperKeepsTheAgentsClasspath() {
        String classpath = "/app/resources:/app/classes:/app/libs/*";
        assertEquals(java.util.Optional.empty(), NodeInstall.pluginJar(classpath));
        assertTrue(NodeInstall.wrapper("/usr/bin/java", classpath, java.util.Optional.empty()).contains(" -cp '" + classpath + "' "));
    }

    @Test
    void aNodeWithoutAConflistIsAClearError() throws Exception {
        Path conf = Files.createDirectories(dir.resolve("empty"));
        var e = assertThrows(java.io.IOException.class, () -> NodeInstall.install(conf, dir.resolve("bin"),
                Path.of("/s"), Path.of("/l"), "java", "cp"));
        assertTrue(e.getMessage().contains("no .conflist"), e.getMessage());
    }
}
