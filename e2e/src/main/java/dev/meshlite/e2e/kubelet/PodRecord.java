package dev.meshlite.e2e.kubelet;

import java.util.Map;
import java.util.TreeMap;

/**
 * What kubelet-lite must remember about a pod to survive its own restart: the sandbox it made and
 * the processes it started. Kept as one JSON file per pod, written before each step it records.
 */
final class PodRecord {
    public String uid;
    public String namespace;
    public String name;
    public String netns;
    public String containerId;
    public String podIp;
    public String cniResult;
    public String startTime;
    public Map<String, ContainerRecord> containers = new TreeMap<>();

    /** One container's process: pid plus its start instant, so a reused pid is never adopted. */
    static final class ContainerRecord {
        public long pid;
        public long processStartMillis;
        public int restartCount;
        public String startedAt;
        public Integer lastExitCode;
        public String lastFinishedAt;
    }
}
