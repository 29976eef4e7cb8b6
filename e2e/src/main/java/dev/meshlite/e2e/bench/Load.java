package dev.meshlite.e2e.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.meshlite.e2e.cluster.Layout;
import java.util.ArrayList;
import java.util.List;

/** The two loads, both from inside the client pod's network namespace: open-loop HTTP and iperf3. */
final class Load {

    static final int IPERF_PORT = 5201;

    private final String clientNetns;

    Load(String clientNetns) {
        this.clientNetns = clientNetns;
    }

    /** {@link OpenLoopHttp} in its own JVM in the client's namespace. */
    OpenLoopHttp.Result http(String target, int rate, int seconds, int size, int connections) throws Exception {
        List<String> command = new ArrayList<>(List.of(dev.meshlite.e2e.cluster.Components.javaBinary(), "-XX:+UseSerialGC", "-Xmx256m",
                "-cp", Layout.runtimeClasspath(), OpenLoopHttp.class.getName(), target, Integer.toString(rate),
                Integer.toString(seconds), Integer.toString(size), Integer.toString(connections)));
        String out = InNetns.run(clientNetns, command, seconds + 60L);
        String last = out.strip().lines().reduce((a, b) -> b).orElse("");
        return OpenLoopHttp.Result.parse(last);
    }

    /** One connection's throughput for {@code seconds}, in Gbit/s, as the receiver counted it. */
    double iperf(String host, int port, int seconds) throws Exception {
        String json = InNetns.run(clientNetns, List.of("iperf3", "-c", host, "-p", Integer.toString(port), "-t",
                Integer.toString(seconds), "-J"), seconds + 30L);
        JsonNode root = new ObjectMapper().readTree(json);
        JsonNode bps = root.path("end").path("sum_received").path("bits_per_second");
        if (!bps.isNumber()) {
            throw new BenchFailure("iperf3 to " + host + ":" + port + " gave no result: " + root.path("error").asText(json));
        }
        return bps.asDouble() / 1e9;
    }
}
