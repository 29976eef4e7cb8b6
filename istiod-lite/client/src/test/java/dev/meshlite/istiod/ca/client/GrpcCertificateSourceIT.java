package dev.meshlite.istiod.ca.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.meshlite.hbone.testing.TestCa;
import dev.meshlite.hbone.tls.SpiffeId;
import dev.meshlite.istiod.api.ca.v1.CertificateResponse;
import dev.meshlite.istiod.api.ca.v1.CertificateServiceGrpc;
import dev.meshlite.istiod.api.ca.v1.CsrRequest;
import dev.meshlite.istiod.grpc.GrpcChannel;
import dev.meshlite.istiod.grpc.TlsGrpcServer;
import io.grpc.stub.StreamObserver;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.security.PublicKey;
import java.security.Signature;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The CA client against a real gRPC server (grpc-java, over TLS) on 127.0.0.1 that records each CSR's key: every
 * certificate comes with the key its CSR proved, a prepared key included, and no key serves twice.
 */
class GrpcCertificateSourceIT {

    final TestCa ca = TestCa.create("cluster.local");
    final List<PublicKey> csrKeys = new CopyOnWriteArrayList<>();
    TlsGrpcServer server;
    GrpcChannel channel;

    @BeforeEach
    void start() throws Exception {
        server = TlsGrpcServer.start(ca, 0, new CertificateServiceGrpc.CertificateServiceImplBase() {
                    @Override
                    public void createCertificate(CsrRequest request, StreamObserver<CertificateResponse> out) {
                        try (PEMParser p = new PEMParser(new StringReader(request.getCsrPem()))) {
                            PKCS10CertificationRequest csr = (PKCS10CertificationRequest) p.readObject();
                            csrKeys.add(new JcaPEMKeyConverter().getPublicKey(csr.getSubjectPublicKeyInfo()));
                        } catch (Exception e) {
                            out.onError(e);
                            return;
                        }
                        var issued = ca.issue(SpiffeId.parse(request.getIdentity()));
                        out.onNext(CertificateResponse.newBuilder()
                                .addCertChainPem(TestCa.pem(issued.chain().toArray()))
                                .addRootCertsPem(TestCa.pem(ca.root())).build());
                        out.onCompleted();
                    }
                });
        channel = server.channel();
    }

    @AfterEach
    void stop() throws Exception {
        channel.close();
        server.close();
    }

    @Test
    void preparedKeyServesTheNextFetchOnlyAndEveryCertificateHasItsCsrsKey() throws Exception {
        GrpcCertificateSource source = new GrpcCertificateSource(channel, () -> "token", Duration.ofHours(1),
                Duration.ofSeconds(30));
        source.prepare();
        source.prepare(); // a second call keeps the waiting key
        SpiffeId a = ca.id("a", "default");
        SpiffeId b = ca.id("b", "default");
        var first = source.fetch(a);
        var second = source.fetch(b);
        var third = source.fetch(a);

        assertEquals(3, csrKeys.size());
        assertEquals(3, csrKeys.stream().distinct().count(), "each certificate has a key of its own");
        assertProves(first.certificate().privateKey(), csrKeys.get(0));
        assertProves(second.certificate().privateKey(), csrKeys.get(1));
        assertProves(third.certificate().privateKey(), csrKeys.get(2));
        assertEquals(a, first.certificate().identity());
        assertEquals(b, second.certificate().identity());
        assertNotEquals(first.certificate().privateKey(), third.certificate().privateKey());
    }

    /** The private key signs what the CSR's public key verifies. */
    private static void assertProves(java.security.PrivateKey key, PublicKey csrKey) throws Exception {
        byte[] message = "ztunnel".getBytes(StandardCharsets.US_ASCII);
        Signature sign = Signature.getInstance("SHA256withECDSA");
        sign.initSign(key);
        sign.update(message);
        Signature verify = Signature.getInstance("SHA256withECDSA");
        verify.initVerify(csrKey);
        verify.update(message);
        assertTrue(verify.verify(sign.sign()), "the certificate's key is the one its CSR proved");
    }
}
