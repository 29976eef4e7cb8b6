package dev.meshlite.ztunnel.proxy;

import dev.meshlite.ztunnel.socket.Netns;
import java.net.InetAddress;
import java.util.Optional;

/** The pods this proxy serves, by IP: whose namespace a socket for that IP must be created in. */
public interface PodDirectory {

    Optional<ServedPod> byIp(InetAddress ip);

    /** A pod served here: its identity facts and its network namespace. */
    interface ServedPod {
        dev.meshlite.cni.handoff.PodInfo info();

        dev.meshlite.hbone.tls.SpiffeId identity();

        Netns netns();

        InetAddress ip();

        /** The pod as the state describes it, else what the node agent told us (no policies). */
        dev.meshlite.ztunnel.state.Workload workload(dev.meshlite.ztunnel.state.ProxyState state);
    }
}
