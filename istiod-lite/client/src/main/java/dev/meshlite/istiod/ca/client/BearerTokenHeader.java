package dev.meshlite.istiod.ca.client;

import java.util.Map;

/**
 * The client half of the control plane's credential: {@code authorization: Bearer <token>} on
 * every call (CA and xDS alike). The token is read when each call starts, never cached, because
 * projected service account tokens rotate on disk.
 */
public final class BearerTokenHeader {

    /** The metadata key (gRPC metadata keys are lower-case HTTP/2 header names). */
    public static final String AUTHORIZATION = "authorization";
    public static final String PREFIX = "Bearer ";

    private BearerTokenHeader() {}

    /** The call metadata carrying {@code token} (an empty one is sent as is: the server refuses it, saying why). */
    public static Map<String, String> metadata(String token) {
        if (token == null) {
            throw new IllegalArgumentException("bearer token: null (expected: a token to present to istiod-lite)");
        }
        return Map.of(AUTHORIZATION, PREFIX + token);
    }
}
