package dev.meshlite.cni.agent;

import dev.meshlite.cni.rules.CaptureConfig;
import java.util.Arrays;
import java.util.List;

/**
 * The in-pod capture rules on their own, for pods whose proxy runs inside them (ztunnel's
 * dedicated mode, the sidecar shape): what an init container does there, with the same rules the
 * node agent installs (DESIGN §5), so both shapes are measured on identical capture.
 *
 * <pre>java ... CaptureCli apply|remove [--nftables] NETNS_PATH...</pre>
 * Idempotent in both directions, like the agent's. Exits 1 on the first namespace that fails,
 * naming it; 2 on a usage error.
 */
public final class CaptureCli {

    private CaptureCli() {
    }

    public static void main(String[] args) {
        if (args.length < 2 || !(args[0].equals("apply") || args[0].equals("remove"))) {
            System.err.println("usage: CaptureCli apply|remove [--nftables] NETNS_PATH...");
            System.exit(2);
        }
        List<String> rest = Arrays.asList(args).subList(1, args.length);
        boolean nft = rest.getFirst().equals("--nftables");
        Capture capture = new Capture(CaptureConfig.defaults(), nft ? Capture.Backend.NFTABLES : Capture.Backend.IPTABLES);
        for (String netns : nft ? rest.subList(1, rest.size()) : rest) {
            try {
                if (args[0].equals("apply")) {
                    capture.apply(netns);
                } else {
                    capture.remove(netns);
                }
            } catch (RuntimeException e) {
                System.err.println("capture " + args[0] + " in " + netns + " failed: " + e.getMessage());
                System.exit(1);
            }
        }
    }
}
