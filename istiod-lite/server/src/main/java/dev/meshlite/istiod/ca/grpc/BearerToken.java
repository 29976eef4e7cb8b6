package dev.meshlite.istiod.ca.grpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;

/**
 * Carries {@code authorization: Bearer <token>} from the call's metadata into its {@link Context};
 * checking it is the service's job (so every refusal is counted and worded in one place).
 */
public final class BearerToken implements ServerInterceptor {

    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> TOKEN = Context.key("meshlite-bearer-token");
    private static final String PREFIX = "Bearer ";

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        String value = headers.get(AUTHORIZATION);
        String token = value != null && value.regionMatches(true, 0, PREFIX, 0, PREFIX.length())
                ? value.substring(PREFIX.length()).trim() : null;
        return Contexts.interceptCall(Context.current().withValue(TOKEN, token), call, headers, next);
    }

    /** Client side: metadata carrying {@code token}. */
    public static Metadata metadata(String token) {
        Metadata m = new Metadata();
        m.put(AUTHORIZATION, PREFIX + token);
        return m;
    }
}
