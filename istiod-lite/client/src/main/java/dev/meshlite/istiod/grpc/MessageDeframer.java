package dev.meshlite.istiod.grpc;

import io.netty.buffer.ByteBuf;
import java.util.function.Consumer;

/**
 * Cuts a response's DATA bytes into gRPC messages: each is a 1-byte compressed flag, a 4-byte
 * big-endian length and that many bytes. Messages may span DATA frames and a frame may hold
 * several. A message is held in memory only once its length is known to be within the limit.
 */
final class MessageDeframer {

    static final int PREFIX = 5;

    private final int maxMessageBytes;
    private final byte[] prefix = new byte[PREFIX];
    private int prefixRead;
    /** The message being filled, or {@code null} while a prefix is read. */
    private byte[] body;
    private int bodyRead;

    MessageDeframer(int maxMessageBytes) {
        if (maxMessageBytes < 0) {
            throw new IllegalArgumentException("maxMessageBytes: " + maxMessageBytes + " (expected: >= 0)");
        }
        this.maxMessageBytes = maxMessageBytes;
    }

    /**
     * Reads all of {@code in} (not released here), passing each complete message to {@code out};
     * throws, delivering nothing more, at the first prefix this client cannot accept.
     */
    void add(ByteBuf in, Consumer<byte[]> out) throws GrpcException {
        while (in.isReadable()) {
            if (body == null) {
                int n = Math.min(PREFIX - prefixRead, in.readableBytes());
                in.readBytes(prefix, prefixRead, n);
                prefixRead += n;
                if (prefixRead < PREFIX) {
                    return;
                }
                body = new byte[checkedLength()];
                bodyRead = 0;
            }
            int n = Math.min(body.length - bodyRead, in.readableBytes());
            in.readBytes(body, bodyRead, n);
            bodyRead += n;
            if (bodyRead == body.length) {
                byte[] message = body;
                body = null;
                prefixRead = 0;
                out.accept(message);
            }
        }
    }

    /** True while part of a message (or of its prefix) has been read. */
    boolean partial() {
        return prefixRead > 0 || body != null;
    }

    private int checkedLength() throws GrpcException {
        int flag = prefix[0] & 0xff;
        if (flag == 1) {
            throw new GrpcException(GrpcStatus.of(GrpcStatus.Code.INTERNAL,
                    "compressed response message (expected: uncompressed; this client asks for no grpc-encoding)"));
        }
        if (flag != 0) {
            throw new GrpcException(GrpcStatus.of(GrpcStatus.Code.INTERNAL,
                    "message flag " + flag + " (expected: 0, uncompressed)"));
        }
        long length = ((prefix[1] & 0xffL) << 24) | ((prefix[2] & 0xff) << 16) | ((prefix[3] & 0xff) << 8)
                | (prefix[4] & 0xff);
        if (length > maxMessageBytes) {
            throw new GrpcException(GrpcStatus.of(GrpcStatus.Code.RESOURCE_EXHAUSTED,
                    "response message of " + length + " bytes (expected: at most " + maxMessageBytes + ")"));
        }
        return (int) length;
    }
}
