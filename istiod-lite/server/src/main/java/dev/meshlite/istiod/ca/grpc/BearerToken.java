package dev.meshlite.istiod.ca.grpc;

import dev.meshlite.istiod.ca.client.BearerTokenHeader;
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
            Metadata.Key.of(BearerTokenHeader.AUTHORIZATION, Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> TOKEN = Context.key("meshlite-bearer-token");
    private static final String PREFIX = BearerTokenHeader.PREFIX;

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        String value = headers.get(AUTHORIZATION);
        String token = value != null && value.regionMatches(true, 0, PREFIX, 0, PREFIX.length())
                ? value.substring(PREFIX.length()).trim() : null;
        return Contexts.interceptCall(Context.current().withValue(TOKEN, token), call, headers, next);
    }

    /** Client side: metadata carrying {@code token} (the client library's encoding, so both ends agree). */
    public static Metadata metadata(String token) {
        Metadata m = new Metadata();
        BearerTokenHeader.metadata(token).forEach((k, v) -> m.put(Metadata.Key.of(k, Metadata.ASCII_STRING_MARSHALLER), v));
        return m;
    }

    /** The token of the call being served, or null when it presented none. */
    public static String current() {
        return TOKEN.get();
    }
}
