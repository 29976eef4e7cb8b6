package dev.meshlite.hbone.server;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * Parses a CONNECT {@code :authority}. HBONE authorities are always a literal IP and a port
 * ({@code 10.0.0.1:8080}, {@code [fd00::1]:8080}); host names are refused so that no DNS lookup can
 * ever happen on an event loop and no name can be used to smuggle a different target.
 */
final class Authority {

    private Authority() {}

    /** The address, or {@code null} if {@code authority} is not {@code ip:port}. */
    static InetSocketAddress parse(CharSequence authority) {
        if (authority == null || authority.length() == 0 || authority.length() > 64) {
            return null;
        }
        String s = authority.toString();
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1) {
            return null;
        }
        String host = s.substring(0, colon);
        String port = s.substring(colon + 1);
        if (host.startsWith("[")) {
            if (!host.endsWith("]")) {
                return null;
            }
            host = host.substring(1, host.length() - 1);
            if (!NetUtil.isValidIpV6Address(host)) {
                return null;
            }
        } else if (!NetUtil.isValidIpV4Address(host)) {
            return null;
        }
        int p = 0;
        for (int i = 0; i < port.length(); i++) {
            char c = port.charAt(i);
            if (c < '0' || c > '9' || i >= 5) {
                return null;
            }
            p = p * 10 + (c - '0');
        }
        if (p < 1 || p > 65535) {
            return null;
        }
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(host);
        if (bytes == null) {
            return null;
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(bytes), p);
        } catch (java.net.UnknownHostException e) {
            return null; // unreachable for a 4- or 16-byte array
        }
    }
}
