package dev.meshlite.ztunnel.xds;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.meshlite.istiod.xds.client.ResourceHandler;
import dev.meshlite.ztunnel.state.Authorization;
import dev.meshlite.ztunnel.state.ProxyState;
import dev.meshlite.ztunnel.state.Service;
import dev.meshlite.ztunnel.state.Workload;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * Applies pushed resources to the proxy's state: a whole response is converted first and only
 * then published as a new snapshot, so a response with one bad resource changes nothing (the
 * client NACKs it) and connections never see half an update.
 */
public final class StateUpdater implements ResourceHandler {

    public static final List<String> TYPES = List.of(Resources.WORKLOAD, Resources.SERVICE, Resources.AUTHORIZATION);

    private final AtomicReference<ProxyState> state;
    private final Consumer<ProxyState> onChange;

    public StateUpdater(AtomicReference<ProxyState> state, Consumer<ProxyState> onChange) {
        this.state = state;
        this.onChange = onChange;
    }

    @Override
    public void apply(String typeUrl, Map<String, Any> upserts, Set<String> removed) throws InvalidProtocolBufferException {
        ProxyState next;
        if (typeUrl.equals(Resources.WORKLOAD)) {
            Map<String, Workload> in = new HashMap<>();
            for (Map.Entry<String, Any> e : upserts.entrySet()) {
                Workload w = Resources.workload(e.getValue().unpack(dev.meshlite.istiod.api.workload.v1.Workload.class));
                in.put(w.uid(), w);
            }
            next = state.get().withWorkloads(in, removed);
        } else if (typeUrl.equals(Resources.SERVICE)) {
            Map<String, Service> in = new HashMap<>();
            for (Map.Entry<String, Any> e : upserts.entrySet()) {
                Service s = Resources.service(e.getValue().unpack(dev.meshlite.istiod.api.workload.v1.Service.class));
                in.put(s.key(), s);
            }
            next = state.get().withServices(in, removed);
        } else if (typeUrl.equals(Resources.AUTHORIZATION)) {
            Map<String, Authorization> in = new HashMap<>();
            for (Map.Entry<String, Any> e : upserts.entrySet()) {
                Authorization a = Resources.authorization(
                        e.getValue().unpack(dev.meshlite.istiod.api.workload.v1.Authorization.class));
                in.put(a.key(), a);
            }
            next = state.get().withPolicies(in, removed);
        } else {
            throw new IllegalArgumentException("type " + typeUrl + " (expected one of " + TYPES + ")");
        }
        state.set(next);
        onChange.accept(next);
    }
}
