package dev.meshlite.istiod.xds;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Message;
import dev.meshlite.istiod.api.workload.v1.Authorization;
import dev.meshlite.istiod.api.workload.v1.Service;
import dev.meshlite.istiod.api.workload.v1.Workload;
import dev.meshlite.istiod.model.AmbientSnapshot;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the xDS server serves, per type URL: name → resource with its version. A resource's
 * version is a hash of its deterministic serialization, so an unchanged resource keeps its
 * version across rebuilds and restarts (a reconnecting proxy that holds it is sent nothing).
 *
 * @param version the model version this was computed from ({@code system_version_info})
 */
public record XdsSnapshot(String version, Map<String, Map<String, Versioned>> types) {

    public static final String PREFIX = "type.googleapis.com/";
    public static final String WORKLOAD = PREFIX + Workload.getDescriptor().getFullName();
    public static final String SERVICE = PREFIX + Service.getDescriptor().getFullName();
    public static final String AUTHORIZATION = PREFIX + Authorization.getDescriptor().getFullName();
    public static final List<String> TYPES = List.of(WORKLOAD, SERVICE, AUTHORIZATION);

    public static final XdsSnapshot EMPTY = from(AmbientSnapshot.EMPTY, "");

    /** One resource ready to send. */
    public record Versioned(String version, Any resource) {}

    /** Each type's map iterates in name order and looks a name up in constant time (every push looks up each changed name). */
    public XdsSnapshot {
        Map<String, Map<String, Versioned>> copy = new TreeMap<>();
        types.forEach((t, byName) -> copy.put(t, java.util.Collections.unmodifiableMap(
                new java.util.LinkedHashMap<>(byName instanceof TreeMap<String, Versioned> ? byName : new TreeMap<>(byName)))));
        types = java.util.Collections.unmodifiableMap(copy);
    }

    public Map<String, Versioned> of(String typeUrl) {
        return types.getOrDefault(typeUrl, Map.of());
    }

    public static XdsSnapshot from(AmbientSnapshot model, String version) {
        return new Packer().pack(model, version);
    }

    /**
     * Turns model snapshots into xDS snapshots, serializing and hashing only the resources that are
     * new objects since its last call: a resource the model reused (the very same message, see
     * {@code IncrementalModel}) keeps its bytes and version. One thread at a time.
     */
    public static final class Packer {
        private Map<Message, Versioned> last = new java.util.IdentityHashMap<>();

        public XdsSnapshot pack(AmbientSnapshot model, String version) {
            Map<Message, Versioned> packed = new java.util.IdentityHashMap<>(last.size() + 16);
            XdsSnapshot out = new XdsSnapshot(version, Map.of(
                    WORKLOAD, pack(WORKLOAD, model.workloads(), packed),
                    SERVICE, pack(SERVICE, model.services(), packed),
                    AUTHORIZATION, pack(AUTHORIZATION, model.authorizations(), packed)));
            last = packed;
            return out;
        }

        private Map<String, Versioned> pack(String typeUrl, Map<String, ? extends Message> byName,
                Map<Message, Versioned> packed) {
            Map<String, Versioned> out = new TreeMap<>();
            byName.forEach((name, m) -> {
                Versioned v = last.get(m);
                if (v == null) {
                    byte[] bytes = deterministic(m);
                    v = new Versioned(hash(bytes),
                            Any.newBuilder().setTypeUrl(typeUrl).setValue(ByteString.copyFrom(bytes)).build());
                }
                packed.put(m, v);
                out.put(name, v);
            });
            return out;
        }
    }

    /** Map fields in key order: equal messages give equal bytes whatever order they were built in. */
    static byte[] deterministic(Message m) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(m.getSerializedSize());
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        out.useDeterministicSerialization();
        try {
            m.writeTo(out);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** 96 bits of SHA-256, hex: short on the wire, collisions out of reach for a cluster's resources. */
    static String hash(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes), 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
