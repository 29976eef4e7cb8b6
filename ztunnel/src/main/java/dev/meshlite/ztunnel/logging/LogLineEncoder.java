package dev.meshlite.ztunnel.logging;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.encoder.EncoderBase;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;

/**
 * One event as the line {@code %d{HH:mm:ss.SSS} %-5level [%thread] %logger{0}: %msg%n} (local
 * time, the level padded to five, the logger's last name segment), then the stack trace of a
 * thrown exception as logback prints it: byte for byte what a {@code PatternLayoutEncoder} with
 * that pattern writes, without compiling the pattern, whose parser and converters are close to a
 * hundred classes. UTF-8.
 */
final class LogLineEncoder extends EncoderBase<ILoggingEvent> {

    private static final byte[] NOTHING = {};

    private final ZoneId zone = ZoneId.systemDefault();

    @Override
    public byte[] headerBytes() {
        return NOTHING;
    }

    @Override
    public byte[] encode(ILoggingEvent event) {
        StringBuilder s = new StringBuilder(128);
        LocalTime t = LocalTime.ofInstant(Instant.ofEpochMilli(event.getTimeStamp()), zone);
        twoDigits(s, t.getHour()).append(':');
        twoDigits(s, t.getMinute()).append(':');
        twoDigits(s, t.getSecond()).append('.');
        int millis = t.getNano() / 1_000_000;
        s.append((char) ('0' + millis / 100));
        twoDigits(s, millis % 100).append(' ');
        String level = event.getLevel().toString();
        s.append(level).repeat(' ', 5 - level.length());
        s.append(" [").append(event.getThreadName()).append("] ");
        String logger = event.getLoggerName();
        s.append(logger, logger.lastIndexOf('.') + 1, logger.length()).append(": ");
        s.append(event.getFormattedMessage()).append(System.lineSeparator());
        IThrowableProxy thrown = event.getThrowableProxy();
        if (thrown != null) {
            s.append(ThrowableProxyUtil.asString(thrown));
        }
        return s.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static StringBuilder twoDigits(StringBuilder s, int n) {
        return s.append((char) ('0' + n / 10)).append((char) ('0' + n % 10));
    }

    @Override
    public byte[] footerBytes() {
        return NOTHING;
    }
}
