package dev.meshlite.hbone.it;

import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.hbone.tls.TrustBundle;
import dev.meshlite.hbone.tls.WorkloadCertificate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A certificate authority made by the {@code openssl} CLI, independent of our Java code: an EC
 * P-256 root and SPIFFE leaves (URI SAN only, serverAuth + clientAuth). Our side loads the PEM
 * files with the module's own loaders, so our verifier is checked against a foreign issuer.
 */
final class OpensslPki {

    final Path dir;
    final Path caCert;
    private final Path caKey;
    private int serial = 1;

    /** PEM files of one leaf. */
    record Leaf(SpiffeId id, Path cert, Path key) {
        WorkloadCertificate load() {
            return WorkloadCertificate.fromPemFiles(cert, key);
        }
    }

    OpensslPki(Path dir) throws Exception {
        this.dir = Files.createDirectories(dir);
        this.caKey = dir.resolve("ca.key");
        this.caCert = dir.resolve("ca.pem");
        // SEC1 ("EC PRIVATE KEY") for the root, PKCS#8 for leaves: both encodings go through our loader.
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", caKey.toString());
        openssl("req", "-x509", "-new", "-key", caKey.toString(), "-sha256", "-days", "2",
                "-subj", "/O=cluster.local/CN=openssl interop root",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-addext", "subjectKeyIdentifier=hash",
                "-out", caCert.toString());
    }

    TrustBundle bundle() {
        return TrustBundle.fromPemFile(caCert);
    }

    Leaf issue(String namespace, String serviceAccount) throws Exception {
        SpiffeId id = new SpiffeId("cluster.local", namespace, serviceAccount);
        String base = namespace + "-" + serviceAccount;
        Path key = dir.resolve(base + ".key");
        Path csr = dir.resolve(base + ".csr");
        Path ext = dir.resolve(base + ".ext");
        Path cert = dir.resolve(base + ".pem");
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.toString());
        openssl("req", "-new", "-key", key.toString(), "-subj", "/O=cluster.local", "-out", csr.toString());
        Files.writeString(ext, String.join("\n",
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature,keyAgreement",
                "extendedKeyUsage=serverAuth,clientAuth",
                "subjectAltName=critical,URI:" + id.uri(),
                "authorityKeyIdentifier=keyid",
                ""));
        openssl("x509", "-req", "-in", csr.toString(), "-CA", caCert.toString(), "-CAkey", caKey.toString(),
                "-set_serial", Integer.toString(++serial), "-days", "1", "-sha256",
                "-extfile", ext.toString(), "-out", cert.toString());
        return new Leaf(id, cert, key);
    }

    private void openssl(String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add("openssl");
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile(dir, "openssl", ".log");
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("openssl did not finish: " + cmd);
        }
        if (p.exitValue() != 0) {
            throw new IOException(cmd + " failed (" + p.exitValue() + "):\n" + Files.readString(log));
        }
    }
}
