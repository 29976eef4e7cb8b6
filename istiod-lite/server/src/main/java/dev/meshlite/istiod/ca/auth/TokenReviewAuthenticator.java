package dev.meshlite.istiod.ca.auth;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * In a cluster: the caller's service-account token, checked by the API server (TokenReview).
 *
 * <p>The node comes from the bound token itself: the {@code authentication.kubernetes.io/node-name}
 * extra (Kubernetes 1.30+), else the node of the pod named in {@code .../pod-name} (with the pod's
 * uid checked, so a token of a deleted pod does not vouch for a new pod of the same name).
 */
public final class TokenReviewAuthenticator implements CallerAuthenticator {

    static final String SA_PREFIX = "system:serviceaccount:";
    static final String NODE_NAME = "authentication.kubernetes.io/node-name";
    static final String POD_NAME = "authentication.kubernetes.io/pod-name";
    static final String POD_UID = "authentication.kubernetes.io/pod-uid";

    private final KubernetesClient client;
    private final List<String> audiences;

    /** {@code audiences} empty means the API server's default audience. */
    public TokenReviewAuthenticator(KubernetesClient client, List<String> audiences) {
        this.client = client;
        this.audiences = List.copyOf(audiences);
    }

    @Override
    public Caller authenticate(String bearerToken) throws UnauthenticatedException {
        TokenReview review = new TokenReviewBuilder()
                .withNewSpec().withToken(bearerToken).withAudiences(audiences).endSpec()
                .build();
        TokenReview result = client.authentication().v1().tokenReviews().create(review);
        if (result == null || result.getStatus() == null || !Boolean.TRUE.equals(result.getStatus().getAuthenticated())) {
            String error = result == null || result.getStatus() == null ? null : result.getStatus().getError();
            throw new UnauthenticatedException("token review: not authenticated"
                    + (error == null || error.isEmpty() ? "" : ": " + error));
        }
        UserInfo user = result.getStatus().getUser();
        String username = user == null ? null : user.getUsername();
        if (username == null || !username.startsWith(SA_PREFIX)) {
            throw new UnauthenticatedException("token review: user '" + username
                    + "' is not a service account (expected: " + SA_PREFIX + "<ns>:<name>)");
        }
        String[] parts = username.substring(SA_PREFIX.length()).split(":", -1);
        if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty()) {
            throw new UnauthenticatedException("token review: malformed service account user '" + username + "'");
        }
        ServiceAccountRef sa = new ServiceAccountRef(parts[0], parts[1]);
        return new Caller(sa, node(sa, user.getExtra()));
    }

    private Optional<String> node(ServiceAccountRef sa, Map<String, List<String>> extra) {
        if (extra == null) {
            return Optional.empty();
        }
        Optional<String> node = single(extra, NODE_NAME);
        if (node.isPresent()) {
            return node;
        }
        Optional<String> podName = single(extra, POD_NAME);
        if (podName.isEmpty()) {
            return Optional.empty();
        }
        Pod pod = client.pods().inNamespace(sa.namespace()).withName(podName.get()).get();
        if (pod == null || pod.getSpec() == null) {
            return Optional.empty();
        }
        Optional<String> uid = single(extra, POD_UID);
        if (uid.isPresent() && !uid.get().equals(pod.getMetadata().getUid())) {
            return Optional.empty();
        }
        return Optional.ofNullable(pod.getSpec().getNodeName());
    }

    private static Optional<String> single(Map<String, List<String>> extra, String key) {
        List<String> v = extra.get(key);
        return v == null || v.size() != 1 || v.getFirst().isEmpty() ? Optional.empty() : Optional.of(v.getFirst());
    }
}
