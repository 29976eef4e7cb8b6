package dev.meshlite.e2e.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ProcSampleTest {

    @Test
    void cpuOfARunningProcessHasItsSystemTimeInsideItsTotal() {
        ProcSample.Cpu own = ProcSample.cpu(List.of(ProcessHandle.current().pid()));
        assertTrue(own.seconds() > 0, "this JVM has used CPU to get here: " + own);
        assertTrue(own.systemSeconds() >= 0 && own.systemSeconds() <= own.seconds(), own.toString());
    }

    @Test
    void aProcessThatIsGoneCountsAsNothing() {
        assertEquals(new ProcSample.Cpu(0, 0), ProcSample.cpu(List.of(Long.MAX_VALUE)));
    }

    @Test
    void sinceSubtractsBothParts() {
        assertEquals(new ProcSample.Cpu(1.5, 0.5), new ProcSample.Cpu(4.0, 1.5).since(new ProcSample.Cpu(2.5, 1.0)));
    }
}
