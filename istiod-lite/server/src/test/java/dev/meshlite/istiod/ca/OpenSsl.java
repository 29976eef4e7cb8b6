package dev.meshlite.istiod.ca;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The {@code openssl} CLI as an independent verifier of what the CA issues. */
public final class OpenSsl {

    private OpenSsl() {}

    /** Result of {@code openssl verify}: exit code and output. */
    public record Result(int exit, String output) {}

    /** {@code openssl verify -CAfile roots -untrusted intermediates leaf}. */
    public static Result verify(Path dir, List<X509Certificate> roots, List<X509Certificate> chain) throws Exception {
        Files.createDirectories(dir);
        Path ca = dir.resolve("roots.pem");
        Path leaf = dir.resolve("leaf.pem");
        Files.writeString(ca, PemText.encodeAll(roots));
        Files.writeString(leaf, PemText.encode(chain.getFirst()));
        List<String> cmd = new java.util.ArrayList<>(List.of("openssl", "verify", "-x509_strict", "-CAfile", ca.toString()));
        if (chain.size() > 1) {
            Path untrusted = dir.resolve("intermediates.pem");
            Files.writeString(untrusted, PemText.encodeAll(chain.subList(1, chain.size())));
            cmd.add("-untrusted");
            cmd.add(untrusted.toString());
        }
        cmd.add(leaf.toString());
        return run(cmd);
    }

    /** {@code openssl x509 -noout -ext subjectAltName}: the SAN as openssl reads it. */
    public static Result subjectAltName(Path dir, X509Certificate leaf) throws Exception {
        Path f = dir.resolve("san-leaf.pem");
        Files.writeString(f, PemText.encode(leaf));
        return run(List.of("openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", f.toString()));
    }

    private static Result run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("openssl did not finish: " + cmd);
        }
        return new Result(p.exitValue(), out);
    }
}
