package dev.meshlite.istiod.ca.grpc;

import dev.meshlite.istiod.api.ca.v1.CertificateResponse;
import dev.meshlite.istiod.api.ca.v1.CertificateServiceGrpc;
import dev.meshlite.istiod.api.ca.v1.CsrRequest;
import dev.meshlite.istiod.ca.CertificateService;
import dev.meshlite.istiod.ca.IssuedChain;
import dev.meshlite.istiod.ca.PemText;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.security.cert.X509Certificate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The gRPC face of {@link CertificateService}: refusals become status codes with their reason. */
public final class CertificateGrpcService extends CertificateServiceGrpc.CertificateServiceImplBase {

    private static final Logger log = LoggerFactory.getLogger(CertificateGrpcService.class);

    private final CertificateService service;

    public CertificateGrpcService(CertificateService service) {
        this.service = service;
    }

    @Override
    public void createCertificate(CsrRequest request, StreamObserver<CertificateResponse> response) {
        IssuedChain chain;
        try {
            chain = service.create(BearerToken.TOKEN.get(), request.getIdentity(), request.getCsrPem(),
                    request.getRequestedTtlSeconds());
        } catch (CertificateService.RefusedException e) {
            Status status = switch (e.refusal()) {
                case UNAUTHENTICATED -> Status.UNAUTHENTICATED;
                case PERMISSION_DENIED -> Status.PERMISSION_DENIED;
                case INVALID_ARGUMENT -> Status.INVALID_ARGUMENT;
            };
            response.onError(status.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (RuntimeException e) {
            log.warn("certificate request failed: {}", e.toString());
            response.onError(Status.UNAVAILABLE.withDescription("CA cannot serve the request now: " + e.getMessage())
                    .asRuntimeException());
            return;
        }
        CertificateResponse.Builder b = CertificateResponse.newBuilder();
        for (X509Certificate c : chain.chain()) {
            b.addCertChainPem(PemText.encode(c));
        }
        for (X509Certificate r : chain.roots()) {
            b.addRootCertsPem(PemText.encode(r));
        }
        response.onNext(b.build());
        response.onCompleted();
    }
}
