package dev.meshlite.e2e.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class WireCaptureTest {

    static WireCapture.Packet p(String from, int fromPort, String to, int toPort, boolean opens) {
        return new WireCapture.Packet(from, fromPort, to, toPort, opens);
    }

    @Test
    void onlyConnectionsOpenedInTheCaptureCountAsNewTraffic() {
        var old = List.of(p("10.244.1.2", 54608, "10.244.2.3", 8080, false), p("10.244.2.3", 8080, "10.244.1.2", 54608, false));
        var plainNew = List.of(p("10.244.1.2", 40000, "10.244.2.3", 8080, true), p("10.244.2.3", 8080, "10.244.1.2", 40000, false));
        var hbone = List.of(p("10.244.1.2", 41000, "10.244.2.3", 15008, true), p("10.244.2.3", 15008, "10.244.1.2", 41000, false));
        java.util.List<WireCapture.Packet> all = new java.util.ArrayList<>(old);
        all.addAll(plainNew);
        all.addAll(hbone);
        WireCapture.Seen seen = new WireCapture.Seen("", all);
        assertEquals(4, seen.notHbone().size());
        assertEquals(plainNew, seen.openedNotHbone(), "both directions of the new plaintext connection, nothing older");
        assertEquals(List.of(), new WireCapture.Seen("", hbone).openedNotHbone());
    }
}
