package dev.meshlite.ztunnel.state;

import java.util.Map;

/** Effective peer authentication of a workload, already resolved by the control plane. */
public record PeerAuthentication(Mode mode, Map<Integer, Mode> portModes) {

    public enum Mode {
        /** Plaintext from outside the mesh is accepted (the default). */
        PERMISSIVE,
        /** Only mutual TLS (HBONE) is accepted. */
        STRICT,
        /** Treated like PERMISSIVE by the L4 data plane: HBONE still carries meshed clients. */
        DISABLE
    }

    public static final PeerAuthentication DEFAULT = new PeerAuthentication(Mode.PERMISSIVE, Map.of());

    public PeerAuthentication {
        portModes = Map.copyOf(portModes);
    }

    public Mode modeFor(int port) {
        return portModes.getOrDefault(port, mode);
    }

    /** Whether plaintext from outside the mesh may reach {@code port}. */
    public boolean allowsPlaintext(int port) {
        return modeFor(port) != Mode.STRICT;
    }
}
