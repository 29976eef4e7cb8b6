package dev.meshlite.hbone.transport;

/**
 * Process-wide Netty settings for the proxies (the {@code hbone} tool, ztunnel), set before any
 * Netty class loads; a {@code -D} on the command line still wins.
 *
 * <ul>
 *   <li>No leak sampling: Netty's default samples one buffer in 128 and records a stack trace for
 *       it, hundreds of traces a second on a relay's loop at a few Gbit/s. Tests run with paranoid
 *       detection instead (the build's {@code test.argLine}).</li>
 *   <li>The pooled allocator's normal mode under a small heap: below 512 MiB of {@code -Xmx} Netty
 *       switches to a low-memory mode (no per-thread magazines, smaller chunks), which at
 *       {@code -Xmx64m} more than doubled the CPU per relayed byte in the HBONE benchmark
 *       (4.2-4.6 against 1.5-1.6 CPU-s per GB). The relay's buffers are direct memory, not heap.</li>
 * </ul>
 */
public final class NettyDefaults {

    private NettyDefaults() {}

    /** Call first thing in {@code main}. */
    public static void forProxy() {
        setIfAbsent("io.netty.leakDetection.level", "disabled");
        setIfAbsent("io.netty.allocator.lowMemory", "false");
        setIfAbsent("io.netty.jfr.enabled", "false");
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
