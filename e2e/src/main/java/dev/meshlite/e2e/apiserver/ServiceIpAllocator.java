package dev.meshlite.e2e.apiserver;

import java.util.BitSet;

/** Hands out ClusterIPs from the service CIDR, as the API server's allocator does on create. */
final class ServiceIpAllocator {

    private final int base;
    private final int size;
    private final BitSet used;
    private int next;

    /** @param cidr an IPv4 CIDR such as {@code 10.96.0.0/16}; the first ten addresses are kept back */
    ServiceIpAllocator(String cidr) {
        String[] parts = cidr.split("/");
        int prefix = Integer.parseInt(parts[1]);
        if (prefix < 8 || prefix > 28) {
            throw new IllegalArgumentException("service CIDR " + cidr + " (expected: a prefix between /8 and /28)");
        }
        this.base = toInt(parts[0]) & (-1 << (32 - prefix));
        this.size = 1 << (32 - prefix);
        this.used = new BitSet(size);
        this.next = 10;
    }

    synchronized String allocate() {
        for (int i = 0; i < size; i++) {
            int offset = 10 + (next - 10 + i) % (size - 11);
            if (!used.get(offset)) {
                used.set(offset);
                next = offset + 1;
                return toString(base + offset);
            }
        }
        throw new IllegalStateException("the service CIDR is exhausted");
    }

    synchronized String reserve(String ip) {
        int offset = toInt(ip) - base;
        if (offset <= 0 || offset >= size - 1) {
            throw new IllegalArgumentException(ip + " is not in the service CIDR " + toString(base) + "/" + (32 - Integer.numberOfTrailingZeros(size)));
        }
        if (used.get(offset)) {
            throw new IllegalArgumentException(ip + " is already allocated");
        }
        used.set(offset);
        return ip;
    }

    synchronized void release(String ip) {
        int offset = toInt(ip) - base;
        if (offset > 0 && offset < size) {
            used.clear(offset);
        }
    }

    static int toInt(String ip) {
        String[] o = ip.split("\\.");
        if (o.length != 4) {
            throw new IllegalArgumentException(ip + " (expected: an IPv4 address)");
        }
        int v = 0;
        for (String s : o) {
            int b = Integer.parseInt(s);
            if (b < 0 || b > 255) {
                throw new IllegalArgumentException(ip + " (expected: an IPv4 address)");
            }
            v = (v << 8) | b;
        }
        return v;
    }

    static String toString(int ip) {
        return ((ip >>> 24) & 255) + "." + ((ip >>> 16) & 255) + "." + ((ip >>> 8) & 255) + "." + (ip & 255);
    }
}
