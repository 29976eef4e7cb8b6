package dev.meshlite.hbone.server;

/**
 * Handler names of an accepted HBONE connection, in pipeline order:
 *
 * <ol>
 *   <li>{@code LingeringClose}: close() shuts the write side after the last bytes and waits
 *       (3 s at most) for the peer's FIN, so late frames from it are not answered with a RST;
 *   <li>{@link #TLS}: the SslHandler of the material current at accept time;
 *   <li>{@code FlushBeforeClose}: close() flushes through TLS first (the last DATA of a drained
 *       connection must not be lost);
 *   <li>{@link #HANDSHAKE}: waits for the handshake, checks the session (TLS 1.3, AES-GCM, h2,
 *       SPIFFE id), then replaces itself by the four below;
 *   <li>{@link #H2}: Http2FrameCodec with the HBONE settings ({@code HboneCodec});
 *   <li>{@code HboneCodec.SEND_FRAME_LIMIT}: caps the DATA frames we send, on the peer's SETTINGS;
 *   <li>{@link #MUX}: Http2MultiplexHandler; each stream gets a {@code ConnectStreamHandler}, which
 *       is replaced by the relay once the tunnel is up;
 *   <li>{@link #ERRORS}: logs (debug) the connection errors the codec has already answered.
 * </ol>
 */
final class ServerPipeline {
    static final String TLS = "tls";
    static final String HANDSHAKE = "hbone-handshake";
    static final String H2 = "h2";
    static final String MUX = "h2-mux";
    static final String ERRORS = "h2-errors";

    private ServerPipeline() {}
}
