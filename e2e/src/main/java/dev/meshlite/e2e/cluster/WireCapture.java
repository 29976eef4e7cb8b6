package dev.meshlite.e2e.cluster;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What crosses the underlay between nodes: tcpdump on {@code mesh0} for pod-to-pod TCP, payloads
 * kept as text, so a test or the demo can show that application bytes never cross in clear and
 * that every pod packet is HBONE (to or from port 15008).
 */
public final class WireCapture implements AutoCloseable {

    private static final Pattern HEADER =
            Pattern.compile("IP (\\d+\\.\\d+\\.\\d+\\.\\d+)\\.(\\d+) > (\\d+\\.\\d+\\.\\d+\\.\\d+)\\.(\\d+):");

    private final Process process;
    private final Path file;

    private WireCapture(Process process, Path file) {
        this.process = process;
        this.file = file;
    }

    /** Starts capturing pod traffic on the bridge; returns once tcpdump's capture is open. */
    public static WireCapture start() throws IOException {
        Path file = Files.createTempFile("mesh0-", ".txt");
        // --immediate-mode: each packet is handed over as it arrives, not in buffered blocks that
        // a stop could cut off before they are written.
        Process p = new ProcessBuilder("tcpdump", "-i", Layout.BRIDGE, "--immediate-mode", "-nn", "-l", "-A", "-s", "0",
                "tcp and net 10.244.0.0/16").redirectOutput(file.toFile()).start();
        BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
        // tcpdump says "listening on mesh0" once its capture is open (after a verbosity note).
        StringBuilder said = new StringBuilder();
        String line;
        while ((line = err.readLine()) != null && !line.contains("listening on")) {
            said.append(line).append('\n');
        }
        if (line == null) {
            p.destroyForcibly();
            Files.deleteIfExists(file);
            throw new IOException("tcpdump did not start: " + said.toString().strip());
        }
        Thread.ofVirtual().start(() -> {
            try {
                err.lines().forEach(l -> { });
            } catch (java.io.UncheckedIOException closedAtExit) {
                // tcpdump's stderr closes when it stops: nothing more to drain
            }
        });
        return new WireCapture(p, file);
    }

    /** Stops the capture and returns what it saw. */
    public Seen stop() throws IOException, InterruptedException {
        process.destroy();
        process.waitFor();
        List<String> lines = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
        List<Packet> packets = new ArrayList<>();
        for (String l : lines) {
            Matcher m = HEADER.matcher(l);
            if (m.find()) {
                // "Flags [S]," is a connection's first packet (a SYN without ACK)
                packets.add(new Packet(m.group(1), Integer.parseInt(m.group(2)), m.group(3), Integer.parseInt(m.group(4)),
                        l.contains("Flags [S],")));
            }
        }
        return new Seen(String.join("\n", lines), packets);
    }

    @Override
    public void close() throws IOException {
        process.destroyForcibly();
        Files.deleteIfExists(file);
    }

    public record Packet(String source, int sourcePort, String destination, int destinationPort, boolean opens) {
        public boolean hbone() {
            return sourcePort == 15008 || destinationPort == 15008;
        }

        /** The connection, the same in both directions. */
        String flow() {
            String a = source + ":" + sourcePort;
            String b = destination + ":" + destinationPort;
            return a.compareTo(b) < 0 ? a + " " + b : b + " " + a;
        }

        @Override
        public String toString() {
            return source + ":" + sourcePort + " > " + destination + ":" + destinationPort;
        }
    }

    /** The capture: every line as text (payloads included) and the TCP packets' endpoints. */
    public record Seen(String text, List<Packet> packets) {
        public boolean contains(String marker) {
            return text.contains(marker);
        }

        public List<Packet> notHbone() {
            return packets.stream().filter(p -> !p.hbone()).toList();
        }

        /**
         * The packets of connections opened during the capture that are not HBONE. A connection
         * opened before pods were captured keeps its path (conntrack; as in Istio, enrollment
         * moves new connections), so only connections that begin in the capture say where new
         * traffic goes.
         */
        public List<Packet> openedNotHbone() {
            java.util.Set<String> opened = new java.util.HashSet<>();
            for (Packet p : packets) {
                if (p.opens()) {
                    opened.add(p.flow());
                }
            }
            return packets.stream().filter(p -> !p.hbone() && opened.contains(p.flow())).toList();
        }
    }
}
