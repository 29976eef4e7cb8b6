package dev.meshlite.ztunnel.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * ztunnel's logging, set up in code: logback finds this class through its
 * {@code META-INF/services/ch.qos.logback.classic.spi.Configurator} and, since it says so, tries
 * no configurator after it. No {@code logback.xml} is looked for or read (the cni-plugin jar on
 * the classpath carries the node agent's), so neither logback's XML configuration nor the JDK's
 * XML parser, several hundred classes in all, is loaded.
 *
 * <p>The configuration: one line per event on stderr, {@link LogLineEncoder}'s form of
 * {@code %d{HH:mm:ss.SSS} %-5level [%thread] %logger{0}: %msg%n}; the root level from
 * {@code MESH_LOG_LEVEL} (default INFO; a value that is no level is logged once as a warning and
 * INFO used); BoringSSL's note at every TLS context build, that TLS 1.3 suites cannot be
 * restricted, kept out ({@value #OPENSSL_CONTEXT} at WARN). The access log is the logger
 * {@code access}, which writes through the root's appender at the root's level.
 *
 * <p>{@code -Dlogback.configurationFile=...} still wins: this configurator then steps aside and
 * logback reads that file as usual.
 */
public final class LogConfigurator extends ContextAwareBase implements Configurator {

    static final String LEVEL_VARIABLE = "MESH_LOG_LEVEL";
    static final String OPENSSL_CONTEXT = "io.netty.handler.ssl.ReferenceCountedOpenSslContext";

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        if (System.getProperty("logback.configurationFile") != null) {
            return ExecutionStatus.INVOKE_NEXT_IF_ANY;
        }
        configure(context, System.getenv(LEVEL_VARIABLE));
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }

    /** Configures {@code context} with {@code level} as {@code MESH_LOG_LEVEL}'s value (null: unset). */
    static void configure(LoggerContext context, String level) {
        LogLineEncoder encoder = new LogLineEncoder();
        encoder.setContext(context);
        encoder.start();
        ConsoleAppender<ILoggingEvent> stderr = new ConsoleAppender<>();
        stderr.setContext(context);
        stderr.setName("STDERR");
        stderr.setTarget("System.err");
        stderr.setEncoder(encoder);
        stderr.start();

        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.addAppender(stderr);
        Level parsed = level == null || level.isBlank() ? Level.INFO : Level.toLevel(level, null);
        root.setLevel(parsed == null ? Level.INFO : parsed);
        context.getLogger(OPENSSL_CONTEXT).setLevel(Level.WARN);
        if (parsed == null) {
            context.getLogger(LogConfigurator.class).warn("{}=\"{}\" is not a level (expected one of TRACE, DEBUG, "
                    + "INFO, WARN, ERROR, OFF); logging at INFO", LEVEL_VARIABLE, level);
        }
    }
}
