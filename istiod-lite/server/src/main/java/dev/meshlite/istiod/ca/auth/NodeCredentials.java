package dev.meshlite.istiod.ca.auth;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The local cluster's node credential: what a kubelet's bound token is in a real cluster. When a
 * node is created, a random secret is issued for it and stored in Secret
 * {@code <namespace>/meshlite-node-credential-<node>}; that node's ztunnel presents
 * {@code <node>.<secret>} as its bearer token and is authenticated as the node agent's service
 * account running on that node.
 *
 * <p>Invariant: the token names its node, but only the stored secret proves it: comparison is
 * constant-time, and a node without a Secret has no valid token.
 */
public final class NodeCredentials implements CallerAuthenticator {

    public static final String SECRET_PREFIX = "meshlite-node-credential-";
    public static final String LABEL = "meshlite.dev/node-credential";
    static final String TOKEN_KEY = "token";
    private static final Pattern NODE = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,200}[a-z0-9])?");

    private final KubernetesClient client;
    private final String namespace;
    private final ServiceAccountRef nodeAgent;
    private final SecureRandom random = new SecureRandom();

    /** {@code nodeAgent}: the service account a node's ztunnel is authenticated as. */
    public NodeCredentials(KubernetesClient client, String namespace, ServiceAccountRef nodeAgent) {
        this.client = client;
        this.namespace = namespace;
        this.nodeAgent = nodeAgent;
    }

    /** The node's token, issuing it first if the node has none yet (idempotent). */
    public String issue(String node) {
        requireNode(node);
        Optional<String> existing = stored(node);
        if (existing.isPresent()) {
            return token(node, existing.get());
        }
        byte[] b = new byte[32];
        random.nextBytes(b);
        String secret = Base64.getUrlEncoder().withoutPadding().encodeToString(b);
        Secret s = new SecretBuilder()
                .withNewMetadata().withName(SECRET_PREFIX + node).withNamespace(namespace)
                .addToLabels(LABEL, "true").addToAnnotations("meshlite.dev/node", node).endMetadata()
                .addToData(TOKEN_KEY, Base64.getEncoder().encodeToString(secret.getBytes(StandardCharsets.US_ASCII)))
                .build();
        try {
            client.secrets().inNamespace(namespace).resource(s).create();
            return token(node, secret);
        } catch (KubernetesClientException e) {
            if (e.getCode() == 409) {
                return token(node, stored(node).orElseThrow(() -> e));
            }
            throw e;
        }
    }

    /** Revokes the node's credential (the node was deleted). */
    public void revoke(String node) {
        requireNode(node);
        client.secrets().inNamespace(namespace).withName(SECRET_PREFIX + node).delete();
    }

    @Override
    public Caller authenticate(String bearerToken) throws UnauthenticatedException {
        int dot = bearerToken == null ? -1 : bearerToken.indexOf('.');
        if (dot <= 0) {
            throw new UnauthenticatedException("node credential: malformed (expected: <node>.<secret>)");
        }
        String node = bearerToken.substring(0, dot);
        if (!NODE.matcher(node).matches()) {
            throw new UnauthenticatedException("node credential: malformed node name");
        }
        Optional<String> stored = stored(node);
        byte[] presented = bearerToken.substring(dot + 1).getBytes(StandardCharsets.US_ASCII);
        if (stored.isEmpty()) {
            throw new UnauthenticatedException("node credential: no credential issued for node " + node);
        }
        if (!MessageDigest.isEqual(presented, stored.get().getBytes(StandardCharsets.US_ASCII))) {
            throw new UnauthenticatedException("node credential: wrong secret for node " + node);
        }
        return new Caller(nodeAgent, Optional.of(node));
    }

    private Optional<String> stored(String node) {
        Secret s = client.secrets().inNamespace(namespace).withName(SECRET_PREFIX + node).get();
        if (s == null || s.getData() == null || s.getData().get(TOKEN_KEY) == null) {
            return Optional.empty();
        }
        return Optional.of(new String(Base64.getDecoder().decode(s.getData().get(TOKEN_KEY)), StandardCharsets.US_ASCII));
    }

    private static String token(String node, String secret) {
        return node + "." + secret;
    }

    private static void requireNode(String node) {
        if (node == null || !NODE.matcher(node).matches()) {
            throw new IllegalArgumentException("node: '" + node + "' (expected: a DNS subdomain)");
        }
    }
}
