package dev.meshlite.e2e.kubelet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ImagesTest {

    private static final Images IMAGES = new Images(Path.of("/opt/mesh-sample"));

    record Case(String image, List<String> command, List<String> args, Optional<List<String>> expected) {
    }

    static List<Case> cases() {
        return List.of(
                new Case("sample/http-echo", null, null, Optional.of(List.of("/opt/mesh-sample", "http-echo"))),
                new Case("sample/http-echo:1.0", null, null, Optional.of(List.of("/opt/mesh-sample", "http-echo"))),
                new Case("sample/tcp-echo", null, null, Optional.of(List.of("/opt/mesh-sample", "tcp-echo"))),
                new Case("sample/sleep", null, null, Optional.of(List.of("sleep", "infinity"))),
                // command replaces the entrypoint, args the arguments, as in Kubernetes
                new Case("sample/sleep", List.of("sh", "-c"), List.of("echo hi"), Optional.of(List.of("sh", "-c", "echo hi"))),
                new Case("sample/http-echo", null, List.of("--x"), Optional.of(List.of("/opt/mesh-sample", "http-echo", "--x"))),
                new Case("nginx:1.27", List.of("nginx"), null, Optional.of(List.of("nginx"))),
                new Case("nginx:1.27", null, null, Optional.empty()));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void mapsImagesToCommands(Case c) {
        Container container = new ContainerBuilder().withName("c").withImage(c.image())
                .withCommand(c.command()).withArgs(c.args()).build();
        assertEquals(c.expected(), IMAGES.argv(container));
    }
}
