package dev.meshlite.hbone.client;

/**
 * Handler names of a pooled client connection, in pipeline order:
 * <ol>
 *   <li>{@code LingeringClose}: close() shuts the write side after the last bytes and waits
 *       ({@code HboneClientConfig.linger}, 3 s by default) for the peer's FIN, so late frames
 *       from it are not answered with a RST;
 *   <li>{@link #TLS}: SslHandler from the source identity's current material (no SNI);
 *   <li>{@code FlushBeforeClose}: close() flushes through TLS first;
 *   <li>{@link #HANDSHAKE}: checks the session and the server's SPIFFE id against the key's
 *       expected set, then replaces itself by the four below;
 *   <li>{@link #H2}: Http2FrameCodec with the HBONE settings ({@code HboneCodec});
 *   <li>{@code HboneCodec.SEND_FRAME_LIMIT}: caps the DATA frames we send, on the peer's SETTINGS;
 *   <li>{@link #MUX}: Http2MultiplexHandler (streams are opened by the client only);
 *   <li>{@link #CONNECTION}: SETTINGS (the server's stream limit), PING keepalive, GOAWAY.
 * </ol>
 * Each stream pipeline holds a {@code ResponseHandler} until the 200, then whatever the caller
 * attaches (usually the relay).
 */
final class ClientPipeline {
    static final String TLS = "tls";
    static final String HANDSHAKE = "hbone-handshake";
    static final String H2 = "h2";
    static final String MUX = "h2-mux";
    static final String CONNECTION = "hbone-connection";
    static final String RESPONSE = "hbone-response";

    private ClientPipeline() {}
}
