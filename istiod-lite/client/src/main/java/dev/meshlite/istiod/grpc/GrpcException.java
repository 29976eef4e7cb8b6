package dev.meshlite.istiod.grpc;

/** A call that ended with a status other than OK; the message is the status ("CODE: description"). */
public final class GrpcException extends Exception {

    private final GrpcStatus status;

    public GrpcException(GrpcStatus status) {
        super(status.toString());
        this.status = status;
    }

    public GrpcStatus status() {
        return status;
    }
}
