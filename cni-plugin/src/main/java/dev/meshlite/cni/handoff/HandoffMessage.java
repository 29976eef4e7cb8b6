package dev.meshlite.cni.handoff;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

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

    ObjectMapper JSON = new ObjectMapper();

    static byte[] encode(HandoffMessage m) {
        ObjectNode o = JSON.createObjectNode();
        switch (m) {
            case Add(PodInfo p) -> {
                o.put("type", "add").put("uid", p.uid()).put("name", p.name()).put("namespace", p.namespace())
                        .put("serviceAccount", p.serviceAccount());
                ArrayNode ips = o.putArray("ips");
                p.ips().forEach(ips::add);
            }
            case SnapshotSent s -> o.put("type", "snapshot-sent");
            case Del(String uid) -> o.put("type", "del").put("uid", uid);
            case Ack(String error) -> o.put("type", "ack").put("error", error);
        }
        return o.toString().getBytes(StandardCharsets.UTF_8);
    }

    static HandoffMessage decode(byte[] packet) throws MalformedMessageException {
        JsonNode o;
        try {
            o = JSON.readTree(packet);
        } catch (JsonProcessingException e) {
            throw new MalformedMessageException("not JSON (expected one JSON object per packet): "
                    + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new MalformedMessageException("unreadable packet: " + e.getMessage());
        }
        if (o == null || !o.isObject()) {
            throw new MalformedMessageException("not a JSON object (expected {\"type\": ...})");
        }
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

    private static String text(JsonNode o, String field, boolean mayBeEmpty) throws MalformedMessageException {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            throw new MalformedMessageException("missing \"" + field + "\" (expected a string)");
        }
        if (!v.isTextual()) {
            throw new MalformedMessageException("\"" + field + "\" is " + v.getNodeType().name().toLowerCase()
                    + " (expected a string)");
        }
        if (!mayBeEmpty && v.textValue().isEmpty()) {
            throw new MalformedMessageException("\"" + field + "\" is empty (expected a non-empty string)");
        }
        return v.textValue();
    }

    private static List<String> ips(JsonNode o) throws MalformedMessageException {
        JsonNode v = o.get("ips");
        if (v == null || !v.isArray()) {
            throw new MalformedMessageException("missing \"ips\" (expected an array of IP address strings)");
        }
        List<String> ips = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            JsonNode ip = v.get(i);
            if (!ip.isTextual() || !isIpLiteral(ip.textValue())) {
                throw new MalformedMessageException("ips[" + i + "] is " + ip + " (expected an IP address literal)");
            }
            ips.add(ip.textValue());
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
