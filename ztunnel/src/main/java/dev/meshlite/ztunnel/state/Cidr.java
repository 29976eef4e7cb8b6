package dev.meshlite.ztunnel.state;

import java.net.InetAddress;
import java.util.Objects;

/** An address block; {@link #contains} compares the first {@code length} bits. */
public record Cidr(InetAddress address, int length) {

    public Cidr {
        Objects.requireNonNull(address, "address");
        int max = address.getAddress().length * 8;
        if (length < 0 || length > max) {
            throw new IllegalArgumentException("prefix length " + length + " for " + address.getHostAddress()
                    + " (expected: 0-" + max + ")");
        }
    }

    public boolean contains(InetAddress ip) {
        byte[] a = address.getAddress();
        byte[] b = ip.getAddress();
        if (a.length != b.length) {
            return false;
        }
        int full = length / 8;
        for (int i = 0; i < full; i++) {
            if (a[i] != b[i]) {
                return false;
            }
        }
        int rest = length % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xff << (8 - rest)) & 0xff;
        return (a[full] & mask) == (b[full] & mask);
    }

    @Override
    public String toString() {
        return address.getHostAddress() + "/" + length;
    }
}
