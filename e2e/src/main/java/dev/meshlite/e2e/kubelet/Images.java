package dev.meshlite.e2e.kubelet;

import io.fabric8.kubernetes.api.model.Container;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What kubelet-lite runs for an image. There is no image store: the sample images map to the
 * project's small sample binary (or, for {@code sample/sleep}, to {@code sleep}), and any other
 * image runs only with an explicit {@code command}. As in Kubernetes, {@code command} replaces
 * the image's entrypoint and {@code args} its arguments.
 */
final class Images {

    private final Path sampleBinary;

    Images(Path sampleBinary) {
        this.sampleBinary = sampleBinary;
    }

    /** The argv to run, or empty when the image is unknown and no command is given. */
    Optional<List<String>> argv(Container c) {
        List<String> entrypoint = c.getCommand() == null ? List.of() : c.getCommand();
        List<String> args = c.getArgs() == null ? List.of() : c.getArgs();
        if (entrypoint.isEmpty()) {
            String image = c.getImage() == null ? "" : c.getImage().replaceFirst(":[^/]*$", "");
            entrypoint = switch (image) {
                case "sample/http-echo" -> List.of(sampleBinary.toString(), "http-echo");
                case "sample/tcp-echo" -> List.of(sampleBinary.toString(), "tcp-echo");
                case "sample/sleep" -> args.isEmpty() ? List.of("sleep", "infinity") : List.of();
                default -> List.of();
            };
            if (entrypoint.isEmpty() && !(image.equals("sample/sleep") && !args.isEmpty())) {
                return Optional.empty();
            }
        }
        List<String> argv = new ArrayList<>(entrypoint);
        argv.addAll(args);
        return argv.isEmpty() ? Optional.empty() : Optional.of(argv);
    }
}
