package dev.meshlite.ztunnel.logging;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.classic.util.LogbackMDCAdapter;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.status.Status;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.LocalTime;
import java.time.ZoneId;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.slf4j.LoggerFactory;

class LogConfiguratorTest {

    static final String PATTERN = "%d{HH:mm:ss.SSS} %-5level [%thread] %logger{0}: %msg%n";
    static final String TIME = "\\d\\d:\\d\\d:\\d\\d\\.\\d{3}";

    /** The {@code [%thread]} of an event logged by this test. */
    static String thread() {
        return Pattern.quote("[" + Thread.currentThread().getName() + "]");
    }

    /** A context as logback's SLF4J provider makes one before it looks for configurators. */
    static LoggerContext fresh() {
        LoggerContext context = new LoggerContext();
        context.setMDCAdapter(new LogbackMDCAdapter());
        return context;
    }

    /** A context configured as ztunnel's, its stderr appender writing into {@code out}. */
    static LoggerContext configured(String meshLogLevel, ByteArrayOutputStream out) {
        LoggerContext context = fresh();
        LogConfigurator.configure(context, meshLogLevel);
        ConsoleAppender<ILoggingEvent> stderr = stderr(context);
        assertEquals("System.err", stderr.getTarget());
        stderr.setOutputStream(out);
        return context;
    }

    @SuppressWarnings("unchecked")
    static ConsoleAppender<ILoggingEvent> stderr(LoggerContext context) {
        return assertInstanceOf(ConsoleAppender.class, context.getLogger(Logger.ROOT_LOGGER_NAME).getAppender("STDERR"));
    }

    @Test
    void logbackUsesThisConfiguratorAndReadsNoXml() {
        // the test classpath holds the cni-plugin jar's logback.xml, which must not be read
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        assertInstanceOf(LogLineEncoder.class, stderr(context).getEncoder());
        for (Status s : context.getStatusManager().getCopyOfStatusList()) {
            assertTrue(s.getLevel() < Status.WARN && !s.getMessage().contains("logback.xml"), s.toString());
        }
    }

    @Test
    void writesWhatPatternLayoutWritesForThePattern() {
        LoggerContext context = fresh();
        PatternLayoutEncoder pattern = new PatternLayoutEncoder();
        pattern.setContext(context);
        pattern.setPattern(PATTERN);
        pattern.start();
        LogLineEncoder ours = new LogLineEncoder();
        ours.setContext(context);
        ours.start();

        IllegalStateException cause = new IllegalStateException("inner");
        RuntimeException thrown = new RuntimeException("outer", cause);
        thrown.addSuppressed(new UncheckedIOException("while closing", new IOException("closed")));
        long morning = LocalDate.of(2026, 1, 2).atTime(LocalTime.of(7, 3, 9, 5_000_000))
                .atZone(ZoneId.systemDefault()).toInstant().toEpochMilli();
        for (Level level : List.of(Level.TRACE, Level.DEBUG, Level.INFO, Level.WARN, Level.ERROR)) {
            for (String logger : List.of("dev.meshlite.ztunnel.proxy.PodProxy", "access", Logger.ROOT_LOGGER_NAME)) {
                for (Throwable t : new Throwable[] {null, thrown}) {
                    LoggingEvent e = new LoggingEvent(Logger.class.getName(), context.getLogger(logger), level,
                            "pod {} served é \"q\"", t, new Object[] {"shop/web-0"});
                    e.setThreadName("ztunnel-epoll-1");
                    e.setTimeStamp(t == null ? System.currentTimeMillis() : morning);
                    assertArrayEquals(pattern.encode(e), ours.encode(e),
                            () -> new String(ours.encode(e), StandardCharsets.UTF_8));
                }
            }
        }
    }

    @Test
    void oneLinePerEventAndTheAccessLogAtTheRootLevel() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        LoggerContext context = configured(null, out);
        context.getLogger("access").info("direction=inbound bytes_sent=18");
        context.getLogger("dev.meshlite.ztunnel.Ztunnel").debug("not at INFO");
        String line = out.toString(StandardCharsets.UTF_8);
        assertTrue(line.matches(TIME + " INFO  " + thread() + " access: direction=inbound bytes_sent=18\n"), line);
    }

    @Test
    void openSslContextNotesAreKeptOut() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        LoggerContext context = configured("DEBUG", out);
        Logger openssl = context.getLogger(LogConfigurator.OPENSSL_CONTEXT);
        openssl.info("TLSv1.3 cipher suites cannot be restricted");
        assertEquals("", out.toString(StandardCharsets.UTF_8));
        openssl.warn("kept");
        String line = out.toString(StandardCharsets.UTF_8);
        assertTrue(line.matches(TIME + " WARN  " + thread() + " ReferenceCountedOpenSslContext: kept\n"), line);
    }

    @ParameterizedTest(name = "MESH_LOG_LEVEL={0}")
    @CsvSource(nullValues = "unset", value = {
            "unset, INFO", "'', INFO", "INFO, INFO", "debug, DEBUG", "Trace, TRACE", "WARN, WARN", "error, ERROR",
            "off, OFF",
    })
    void theRootLevelComesFromMeshLogLevel(String value, String expected) {
        LoggerContext context = configured(value, new ByteArrayOutputStream());
        assertEquals(Level.toLevel(expected), context.getLogger(Logger.ROOT_LOGGER_NAME).getLevel());
        assertEquals(Level.WARN, context.getLogger(LogConfigurator.OPENSSL_CONTEXT).getLevel());
    }

    @Test
    void aValueThatIsNoLevelIsInfoWithOneWarning() {
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        LoggerContext context;
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            context = fresh();
            LogConfigurator.configure(context, "verbose");
        } finally {
            System.setErr(err);
        }
        assertEquals(Level.INFO, context.getLogger(Logger.ROOT_LOGGER_NAME).getLevel());
        // other tests' threads may write to stderr meanwhile: only this configurator's lines count
        List<String> warnings = captured.toString(StandardCharsets.UTF_8).lines()
                .filter(l -> l.contains(" LogConfigurator: ")).toList();
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.getFirst().matches(TIME + " WARN  " + thread() + " LogConfigurator: "
                + "MESH_LOG_LEVEL=\"verbose\" is not a level \\(expected one of TRACE, DEBUG, INFO, WARN, ERROR, OFF\\); "
                + "logging at INFO"), warnings.getFirst());
    }
}
