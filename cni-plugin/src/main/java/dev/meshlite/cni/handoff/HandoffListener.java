package dev.meshlite.cni.handoff;

import java.util.Set;

/**
 * What ztunnel implements to receive pods from the node agent. Called on the handoff client's own
 * thread, one message at a time, in the agent's order. Throwing refuses the message: the
 * exception's message travels back to the agent as the ack's error, and the connection goes on.
 */
public interface HandoffListener {

    /**
     * A pod to serve, or a refresh of one already held (same uid: replace). Takes ownership of
     * {@code netns}: close it when done with the pod. If this throws, the client closes it
     * ({@link NetnsFd#close()} is idempotent, so closing it here as well is harmless).
     */
    void add(PodInfo pod, NetnsFd netns) throws Exception;

    /**
     * The agent has sent every pod it holds on this connection: drop whatever is held and not in
     * {@code uidsInSnapshot} (the uids of every add received since the connection opened, refused
     * ones included, minus those removed since).
     */
    void snapshotDone(Set<String> uidsInSnapshot) throws Exception;

    /** The pod left the mesh (or is gone). Removing an unknown uid is not an error. */
    void remove(String uid) throws Exception;

    /** The connection to the agent came up (true) or went away (false). */
    default void connected(boolean up) {
    }
}
