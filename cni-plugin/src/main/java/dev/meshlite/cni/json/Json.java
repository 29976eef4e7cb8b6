package dev.meshlite.cni.json;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The project's JSON: RFC 8259, read whole into plain values and written back compactly or
 * indented. First the CNI plugin's: a process that lives for one CNI command, where a
 * general-purpose mapper's own start-up (its factories, caches and serializer lookups) cost more
 * than everything else the plugin does. Then the hand-off's and ztunnel's (access log, admin
 * endpoint), where such a mapper's few hundred classes were a share of the proxy's idle memory.
 * This reader and writer load a handful of classes.
 *
 * <p>Values read are {@code Map<String, Object>} (insertion-ordered), {@code List<Object>},
 * {@code String}, {@link Num}, {@code Boolean} and {@code null}. Numbers keep the text they were
 * read as, so a document read and written again says the same thing in the same order: the
 * plugin passes {@code prevResult} through unchanged. A repeated key keeps its first position and
 * its last value. Written values may also hold {@code Integer}, {@code Long} and finite
 * {@code Double} numbers and maps with keys of any type (written as their {@code toString}).
 *
 * <p>Strict: one value, optionally surrounded by whitespace; no comments, trailing commas, single
 * quotes, leading zeros, unescaped control characters or lone surrogates in escapes; at most
 * {@link #MAX_DEPTH} nested containers. Anything else is a {@link MalformedJsonException} that
 * says where and what was expected, never a partial value.
 *
 * <p>Output is byte for byte what Jackson writes for the same values (its default escaping, its
 * default pretty printer), so a document does not change with the library that wrote it.
 */
public final class Json {

    /** Deeper documents are refused rather than read recursively (no stack overflow). */
    public static final int MAX_DEPTH = 256;

    /** A JSON number as written: valid number syntax, kept verbatim. */
    public record Num(String text) {
        @Override
        public String toString() {
            return text;
        }
    }

    /** Input that is not one well-formed JSON value. */
    public static final class MalformedJsonException extends Exception {
        MalformedJsonException(String message) {
            super(message);
        }
    }

    private final String in;
    private int pos;

    private Json(String in) {
        this.in = in;
    }

    public static Object parse(String text) throws MalformedJsonException {
        Json p = new Json(text);
        p.skipWhitespace();
        if (p.pos == text.length()) {
            throw new MalformedJsonException("no JSON value (expected an object)");
        }
        Object value = p.value(0);
        p.skipWhitespace();
        if (p.pos != text.length()) {
            throw p.error("end of input after the value");
        }
        return value;
    }

    /** The object {@code text} holds; anything else is malformed. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text) throws MalformedJsonException {
        Object v = parse(text);
        if (!(v instanceof Map)) {
            throw new MalformedJsonException("a JSON " + kind(v) + " (expected an object)");
        }
        return (Map<String, Object>) v;
    }

    private Object value(int depth) throws MalformedJsonException {
        if (pos >= in.length()) {
            throw error("a value");
        }
        char c = in.charAt(pos);
        return switch (c) {
            case '{' -> object(depth + 1);
            case '[' -> array(depth + 1);
            case '"' -> string();
            case 't' -> literal("true", Boolean.TRUE);
            case 'f' -> literal("false", Boolean.FALSE);
            case 'n' -> literal("null", null);
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) {
                    yield number();
                }
                throw error("a value");
            }
        };
    }

    private Map<String, Object> object(int depth) throws MalformedJsonException {
        checkDepth(depth);
        pos++; // '{'
        Map<String, Object> m = new LinkedHashMap<>();
        skipWhitespace();
        if (peek() == '}') {
            pos++;
            return m;
        }
        while (true) {
            skipWhitespace();
            if (peek() != '"') {
                throw error("a member name in double quotes");
            }
            String key = string();
            skipWhitespace();
            expect(':');
            skipWhitespace();
            m.put(key, value(depth));
            skipWhitespace();
            char c = peek();
            pos++;
            if (c == '}') {
                return m;
            }
            if (c != ',') {
                pos--;
                throw error("',' or '}'");
            }
        }
    }

    private List<Object> array(int depth) throws MalformedJsonException {
        checkDepth(depth);
        pos++; // '['
        List<Object> l = new ArrayList<>();
        skipWhitespace();
        if (peek() == ']') {
            pos++;
            return l;
        }
        while (true) {
            skipWhitespace();
            l.add(value(depth));
            skipWhitespace();
            char c = peek();
            pos++;
            if (c == ']') {
                return l;
            }
            if (c != ',') {
                pos--;
                throw error("',' or ']'");
            }
        }
    }

    private String string() throws MalformedJsonException {
        pos++; // opening quote
        StringBuilder s = null;
        int start = pos;
        while (true) {
            if (pos >= in.length()) {
                throw error("a closing '\"'");
            }
            char c = in.charAt(pos);
            if (c == '"') {
                String tail = in.substring(start, pos++);
                return s == null ? tail : s.append(tail).toString();
            }
            if (c < 0x20) {
                throw error("no control character inside a string (U+" + String.format("%04X", (int) c) + " must be escaped)");
            }
            if (c != '\\') {
                pos++;
                continue;
            }
            if (s == null) {
                s = new StringBuilder();
            }
            s.append(in, start, pos);
            pos++;
            if (pos >= in.length()) {
                throw error("an escape after '\\'");
            }
            char e = in.charAt(pos++);
            switch (e) {
                case '"', '\\', '/' -> s.append(e);
                case 'b' -> s.append('\b');
                case 'f' -> s.append('\f');
                case 'n' -> s.append('\n');
                case 'r' -> s.append('\r');
                case 't' -> s.append('\t');
                case 'u' -> s.append(unicodeEscape());
                default -> {
                    pos--;
                    throw error("one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
                }
            }
            start = pos;
        }
    }

    /** The code unit(s) of a {@code \}{@code uXXXX} escape, a surrogate pair taken whole. */
    private String unicodeEscape() throws MalformedJsonException {
        char hi = hex4();
        if (Character.isLowSurrogate(hi)) {
            throw error("a high surrogate before U+" + String.format("%04X", (int) hi));
        }
        if (!Character.isHighSurrogate(hi)) {
            return String.valueOf(hi);
        }
        if (!in.startsWith("\\u", pos)) {
            throw error("a \\u low surrogate after U+" + String.format("%04X", (int) hi));
        }
        pos += 2;
        char lo = hex4();
        if (!Character.isLowSurrogate(lo)) {
            throw error("a low surrogate after U+" + String.format("%04X", (int) hi));
        }
        return new String(new char[] {hi, lo});
    }

    private char hex4() throws MalformedJsonException {
        if (pos + 4 > in.length()) {
            throw error("four hex digits");
        }
        int v = 0;
        for (int i = 0; i < 4; i++) {
            int d = Character.digit(in.charAt(pos), 16);
            if (d < 0) {
                throw error("four hex digits");
            }
            v = v * 16 + d;
            pos++;
        }
        return (char) v;
    }

    private Num number() throws MalformedJsonException {
        int start = pos;
        if (peek() == '-') {
            pos++;
        }
        if (peek() == '0') {
            pos++;
            if (isDigit(peek())) {
                throw error("no leading zero in a number");
            }
        } else if (!digits()) {
            throw error("a digit");
        }
        if (peek() == '.') {
            pos++;
            if (!digits()) {
                throw error("a digit after '.'");
            }
        }
        if (peek() == 'e' || peek() == 'E') {
            pos++;
            if (peek() == '+' || peek() == '-') {
                pos++;
            }
            if (!digits()) {
                throw error("a digit in the exponent");
            }
        }
        return new Num(in.substring(start, pos));
    }

    private boolean digits() {
        int start = pos;
        while (isDigit(peek())) {
            pos++;
        }
        return pos > start;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private Object literal(String word, Object value) throws MalformedJsonException {
        if (!in.startsWith(word, pos)) {
            throw error("a value");
        }
        pos += word.length();
        return value;
    }

    private void checkDepth(int depth) throws MalformedJsonException {
        if (depth > MAX_DEPTH) {
            throw error("at most " + MAX_DEPTH + " nested objects and arrays");
        }
    }

    private void expect(char c) throws MalformedJsonException {
        if (peek() != c) {
            throw error("'" + c + "'");
        }
        pos++;
    }

    /** The character at the cursor, or U+0000 at the end (never valid where it is looked at). */
    private char peek() {
        return pos < in.length() ? in.charAt(pos) : '\0';
    }

    private void skipWhitespace() {
        while (pos < in.length()) {
            char c = in.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                return;
            }
            pos++;
        }
    }

    private MalformedJsonException error(String expected) {
        String found = pos >= in.length() ? "end of input" : describe(in.charAt(pos));
        return new MalformedJsonException("at offset " + pos + ": " + found + " (expected " + expected + ")");
    }

    private static String describe(char c) {
        return c < 0x20 || c == 0x7f ? "U+" + String.format("%04X", (int) c) : "'" + c + "'";
    }

    public static String kind(Object v) {
        return v == null ? "null" : v instanceof Map ? "object" : v instanceof List ? "array" : v instanceof String ? "string"
                : v instanceof Num ? "number" : "boolean";
    }

    // ---- reading values ----

    /**
     * {@code key} of {@code object} as text: a string as it is, a number or boolean as written;
     * {@code otherwise} when it is missing, null, an object or an array.
     */
    public static String text(Map<String, Object> object, String key, String otherwise) {
        return text(object == null ? null : object.get(key), otherwise);
    }

    public static String text(Object v, String otherwise) {
        return v instanceof String || v instanceof Num || v instanceof Boolean ? v.toString() : otherwise;
    }

    /** {@code key} of {@code object} if it is an object, else null. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> object(Map<String, Object> object, String key) {
        return object != null && object.get(key) instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
    }

    /** {@code key} of {@code object} if it is an array, else an empty list. */
    @SuppressWarnings("unchecked")
    public static List<Object> array(Map<String, Object> object, String key) {
        return object != null && object.get(key) instanceof List<?> l ? (List<Object>) l : List.of();
    }

    // ---- writing ----

    /** {@code value} as compact JSON (no whitespace), members in their map's order. */
    public static String write(Object value) {
        StringBuilder s = new StringBuilder();
        write(value, s, COMPACT);
        return s.toString();
    }

    /**
     * {@code value} as indented JSON, members in their map's order, in the form of Jackson's
     * default pretty printer: each member on its own line, indented two spaces a level, as
     * {@code "name" : value}; an array on the line it starts, {@code [ 1, 2 ]}; empty containers
     * {@code { }} and {@code [ ]}; lines end with {@code \n}. People and scripts read and grep
     * ztunnel's {@code /config_dump} in this form (e.g. {@code "ip" : "10.244.1.5"}).
     */
    public static String writeIndented(Object value) {
        StringBuilder s = new StringBuilder();
        write(value, s, 0);
        return s.toString();
    }

    /** The {@code depth} of compact output: no line breaks, no spaces. */
    private static final int COMPACT = -1;

    // An if-chain, not a pattern switch: a type switch is bootstrapped at its first run, which
    // costs a short-lived process more than all the writing it does.
    private static void write(Object v, StringBuilder s, int depth) {
        if (v == null) {
            s.append("null");
        } else if (v instanceof String str) {
            quote(str, s);
        } else if (v instanceof Num n) {
            s.append(n.text());
        } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
            s.append(v);
        } else if (v instanceof Double d) {
            if (!Double.isFinite(d)) {
                throw new IllegalArgumentException("not a JSON number: " + d);
            }
            s.append(d.doubleValue()); // the shortest form that reads back, as Jackson writes it (1.5, 1.0E20)
        } else if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                s.append(depth == COMPACT ? "{}" : "{ }");
                return;
            }
            int inner = depth == COMPACT ? COMPACT : depth + 1;
            s.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    s.append(',');
                }
                first = false;
                newLine(s, inner);
                quote(String.valueOf(e.getKey()), s);
                s.append(depth == COMPACT ? ":" : " : ");
                write(e.getValue(), s, inner);
            }
            newLine(s, depth);
            s.append('}');
        } else if (v instanceof List<?> l) {
            if (l.isEmpty()) {
                s.append(depth == COMPACT ? "[]" : "[ ]");
                return;
            }
            // an array stays on its line and adds no indentation level to what it holds
            s.append(depth == COMPACT ? "[" : "[ ");
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    s.append(depth == COMPACT ? "," : ", ");
                }
                write(l.get(i), s, depth);
            }
            s.append(depth == COMPACT ? "]" : " ]");
        } else {
            throw new IllegalArgumentException("not a JSON value: " + v.getClass().getName());
        }
    }

    private static void newLine(StringBuilder s, int depth) {
        if (depth != COMPACT) {
            s.append('\n').repeat(' ', 2 * depth);
        }
    }

    /** Upper-case hex, as Jackson writes it, so the output does not change with the JSON library. */
    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    private static void quote(String str, StringBuilder s) {
        s.append('"');
        for (int i = 0; i < str.length(); i++) {
            char c = str.charAt(i);
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                case '\b' -> s.append("\\b");
                case '\f' -> s.append("\\f");
                default -> {
                    if (c < 0x20) {
                        s.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        s.append('"');
    }
}
