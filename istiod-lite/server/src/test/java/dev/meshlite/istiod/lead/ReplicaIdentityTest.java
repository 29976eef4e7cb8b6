package dev.meshlite.istiod.lead;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplicaIdentityTest {

    @TempDir
    Path tmp;

    @Test
    void podNameThenHostNameThenKernelThenRandom() throws Exception {
        Path kernel = Files.writeString(tmp.resolve("hostname"), "node-7\n");
        Path none = tmp.resolve("absent");
        assertEquals("istiod-5f7c9", ReplicaIdentity.resolve(Map.of("POD_NAME", "istiod-5f7c9", "HOSTNAME", "h"), kernel));
        assertEquals("h", ReplicaIdentity.resolve(Map.of("POD_NAME", " ", "HOSTNAME", "h"), kernel));
        assertEquals("node-7", ReplicaIdentity.resolve(Map.of(), kernel));
        String resolved = ReplicaIdentity.resolve(Map.of(), none); // the resolver's name for this host
        assertTrue(!resolved.isBlank(), resolved);
    }

    @Test
    void withoutAnyNameEachReplicaGetsARandomOne() throws Exception {
        Path empty = Files.writeString(tmp.resolve("hostname"), "");
        String a = ReplicaIdentity.resolve(Map.of(), empty);
        String b = ReplicaIdentity.resolve(Map.of(), empty);
        assertTrue(a.startsWith("istiod-"), a);
        assertNotEquals(a, b);
    }
}
