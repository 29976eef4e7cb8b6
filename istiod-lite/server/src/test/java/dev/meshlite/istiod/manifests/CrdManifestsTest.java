package dev.meshlite.istiod.manifests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.istiod.watch.ClusterWatcher;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Our CRD manifests parse, name what the watches expect, and are structural. */
class CrdManifestsTest {

    static final Path CRDS = Path.of("../../manifests/crds");

    static List<CustomResourceDefinition> load(String file) throws IOException {
        List<CustomResourceDefinition> out = new ArrayList<>();
        for (String doc : Files.readString(CRDS.resolve(file)).split("(?m)^---\\s*$")) {
            if (doc.lines().anyMatch(l -> l.startsWith("kind:"))) {
                out.add(Serialization.unmarshal(doc, CustomResourceDefinition.class));
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource({
            "security.istio.io.yaml, authorizationpolicies.security.istio.io, AuthorizationPolicy, v1",
            "security.istio.io.yaml, peerauthentications.security.istio.io, PeerAuthentication, v1",
            "security.istio.io.yaml, requestauthentications.security.istio.io, RequestAuthentication, v1",
            "gateway.networking.k8s.io.yaml, gateways.gateway.networking.k8s.io, Gateway, v1",
            "gateway.networking.k8s.io.yaml, httproutes.gateway.networking.k8s.io, HTTPRoute, v1"})
    void crdIsNamedServedAndStructural(String file, String name, String kind, String version) throws IOException {
        CustomResourceDefinition crd = load(file).stream().filter(c -> c.getMetadata().getName().equals(name))
                .findFirst().orElseThrow(() -> new AssertionError(name + " not in " + file));
        assertEquals("apiextensions.k8s.io/v1", crd.getApiVersion());
        assertEquals(kind, crd.getSpec().getNames().getKind());
        assertEquals(name, crd.getSpec().getNames().getPlural() + "." + crd.getSpec().getGroup());
        assertEquals("Namespaced", crd.getSpec().getScope());
        CustomResourceDefinitionVersion v = crd.getSpec().getVersions().getFirst();
        assertEquals(List.of(version), crd.getSpec().getVersions().stream().map(CustomResourceDefinitionVersion::getName).toList());
        assertTrue(v.getServed() && v.getStorage());
        structural("", v.getSchema().getOpenAPIV3Schema());
    }

    @ParameterizedTest
    @CsvSource({"authorizationpolicies, AuthorizationPolicy", "peerauthentications, PeerAuthentication"})
    void theWatchesUseTheManifestsNames(String plural, String kind) throws IOException {
        var context = kind.equals("AuthorizationPolicy") ? ClusterWatcher.AUTHORIZATION_POLICY : ClusterWatcher.PEER_AUTHENTICATION;
        CustomResourceDefinition crd = load("security.istio.io.yaml").stream()
                .filter(c -> c.getSpec().getNames().getKind().equals(kind)).findFirst().orElseThrow();
        assertEquals(List.of(plural, crd.getSpec().getGroup(), crd.getSpec().getVersions().getFirst().getName()),
                List.of(context.getPlural(), context.getGroup(), context.getVersion()));
    }

    /** Every node has a type, or keeps unknown fields on purpose (the structural-schema rule). */
    static void structural(String path, JSONSchemaProps s) {
        boolean preserve = Boolean.TRUE.equals(s.getXKubernetesPreserveUnknownFields());
        assertTrue(s.getType() != null && !s.getType().isEmpty() || preserve, path + ": no type");
        Map<String, JSONSchemaProps> props = s.getProperties() == null ? Map.of() : s.getProperties();
        props.forEach((k, v) -> structural(path + "." + k, v));
        if (s.getItems() != null && s.getItems().getSchema() != null) {
            structural(path + "[]", s.getItems().getSchema());
        }
        if (s.getAdditionalProperties() != null && s.getAdditionalProperties().getSchema() != null) {
            structural(path + "{}", s.getAdditionalProperties().getSchema());
        }
    }
}
