package dev.meshlite.hbone.server;

import dev.meshlite.hbone.tls.SpiffeId;
import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.security.cert.X509Certificate;

/**
 * A well-formed CONNECT as the authorizer sees it: who asks (the verified client identity and its
 * leaf certificate), for what ({@code authority}, a literal IP and port), from where, with which
 * headers ({@code forwarded}, {@code traceparent}, {@code baggage} if the client sent them), and
 * where it arrived ({@code localAddress}: a proxy serving several pods tells them apart by it).
 */
public record ConnectRequest(SpiffeId peer, X509Certificate peerCertificate, InetSocketAddress authority,
                             SocketAddress remoteAddress, Http2Headers headers, SocketAddress localAddress) {}
