package dev.meshlite.istiod.xds.client;

import com.google.protobuf.Any;
import java.util.Map;
import java.util.Set;

/** What a proxy does with the resources the control plane pushes. */
@FunctionalInterface
public interface ResourceHandler {

    /**
     * One accepted response for {@code typeUrl}: validate everything first, then apply atomically;
     * throw (any exception; its message becomes the NACK's error_detail) to reject it, and then
     * nothing must have been applied. Called on the client's own thread, never concurrently.
     *
     * <p>{@code upserts} are whole resources by name (each {@link Any} already checked to be of
     * {@code typeUrl}); {@code removed} are names the proxy should drop (a name it does not hold
     * is not an error). Either may be empty: the first response of a subscription is sent even
     * when the control plane has nothing of that type, so the proxy knows it is in sync.
     */
    void apply(String typeUrl, Map<String, Any> upserts, Set<String> removed) throws Exception;
}
