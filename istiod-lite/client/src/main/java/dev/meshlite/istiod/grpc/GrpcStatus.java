package dev.meshlite.istiod.grpc;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * How a gRPC call ended: a code of the gRPC status table and what the server (or this client)
 * said about it. {@code toString()} is {@code "CODE: description"}, the form operators know from
 * every other gRPC client.
 */
public record GrpcStatus(Code code, String description) {

    /** The gRPC status codes, by their wire value (the {@code grpc-status} trailer). */
    public enum Code {
        OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS,
        PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE,
        UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED;

        private static final Code[] BY_VALUE = values();

        public int value() {
            return ordinal();
        }

        /** The code of wire value {@code value}; an unknown one is UNKNOWN (gRPC's rule). */
        public static Code of(int value) {
            return value >= 0 && value < BY_VALUE.length ? BY_VALUE[value] : UNKNOWN;
        }
    }

    public GrpcStatus {
        description = description == null ? "" : description;
    }

    public static GrpcStatus of(Code code, String description) {
        return new GrpcStatus(code, description);
    }

    public boolean ok() {
        return code == Code.OK;
    }

    /**
     * The status of a response whose HTTP status is not 200 and which carries no
     * {@code grpc-status} (a proxy or a non-gRPC server answered): gRPC's HTTP-to-status mapping.
     */
    static GrpcStatus fromHttp(int httpStatus) {
        Code code = switch (httpStatus) {
            case 400 -> Code.INTERNAL;
            case 401 -> Code.UNAUTHENTICATED;
            case 403 -> Code.PERMISSION_DENIED;
            case 404 -> Code.UNIMPLEMENTED;
            case 429, 502, 503, 504 -> Code.UNAVAILABLE;
            default -> Code.UNKNOWN;
        };
        return of(code, "HTTP status " + httpStatus + " (expected: 200 from a gRPC server)");
    }

    /** The {@code grpc-status} trailer's value, which must be a decimal number. */
    static GrpcStatus fromTrailer(CharSequence status, CharSequence message) {
        int value;
        try {
            value = Integer.parseInt(status.toString());
        } catch (NumberFormatException e) {
            return of(Code.INTERNAL, "grpc-status: '" + status + "' (expected: a number)");
        }
        return of(Code.of(value), message == null ? "" : percentDecode(message.toString()));
    }

    /** {@code grpc-message} is percent-encoded UTF-8; a malformed escape is kept as it is. */
    static String percentDecode(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        int i = 0;
        while (i < s.length()) {
            int escaped = s.charAt(i) == '%' ? hex(s, i + 1) : -1;
            if (escaped >= 0) {
                out.write(escaped);
                i += 3;
            } else {
                int cp = s.codePointAt(i);
                byte[] b = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
                out.write(b, 0, b.length);
                i += Character.charCount(cp);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The byte written as two hex digits at {@code at}, or -1. */
    private static int hex(String s, int at) {
        if (at + 1 >= s.length()) {
            return -1;
        }
        int a = Character.digit(s.charAt(at), 16);
        int b = Character.digit(s.charAt(at + 1), 16);
        return a < 0 || b < 0 ? -1 : a * 16 + b;
    }

    @Override
    public String toString() {
        return description.isEmpty() ? code.name() : code + ": " + description;
    }
}
