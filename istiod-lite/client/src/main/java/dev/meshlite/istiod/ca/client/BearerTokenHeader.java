package dev.meshlite.istiod.ca.client;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import java.util.function.Supplier;

/**
 * The client half of the control plane's credential: {@code authorization: Bearer <token>} on
 * every call (CA and xDS alike). The token is read when each call starts, never cached, because
 * projected service account tokens rotate on disk.
 */
public final class BearerTokenHeader {

    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final String PREFIX = "Bearer ";

    private BearerTokenHeader() {}

    /** Metadata carrying {@code token} (an empty one is sent as is: the server refuses it, saying why). */
    public static Metadata metadata(String token) {
        if (token == null) {
            throw new IllegalArgumentException("bearer token: null (expected: a token to present to istiod-lite)");
        }
        Metadata m = new Metadata();
        m.put(AUTHORIZATION, PREFIX + token);
        return m;
    }

    /** Attaches the token {@code token} supplies at the start of each call. */
    public static ClientInterceptor interceptor(Supplier<String> token) {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options,
                    Channel next) {
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        headers.merge(metadata(token.get()));
                        super.start(listener, headers);
                    }
                };
            }
        };
    }
}
