package dev.meshlite.cni.handoff;

import dev.meshlite.cni.json.Json;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The handoff's messages and their wire form: one small JSON object per packet, told apart by
 * {@code "type"}. Decoding is all or nothing: a message missing a field, or carrying one of the
 * wrong kind, is rejected whole with a {@link MalformedMessageException} naming what was
 * expected. Unknown fields are ignored, so either end may add some without breaking the other.
 */
sealed interface HandoffMessage {

    /** agent → ztunnel; the pod's namespace rides along as SCM_RIGHTS. */
    record Add(PodInfo pod) implements HandoffMessage {
    }

    /** agent → ztunnel: every enrolled pod has been sent on this connection. */
    record SnapshotSent() implements HandoffMessage {
    }

    /** agent → ztunnel. */
    record Del(String uid) implements HandoffMessage {
    }

    /** ztunnel → agent, one per message in order; an empty error means accepted. */
    record Ack(String error) implements HandoffMessage {
        boolean ok() {
            return error.isEmpty();
        }
    }

    /** A packet that is not a valid handoff message; the reason says what was expected. */
    final class MalformedMessageException extends Exception {
        MalformedMessageException(String reason) {
            super(reason);
        }
    }

    static byte[] encode(HandoffMessage m) {
        Map<String, Object> o = new LinkedHashMap<>();
        switch (m) {
            case Add(PodInfo p) -> {
                o.put("type", "add");
                o.put("uid", p.uid());
                o.put("name", p.name());
                o.put("namespace", p.namespace());
                o.put("serviceAccount", p.serviceAccount());
                o.put("ips", p.ips());
            }
            case SnapshotSent s -> o.put("type", "snapshot-sent");
            case Del(String uid) -> {
                o.put("type", "del");
                o.put("uid", uid);
            }
            case Ack(String error) -> {
                o.put("type", "ack");
                o.put("error", error);
            }
        }
        return Json.write(o).getBytes(StandardCharsets.UTF_8);
    }

    static HandoffMessage decode(byte[] packet) throws MalformedMessageException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(packet)).toString();
        } catch (CharacterCodingException e) {
            throw new MalformedMessageException("not UTF-8 (expected one JSON object per packet)");
        }
        Object v;
        try {
            v = Json.parse(text);
        } catch (Json.MalformedJsonException e) {
            if (text.isBlank()) {
                throw notAnObject();
            }
            throw new MalformedMessageException("not JSON (expected one JSON object per packet): " + e.getMessage());
        }
        if (!(v instanceof Map<?, ?>)) {
            throw notAnObject();
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> o = (Map<String, Object>) v;
        String type = text(o, "type", false);
        return switch (type) {
            case "add" -> new Add(new PodInfo(text(o, "uid", false), text(o, "name", false),
                    text(o, "namespace", false), text(o, "serviceAccount", false), ips(o)));
            case "snapshot-sent" -> new SnapshotSent();
            case "del" -> new Del(text(o, "uid", false));
            case "ack" -> new Ack(text(o, "error", true));
            default -> throw new MalformedMessageException("unknown message type \"" + type
                    + "\" (expected add, snapshot-sent, del or ack)");
        };
    }

    private static MalformedMessageException notAnObject() {
        return new MalformedMessageException("not a JSON object (expected {\"type\": ...})");
    }

    private static String text(Map<String, Object> o, String field, boolean mayBeEmpty) throws MalformedMessageException {
        Object v = o.get(field);
        if (v == null) {
            throw new MalformedMessageException("missing \"" + field + "\" (expected a string)");
        }
        if (!(v instanceof String s)) {
            throw new MalformedMessageException("\"" + field + "\" is " + Json.kind(v) + " (expected a string)");
        }
        if (!mayBeEmpty && s.isEmpty()) {
            throw new MalformedMessageException("\"" + field + "\" is empty (expected a non-empty string)");
        }
        return s;
    }

    private static List<String> ips(Map<String, Object> o) throws MalformedMessageException {
        if (!(o.get("ips") instanceof List<?> v)) {
            throw new MalformedMessageException("missing \"ips\" (expected an array of IP address strings)");
        }
        List<String> ips = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            Object ip = v.get(i);
            if (!(ip instanceof String s) || !isIpLiteral(s)) {
                throw new MalformedMessageException("ips[" + i + "] is " + Json.write(ip) + " (expected an IP address literal)");
            }
            ips.add(s);
        }
        return ips;
    }

    private static boolean isIpLiteral(String s) {
        try {
            InetAddress.ofLiteral(s); // never resolves a name
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
