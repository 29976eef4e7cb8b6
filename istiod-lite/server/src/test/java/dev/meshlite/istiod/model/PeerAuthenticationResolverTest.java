package dev.meshlite.istiod.model;

import static dev.meshlite.istiod.model.Objects.labels;
import static dev.meshlite.istiod.model.Objects.peerAuth;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.meshlite.istiod.api.workload.v1.PeerAuthentication;
import dev.meshlite.istiod.api.workload.v1.PeerAuthenticationMode;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class PeerAuthenticationResolverTest {

    static final String MESH_STRICT = "spec: {mtls: {mode: STRICT}}";

    static GenericKubernetesResource mesh(String spec) {
        return peerAuth("istio-system", "default", spec);
    }

    static GenericKubernetesResource ns(String spec) {
        return peerAuth("shop", "default", spec);
    }

    static GenericKubernetesResource workload(String spec) {
        return peerAuth("shop", "cart", spec);
    }

    static PeerAuthentication mode(PeerAuthenticationMode m, Object... ports) {
        PeerAuthentication.Builder b = PeerAuthentication.newBuilder().setMode(m);
        for (int i = 0; i < ports.length; i += 2) {
            b.putPortModes((Integer) ports[i], (PeerAuthenticationMode) ports[i + 1]);
        }
        return b.build();
    }

    static Stream<Arguments> resolution() {
        return Stream.of(
                Arguments.of("nothing: UNSET (permissive)", List.of(), mode(PeerAuthenticationMode.UNSET)),
                Arguments.of("mesh level", List.of(mesh(MESH_STRICT)), mode(PeerAuthenticationMode.STRICT)),
                Arguments.of("namespace overrides mesh", List.of(mesh(MESH_STRICT), ns("spec: {mtls: {mode: PERMISSIVE}}")),
                        mode(PeerAuthenticationMode.PERMISSIVE)),
                Arguments.of("namespace UNSET inherits mesh", List.of(mesh(MESH_STRICT), ns("spec: {mtls: {mode: UNSET}}")),
                        mode(PeerAuthenticationMode.STRICT)),
                Arguments.of("workload overrides namespace", List.of(ns("spec: {mtls: {mode: STRICT}}"),
                        workload("spec: {selector: {matchLabels: {app: cart}}, mtls: {mode: DISABLE}}")),
                        mode(PeerAuthenticationMode.DISABLE)),
                Arguments.of("workload UNSET inherits, port-level overrides and UNSET ports resolved",
                        List.of(mesh(MESH_STRICT), workload("""
                                spec:
                                  selector: {matchLabels: {app: cart}}
                                  portLevelMtls:
                                    "8080": {mode: PERMISSIVE}
                                    "9090": {mode: UNSET}
                                """)),
                        mode(PeerAuthenticationMode.STRICT, 8080, PeerAuthenticationMode.PERMISSIVE, 9090,
                                PeerAuthenticationMode.STRICT)),
                Arguments.of("a selector that does not match is ignored", List.of(mesh(MESH_STRICT),
                        workload("spec: {selector: {matchLabels: {app: web}}, mtls: {mode: DISABLE}}")),
                        mode(PeerAuthenticationMode.STRICT)),
                Arguments.of("another namespace's policy does not apply", List.of(peerAuth("web", "default",
                        "spec: {mtls: {mode: DISABLE}}")), mode(PeerAuthenticationMode.UNSET)),
                Arguments.of("an invalid policy is ignored whole", List.of(mesh(MESH_STRICT),
                        ns("spec: {mtls: {mode: OFF}}")), mode(PeerAuthenticationMode.STRICT)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void resolution(String what, List<GenericKubernetesResource> policies, PeerAuthentication expected) {
        List<Problem> problems = new ArrayList<>();
        var r = PeerAuthenticationResolver.of(policies, "istio-system", problems);
        assertEquals(expected, r.resolve("shop", labels("app", "cart")));
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of("spec: {mtls: {mode: OFF}}", "spec.mtls.mode"),
                Arguments.of("spec: {portLevelMtls: {\"8080\": {mode: STRICT}}}", "spec.portLevelMtls"),
                Arguments.of("spec: {selector: {matchLabels: {a: b}}, portLevelMtls: {\"0\": {mode: STRICT}}}",
                        "spec.portLevelMtls.0"),
                Arguments.of("spec: {mtls: {mode: STRICT, extra: 1}}", "spec.mtls.extra"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void invalid(String spec, String field) {
        List<Problem> problems = new ArrayList<>();
        PeerAuthenticationResolver.of(List.of(ns(spec)), "istio-system", problems);
        assertEquals(1, problems.size(), problems.toString());
        assertEquals(field, problems.getFirst().field());
        assertEquals(Map.of(), Map.of());
    }
}
