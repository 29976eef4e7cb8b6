package dev.meshlite.istiod.ca.auth;

/** Answers the one question node authorization asks of the cluster. */
public interface PodDirectory {

    /** Whether a pod that has not terminated runs on {@code node} as {@code serviceAccount}. */
    boolean runsOnNode(String node, ServiceAccountRef serviceAccount);
}
