package dev.meshlite.istiod.ca;

import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.mockwebserver.http.ByteString;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.http.Response;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * fabric8's CRUD mock, recording every request that is not a read: who sent it (its bearer
 * token), method, path and the answer's status, in arrival order. A client's own requests arrive
 * in the order it sent them, which is all the ordering the tests rely on.
 *
 * <p>It also counts each client's open watches. The mock blocks its event loop while it closes a
 * watch that an event is being sent to (the sender waits for that loop: every request then stalls
 * about 10 s). A test that stops a replica waits until its watches are gone before it writes.
 */
public final class ApiWrites extends KubernetesCrudDispatcher {

    /** One write request and how it was answered; {@code name}: the object's, from the body ("" if none). */
    public record Write(int seq, String who, String method, String path, String name, int code) {
        public boolean lease() {
            return path.startsWith("/apis/coordination.k8s.io/");
        }

        public boolean succeeded() {
            return code >= 200 && code < 300;
        }

        @Override
        public String toString() {
            return "#" + seq + " " + who + " " + method + " " + path + (name.isEmpty() ? "" : " " + name) + " -> " + code;
        }
    }

    private final List<Write> writes = new CopyOnWriteArrayList<>();
    private final Map<String, AtomicInteger> watches = new ConcurrentHashMap<>();

    public ApiWrites() {
        super(new ArrayList<>());
    }

    @Override
    public MockResponse dispatch(RecordedRequest request) {
        String name = "GET".equalsIgnoreCase(request.getMethod()) ? "" : name(request); // before: dispatch reads the body
        MockResponse response = super.dispatch(request);
        String auth = request.getHeader("Authorization");
        String who = auth != null && auth.startsWith("Bearer ") ? auth.substring("Bearer ".length()) : "-";
        if (response != null && response.getWebSocketListener() != null) {
            AtomicInteger open = watches.computeIfAbsent(who, k -> new AtomicInteger());
            open.incrementAndGet();
            response.withWebSocketUpgrade(new Counted(response.getWebSocketListener(), open));
        }
        if (!"GET".equalsIgnoreCase(request.getMethod())) {
            synchronized (writes) {
                writes.add(new Write(writes.size(), who, request.getMethod(), request.getPath(), name,
                        response == null ? 0 : response.code()));
            }
        }
        return response;
    }

    private static String name(RecordedRequest request) {
        if (request.getBody() == null || request.getBody().size() == 0) {
            return "";
        }
        try {
            return Serialization.jsonMapper().readTree(request.getBody().getBytes()).path("metadata").path("name")
                    .asText("");
        } catch (IOException e) {
            return "";
        }
    }

    /** Watches {@code who} holds open on the server now. */
    public int openWatches(String who) {
        AtomicInteger open = watches.get(who);
        return open == null ? 0 : open.get();
    }

    /** The mock's watch listener, counted out once the server has closed it. */
    private static final class Counted extends WebSocketListener {
        private final WebSocketListener delegate;
        private final AtomicInteger open;
        private final AtomicBoolean gone = new AtomicBoolean();

        Counted(WebSocketListener delegate, AtomicInteger open) {
            this.delegate = delegate;
            this.open = open;
        }

        @Override
        public void onBeforeAccept(WebSocket ws, Response r) {
            delegate.onBeforeAccept(ws, r);
        }

        @Override
        public void onOpen(WebSocket ws, Response r) {
            delegate.onOpen(ws, r);
        }

        @Override
        public void onMessage(WebSocket ws, String text) {
            delegate.onMessage(ws, text);
        }

        @Override
        public void onMessage(WebSocket ws, ByteString bytes) {
            delegate.onMessage(ws, bytes);
        }

        @Override
        public void onMessage(WebSocket ws, byte[] bytes) {
            delegate.onMessage(ws, bytes);
        }

        @Override
        public void onClosing(WebSocket ws, int code, String reason) {
            delegate.onClosing(ws, code, reason);
        }

        @Override
        public void onClosed(WebSocket ws, int code, String reason) {
            try {
                delegate.onClosed(ws, code, reason);
            } finally {
                gone();
            }
        }

        @Override
        public void onFailure(WebSocket ws, Throwable t, Response r) {
            try {
                delegate.onFailure(ws, t, r);
            } finally {
                gone();
            }
        }

        private void gone() {
            if (gone.compareAndSet(false, true)) {
                open.decrementAndGet();
            }
        }
    }

    /** How many writes were recorded so far: a mark to compare later writes against. */
    public int mark() {
        return writes.size();
    }

    public List<Write> all() {
        return List.copyOf(writes);
    }

    public List<Write> by(String who, Predicate<Write> which) {
        return writes.stream().filter(w -> w.who().equals(who) && which.test(w)).toList();
    }
}
