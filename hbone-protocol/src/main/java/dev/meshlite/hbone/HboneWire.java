package dev.meshlite.hbone;

import io.netty.handler.codec.http2.Http2Settings;

/**
 * HBONE wire constants (DESIGN §4), shared by client and server so both ends advertise the same.
 */
public final class HboneWire {

    /** The inbound HBONE port of every pod. */
    public static final int PORT = 15008;
    /** Per-stream flow-control window: large enough for one stream to fill a fast link. */
    public static final int STREAM_WINDOW = 4 << 20;
    /** Connection window: several busy streams share one connection without starving. */
    public static final int CONNECTION_WINDOW = 16 << 20;
    public static final int MAX_FRAME_SIZE = 1 << 20;
    /** Go: 100, Hyper: 200, Envoy: 2147483647; Istio's ztunnel uses 100 and so do we. */
    public static final int MAX_CONCURRENT_STREAMS = 100;
    /** CONNECT requests are small; anything bigger is an attack or a bug. */
    public static final int MAX_HEADER_LIST_SIZE = 16 << 10;

    private HboneWire() {}

    /** The SETTINGS both sides send. {@code server} also limits concurrent streams. */
    public static Http2Settings settings(boolean server) {
        Http2Settings s = new Http2Settings()
                .initialWindowSize(STREAM_WINDOW)
                .maxFrameSize(MAX_FRAME_SIZE)
                .maxHeaderListSize(MAX_HEADER_LIST_SIZE);
        if (server) {
            s.maxConcurrentStreams(MAX_CONCURRENT_STREAMS);
        } else {
            s.pushEnabled(false);
            // The server never opens streams towards a client.
            s.maxConcurrentStreams(0);
        }
        return s;
    }
}
