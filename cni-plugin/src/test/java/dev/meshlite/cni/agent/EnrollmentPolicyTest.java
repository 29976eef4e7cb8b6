package dev.meshlite.cni.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class EnrollmentPolicyTest {

    private static Map<String, String> labels(String mode) {
        return mode.isEmpty() ? Map.of() : Map.of(EnrollmentPolicy.MODE_LABEL, mode);
    }

    @ParameterizedTest(name = "ns={0} pod={1} hostNetwork={2} -> {3}")
    @CsvSource({
        // namespace, pod, hostNetwork, captured
        "ambient, '',      false, true",
        "'',      ambient, false, true",
        "ambient, none,    false, false",
        "ambient, '',      true,  false",
        "'',      '',      false, false",
        "none,    '',      false, false",
        "sidecar, '',      false, false",
        "'',      none,    false, false",
    })
    void decides(String ns, String pod, boolean hostNetwork, boolean captured) {
        assertEquals(captured, EnrollmentPolicy.decide(labels(ns), labels(pod), hostNetwork).capture());
    }
}
