package dev.meshlite.hbone.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.SplittableRandom;

/** Deterministic pseudo-random bytes and SHA-256 helpers for transfer-integrity tests. */
public final class DataStream {

    private DataStream() {}

    /** Writes {@code length} bytes generated from {@code seed}; returns their SHA-256. */
    public static byte[] write(OutputStream out, long seed, long length) throws IOException {
        MessageDigest sha = sha256();
        SplittableRandom random = new SplittableRandom(seed);
        byte[] chunk = new byte[256 * 1024];
        long left = length;
        while (left > 0) {
            int n = (int) Math.min(chunk.length, left);
            for (int i = 0; i < n; i += 8) {
                long v = random.nextLong();
                for (int j = 0; j < 8 && i + j < n; j++) {
                    chunk[i + j] = (byte) (v >>> (j * 8));
                }
            }
            sha.update(chunk, 0, n);
            out.write(chunk, 0, n);
            left -= n;
        }
        out.flush();
        return sha.digest();
    }

    /** Reads exactly {@code length} bytes (fails on early EOF); returns their SHA-256. */
    public static byte[] read(InputStream in, long length) throws IOException {
        MessageDigest sha = sha256();
        byte[] buf = new byte[256 * 1024];
        long left = length;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new IOException("EOF with " + left + " of " + length + " bytes missing");
            }
            sha.update(buf, 0, n);
            left -= n;
        }
        return sha.digest();
    }

    /** Reads to EOF; returns {count, digest}. */
    public static Result readAll(InputStream in) throws IOException {
        MessageDigest sha = sha256();
        byte[] buf = new byte[256 * 1024];
        long total = 0;
        for (int n; (n = in.read(buf)) >= 0; ) {
            sha.update(buf, 0, n);
            total += n;
        }
        return new Result(total, sha.digest());
    }

    public record Result(long bytes, byte[] sha256) {}

    public static byte[] expected(long seed, long length) {
        try {
            return write(OutputStream.nullOutputStream(), seed, length);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
