package dev.meshlite.cni.agent;

import java.util.Map;

/**
 * Whether a pod's traffic is captured (DESIGN §5): a pod labelled {@code istio.io/dataplane-mode}
 * decides for itself ({@code ambient} in, {@code none} out); otherwise its namespace's label
 * decides. Host-network pods are never captured: their network namespace is the node's.
 */
public final class EnrollmentPolicy {

    public static final String MODE_LABEL = "istio.io/dataplane-mode";

    public record Decision(boolean capture, String reason) {
    }

    private EnrollmentPolicy() {
    }

    public static Decision decide(Map<String, String> namespaceLabels, Map<String, String> podLabels, boolean hostNetwork) {
        if (hostNetwork) {
            return new Decision(false, "host network");
        }
        String podMode = podLabels == null ? null : podLabels.get(MODE_LABEL);
        if ("none".equals(podMode)) {
            return new Decision(false, "pod opted out (" + MODE_LABEL + "=none)");
        }
        if ("ambient".equals(podMode)) {
            return new Decision(true, "pod label " + MODE_LABEL + "=ambient");
        }
        String nsMode = namespaceLabels == null ? null : namespaceLabels.get(MODE_LABEL);
        if ("ambient".equals(nsMode)) {
            return new Decision(true, "namespace label " + MODE_LABEL + "=ambient");
        }
        return new Decision(false, "not ambient");
    }
}
