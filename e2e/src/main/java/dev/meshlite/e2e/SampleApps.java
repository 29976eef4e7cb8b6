package dev.meshlite.e2e;

/**
 * The sample HTTP echo app as the tests and benchmarks deploy it, in one place: the container
 * ({@code sample/http-echo} on named port {@code http}, 8080, ready once {@code /healthz} answers),
 * a Deployment or a single Pod of it, and the Service in front (port 80 → {@code http}). Each
 * method returns YAML documents to join with {@code ---}.
 */
public final class SampleApps {

    private static final String CONTAINER = """
            containers:
            - name: http-echo
              image: sample/http-echo
              ports: [{name: http, containerPort: 8080}]
              readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
            """;

    private SampleApps() {
    }

    /** {@code replicas} echo pods labelled {@code app: name}, and no Service. */
    public static String httpEchoDeployment(String namespace, String name, int replicas) {
        return """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: %1$s, namespace: %2$s}
                spec:
                  replicas: %3$d
                  selector: {matchLabels: {app: %1$s}}
                  template:
                    metadata: {labels: {app: %1$s}}
                    spec:
                """.formatted(name, namespace, replicas) + CONTAINER.indent(6);
    }

    /** One echo pod labelled {@code app: name} on {@code node}. */
    public static String httpEchoPod(String namespace, String name, String node) {
        return """
                apiVersion: v1
                kind: Pod
                metadata: {name: %1$s, namespace: %2$s, labels: {app: %1$s}}
                spec:
                  nodeSelector: {kubernetes.io/hostname: %3$s}
                """.formatted(name, namespace, node) + CONTAINER.indent(2);
    }

    /** The Service {@code name}: port 80 to the {@code http} port of the pods labelled {@code app: name}. */
    public static String httpService(String namespace, String name) {
        return """
                apiVersion: v1
                kind: Service
                metadata: {name: %1$s, namespace: %2$s}
                spec:
                  selector: {app: %1$s}
                  ports: [{name: http, port: 80, targetPort: http}]
                """.formatted(name, namespace);
    }

    /** A Deployment and its Service. */
    public static String httpEcho(String namespace, String name, int replicas) {
        return httpEchoDeployment(namespace, name, replicas) + "---\n" + httpService(namespace, name);
    }
}
