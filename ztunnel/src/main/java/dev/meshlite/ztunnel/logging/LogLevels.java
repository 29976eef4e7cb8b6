package dev.meshlite.ztunnel.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.LoggerFactory;

/**
 * Log levels changed while ztunnel runs (the admin endpoint {@code /logging}), so an operator can
 * turn on DEBUG for one part of a node's proxy and back off without a restart, which would drop
 * every connection of the node.
 *
 * <p>A change is a comma-separated list of {@code LEVEL} (the root logger) or {@code logger=LEVEL}
 * (one logger and those under it), e.g. {@code info,dev.meshlite.ztunnel.dns=debug}. The whole
 * list is checked before anything is set: one bad entry and nothing changes.
 */
public final class LogLevels {

    private final LoggerContext context;

    public LogLevels(LoggerContext context) {
        this.context = context;
    }

    /** The levels of the process's logback context; null when slf4j is bound to another backend. */
    public static LogLevels ofProcess() {
        return LoggerFactory.getILoggerFactory() instanceof LoggerContext c ? new LogLevels(c) : null;
    }

    /** Every logger with a level of its own, root first, as {@code name → LEVEL}. */
    public Map<String, String> levels() {
        Map<String, String> levels = new LinkedHashMap<>();
        for (Logger logger : context.getLoggerList()) {
            if (logger.getLevel() != null) {
                levels.put(logger.getName(), logger.getLevel().toString());
            }
        }
        return levels;
    }

    /**
     * Applies {@code change} (see the class comment) whole, or throws {@link IllegalArgumentException} naming the
     * first bad entry and sets nothing.
     */
    public void apply(String change) {
        if (change == null || change.isBlank()) {
            throw new IllegalArgumentException("no level given (expected: LEVEL or logger=LEVEL, comma-separated)");
        }
        Map<String, Level> parsed = new LinkedHashMap<>();
        for (String entry : change.split(",")) {
            String item = entry.strip();
            int eq = item.indexOf('=');
            String name = eq < 0 ? Logger.ROOT_LOGGER_NAME : item.substring(0, eq).strip();
            String value = eq < 0 ? item : item.substring(eq + 1).strip();
            Level level = Level.toLevel(value, null);
            if (name.isEmpty() || level == null) {
                throw new IllegalArgumentException("\"" + item + "\": expected LEVEL or logger=LEVEL, LEVEL one of "
                        + "TRACE, DEBUG, INFO, WARN, ERROR, OFF");
            }
            parsed.put(name, level);
        }
        parsed.forEach((name, level) -> context.getLogger(name).setLevel(level));
    }
}
