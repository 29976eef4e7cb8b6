package dev.meshlite.e2e.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class PreflightTest {

    @Test
    void aMachineWithEverythingHasNoProblems() {
        assertEquals(List.of(), Preflight.problems(true, tool -> true));
    }

    @Test
    void notRootIsOneLineSayingWhatToDo() {
        List<String> problems = Preflight.problems(false, tool -> true);
        assertEquals(1, problems.size());
        assertTrue(problems.get(0).startsWith("not root"), problems.get(0));
        assertTrue(problems.get(0).contains("run as root"), problems.get(0));
    }

    @Test
    void aMissingToolNamesTheToolAndItsPackage() {
        List<String> problems = Preflight.problems(true, tool -> !tool.endsWith("/bridge"));
        assertEquals(List.of("missing /usr/lib/cni/bridge: apt-get install -y containernetworking-plugins"), problems);
    }
}
