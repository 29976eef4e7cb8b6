package dev.meshlite.hbone.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Headers;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * A deliberately dumb HTTP/2 client over a blocking JDK TLS socket: it writes whatever frames (or
 * bytes) a test asks for and reads raw frames back. Independent of our Netty stack, so the server
 * is judged by bytes on the wire. It trusts any server certificate: the server is what is tested.
 */
public final class RawH2Connection implements AutoCloseable {

    public static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    public static final int DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, PING = 6, GOAWAY = 7,
            WINDOW_UPDATE = 8, CONTINUATION = 9;
    public static final int END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4;

    private final SSLSocket socket;
    private final DataInputStream in;
    private final OutputStream out;
    private final DefaultHttp2HeadersDecoder decoder = new DefaultHttp2HeadersDecoder(false);
    private final DefaultHttp2HeadersEncoder encoder = new DefaultHttp2HeadersEncoder();
    private boolean settingsAckDue;

    /** One frame as read off the wire. */
    public record Frame(int type, int flags, int streamId, byte[] payload) {
        public int errorCode() { // RST_STREAM: payload[0..4]; GOAWAY: payload[4..8]
            int off = type == GOAWAY ? 4 : 0;
            return ((payload[off] & 0xff) << 24) | ((payload[off + 1] & 0xff) << 16)
                    | ((payload[off + 2] & 0xff) << 8) | (payload[off + 3] & 0xff);
        }
    }

    private RawH2Connection(SSLSocket socket) throws IOException {
        this.socket = socket;
        this.in = new DataInputStream(socket.getInputStream());
        this.out = socket.getOutputStream();
    }

    /** TLS 1.3 + ALPN h2 to {@code address}, presenting {@code cert}/{@code key} unless null. */
    public static RawH2Connection connect(InetSocketAddress address, X509Certificate cert, PrivateKey key)
            throws Exception {
        KeyManagerFactory kmf = null;
        if (cert != null) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("me", key, new char[0], new X509Certificate[] {cert});
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, new char[0]);
        }
        SSLContext ctx = SSLContext.getInstance("TLSv1.3");
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), new TrustManager[] {new TrustAll()}, new SecureRandom());
        SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(address.getAddress(), address.getPort());
        SSLParameters p = s.getSSLParameters();
        p.setProtocols(new String[] {"TLSv1.3"});
        p.setApplicationProtocols(new String[] {"h2"});
        s.setSSLParameters(p);
        s.setSoTimeout(20_000);
        s.startHandshake();
        return new RawH2Connection(s);
    }

    public String applicationProtocol() {
        return socket.getApplicationProtocol();
    }

    /** Client preface plus an empty SETTINGS. */
    public RawH2Connection preface() throws IOException {
        out.write(PREFACE);
        frame(SETTINGS, 0, 0, new byte[0]);
        return this;
    }

    public RawH2Connection frame(int type, int flags, int streamId, byte[] payload) throws IOException {
        return raw(header(payload.length, type, flags, streamId), payload);
    }

    public static byte[] header(int length, int type, int flags, int streamId) {
        return new byte[] {(byte) (length >>> 16), (byte) (length >>> 8), (byte) length, (byte) type,
                (byte) flags, (byte) (streamId >>> 24), (byte) (streamId >>> 16), (byte) (streamId >>> 8),
                (byte) streamId};
    }

    public RawH2Connection raw(byte[]... parts) throws IOException {
        if (settingsAckDue) {
            settingsAckDue = false;
            out.write(header(0, SETTINGS, ACK, 0));
        }
        for (byte[] p : parts) {
            out.write(p);
        }
        out.flush();
        return this;
    }

    public RawH2Connection headers(int streamId, Http2Headers headers, boolean endStream) throws IOException {
        return frame(HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), streamId, hpack(headers));
    }

    public byte[] hpack(Http2Headers headers) {
        ByteBuf buf = Unpooled.buffer();
        try {
            encoder.encodeHeaders(0, headers, buf);
            byte[] bytes = new byte[buf.readableBytes()];
            buf.readBytes(bytes);
            return bytes;
        } catch (Http2Exception e) {
            throw new IllegalStateException(e);
        } finally {
            buf.release();
        }
    }

    /**
     * The next frame, or null at EOF / connection reset. SETTINGS are acknowledged automatically,
     * ahead of the next frame this side writes: never from a read, where the peer may already
     * have closed after its GOAWAY (a write then fails with a broken pipe and the TLS socket
     * closes, losing the frames still to be read).
     */
    public Frame read() throws IOException {
        byte[] h = new byte[9];
        try {
            in.readFully(h);
        } catch (EOFException | javax.net.ssl.SSLException e) {
            return null;
        } catch (java.net.SocketException e) {
            return null;
        }
        int len = ((h[0] & 0xff) << 16) | ((h[1] & 0xff) << 8) | (h[2] & 0xff);
        int streamId = ((h[5] & 0x7f) << 24) | ((h[6] & 0xff) << 16) | ((h[7] & 0xff) << 8) | (h[8] & 0xff);
        byte[] payload = new byte[len];
        in.readFully(payload);
        Frame f = new Frame(h[3] & 0xff, h[4] & 0xff, streamId, payload);
        if (f.type() == SETTINGS && (f.flags() & ACK) == 0) {
            settingsAckDue = true;
        }
        return f;
    }

    /** Decodes a HEADERS frame's block (must be read in order: HPACK is stateful). */
    public Http2Headers decode(Frame f) throws Http2Exception {
        ByteBuf buf = Unpooled.wrappedBuffer(f.payload());
        try {
            return decoder.decodeHeaders(f.streamId(), buf);
        } finally {
            buf.release();
        }
    }

    /** Reads until a HEADERS frame for {@code streamId}; returns its :status, or -1 if none came. */
    public int awaitStatus(int streamId) throws IOException, Http2Exception {
        for (Frame f; (f = read()) != null; ) {
            if (f.type() == HEADERS) {
                Http2Headers h = decode(f);
                if (f.streamId() == streamId) {
                    return Integer.parseInt(h.status().toString());
                }
            }
            if (f.type() == GOAWAY) {
                return -1;
            }
        }
        return -1;
    }

    /** Reads until GOAWAY (its error code), RST_STREAM on {@code streamId} (its code + 1000), or EOF (-1). */
    public int awaitGoAwayOrReset(int streamId) throws IOException, Http2Exception {
        try {
            for (Frame f; (f = read()) != null; ) {
                if (f.type() == HEADERS) {
                    decode(f);
                } else if (f.type() == GOAWAY) {
                    return f.errorCode();
                } else if (f.type() == RST_STREAM && f.streamId() == streamId) {
                    return 1000 + f.errorCode();
                }
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("neither GOAWAY, RST_STREAM nor close within the socket timeout", e);
        }
        return -1;
    }

    /** Reads until EOF; true if the server closed the connection. */
    public boolean awaitClose() throws IOException {
        try {
            while (read() != null) {
                // drain
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        }
    }

    public static byte[] bytes(Object... parts) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (Object o : parts) {
            b.writeBytes((byte[]) o);
        }
        return b.toByteArray();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }

    private static final class TrustAll implements X509TrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
