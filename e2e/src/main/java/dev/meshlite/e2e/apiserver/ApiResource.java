package dev.meshlite.e2e.apiserver;

import java.util.List;

/** One REST resource the local API server serves, as discovery describes it. */
public record ApiResource(String group, String version, String plural, String singular, String kind,
                          boolean namespaced, List<String> shortNames) {

    public String groupVersion() {
        return group.isEmpty() ? version : group + "/" + version;
    }

    /** The collection path: {@code /api/v1/namespaces/ns/pods} or {@code /apis/apps/v1/deployments}. */
    public String collectionPath(String namespace) {
        String root = group.isEmpty() ? "/api/" + version : "/apis/" + group + "/" + version;
        return namespaced && namespace != null
                ? root + "/namespaces/" + namespace + "/" + plural
                : root + "/" + plural;
    }
}
