package dev.meshlite.cni.plugin;

import dev.meshlite.cni.json.Json;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A failure reported to the runtime as CNI error JSON on stdout (CNI spec 1.0, "Error"), with a
 * non-zero exit. Codes 1-99 are the spec's: 4 invalid configuration, 6 decoding failure, 7
 * invalid network config, 11 try again later (the runtime retries the sandbox).
 */
final class CniError extends Exception {

    static final int INCOMPATIBLE_VERSION = 1;
    static final int UNSUPPORTED_FIELD = 2;
    static final int INVALID_ENV = 4;
    static final int DECODING_FAILURE = 6;
    static final int INVALID_CONFIG = 7;
    static final int TRY_AGAIN_LATER = 11;
    static final int INTERNAL = 999;

    private final int code;
    private final String details;

    CniError(int code, String msg, String details) {
        super(msg);
        this.code = code;
        this.details = details;
    }

    CniError(int code, String msg) {
        this(code, msg, "");
    }

    int code() {
        return code;
    }

    String toJson(String cniVersion) {
        Map<String, Object> n = new LinkedHashMap<>();
        n.put("cniVersion", cniVersion);
        n.put("code", code);
        n.put("msg", getMessage());
        if (!details.isEmpty()) {
            n.put("details", details);
        }
        return Json.write(n);
    }
}
