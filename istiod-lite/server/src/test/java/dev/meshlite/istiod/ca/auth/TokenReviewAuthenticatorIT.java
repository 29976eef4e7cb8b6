package dev.meshlite.istiod.ca.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** TokenReview against the API server mock in expectation mode (it plays the API server's verdict). */
class TokenReviewAuthenticatorIT {

    static final String REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews";
    static final ServiceAccountRef ZTUNNEL = new ServiceAccountRef("istio-system", "ztunnel");

    KubernetesMockServer server;
    KubernetesClient client;
    TokenReviewAuthenticator authenticator;

    @BeforeEach
    void start() {
        server = new KubernetesMockServer(false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        client = server.createClient();
        authenticator = new TokenReviewAuthenticator(client, List.of("istio-ca"));
    }

    @AfterEach
    void stop() {
        client.close();
        server.destroy();
    }

    static TokenReview verdict(boolean ok, String user, Map<String, List<String>> extra, String error) {
        return new TokenReviewBuilder().withNewStatus().withAuthenticated(ok).withError(error)
                .withNewUser().withUsername(user).withExtra(extra).endUser().endStatus().build();
    }

    @Test
    void aBoundTokenNamesItsServiceAccountAndNode() throws Exception {
        server.expect().post().withPath(REVIEWS).andReturn(201, verdict(true, "system:serviceaccount:istio-system:ztunnel",
                Map.of(TokenReviewAuthenticator.NODE_NAME, List.of("node-a")), null)).once();
        assertEquals(new Caller(ZTUNNEL, Optional.of("node-a")), authenticator.authenticate("tok"));
    }

    @Test
    void withoutTheNodeClaimTheNodeComesFromThePodTheTokenIsBoundTo() throws Exception {
        server.expect().get().withPath("/api/v1/namespaces/istio-system/pods/ztunnel-x").andReturn(200, new PodBuilder()
                .withNewMetadata().withName("ztunnel-x").withNamespace("istio-system").withUid("uid-1").endMetadata()
                .withNewSpec().withNodeName("node-b").endSpec().build()).always();
        server.expect().post().withPath(REVIEWS).andReturn(201, verdict(true, "system:serviceaccount:istio-system:ztunnel",
                Map.of(TokenReviewAuthenticator.POD_NAME, List.of("ztunnel-x"),
                        TokenReviewAuthenticator.POD_UID, List.of("uid-1")), null)).once();
        assertEquals(new Caller(ZTUNNEL, Optional.of("node-b")), authenticator.authenticate("tok"));

        // A token of an earlier pod with the same name (other uid) vouches for no node.
        server.expect().post().withPath(REVIEWS).andReturn(201, verdict(true, "system:serviceaccount:istio-system:ztunnel",
                Map.of(TokenReviewAuthenticator.POD_NAME, List.of("ztunnel-x"),
                        TokenReviewAuthenticator.POD_UID, List.of("uid-0")), null)).once();
        assertEquals(new Caller(ZTUNNEL, Optional.empty()), authenticator.authenticate("tok"));
    }

    @Test
    void aRejectedTokenIsUnauthenticatedWithTheApiServersReason() {
        server.expect().post().withPath(REVIEWS).andReturn(201, verdict(false, null, null, "token has expired")).once();
        var e = assertThrows(UnauthenticatedException.class, () -> authenticator.authenticate("tok"));
        assertTrue(e.getMessage().contains("token has expired"), e.getMessage());
    }

    @Test
    void aUserThatIsNoServiceAccountIsUnauthenticated() {
        server.expect().post().withPath(REVIEWS).andReturn(201, verdict(true, "alice", null, null)).once();
        var e = assertThrows(UnauthenticatedException.class, () -> authenticator.authenticate("tok"));
        assertTrue(e.getMessage().contains("not a service account"), e.getMessage());
    }
}
