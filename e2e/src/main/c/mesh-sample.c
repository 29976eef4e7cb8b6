/*
 * The local cluster's sample images, as one small binary (a thread per connection, a few hundred
 * KiB of memory each, so fifty pods per node stay cheap):
 *   mesh-sample http-echo   HTTP/1.1 on $PORT (default 8080), keep-alive. The reply names the pod,
 *                           its namespace and IP, and echoes the request line and headers.
 *                           /healthz answers "ok"; ?size=N pads the reply with N bytes.
 *   mesh-sample tcp-echo    echoes bytes on $PORT (default 9000); half-close is passed through.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADER (64 * 1024)

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int listen_on(int port) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int family6 = fd >= 0;
    if (!family6) fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) { perror("socket"); exit(1); }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (family6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        struct sockaddr_in6 a = {0};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons((uint16_t)port);
        a.sin6_addr = in6addr_any;
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc < 0 || listen(fd, 1024) < 0) { fprintf(stderr, "listen on :%d: %s\n", port, strerror(errno)); exit(1); }
    return fd;
}

/* ---- http-echo ---- */

static void *http_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(MAX_HEADER);
    size_t have = 0;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == MAX_HEADER) {
                const char *e = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                write_all(fd, e, strlen(e));
                goto done;
            }
            ssize_t n = recv(fd, buf + have, MAX_HEADER - have, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) goto done;
            have += (size_t)n;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        /* request line and headers */
        char *line_end = memmem(buf, head_len, "\r\n", 2);
        size_t line_len = (size_t)(line_end - buf);
        long content_length = 0;
        int close_after = 0;
        size_t pad = 0;
        for (char *h = line_end + 2; h < end;) {
            char *next = memmem(h, (size_t)(end - h) + 2, "\r\n", 2);
            if (!next) break;
            if (!strncasecmp(h, "Content-Length:", 15)) content_length = strtol(h + 15, NULL, 10);
            if (!strncasecmp(h, "Connection:", 11) && strcasestr(h, "close") && strcasestr(h, "close") < next) close_after = 1;
            h = next + 2;
        }
        if (content_length < 0) content_length = 0;
        if (!memmem(buf, line_len, "HTTP/1.1", 8)) close_after = 1;
        char *q = memmem(buf, line_len, "size=", 5);
        if (q) pad = (size_t)strtoul(q + 5, NULL, 10);
        if (pad > 16 * 1024 * 1024) pad = 16 * 1024 * 1024;
        int health = line_len >= 12 && !strncmp(buf, "GET /healthz", 12);

        /* the reply */
        size_t cap = head_len + 512 + pad;
        char *body = malloc(cap);
        size_t blen;
        if (health) {
            blen = (size_t)snprintf(body, cap, "ok\n");
        } else {
            blen = (size_t)snprintf(body, cap, "pod: %s\nnamespace: %s\nip: %s\nnode: %s\n\n%.*s\n",
                                    env_or("POD_NAME", "unknown"), env_or("POD_NAMESPACE", "unknown"),
                                    env_or("POD_IP", "unknown"), env_or("NODE_NAME", "unknown"),
                                    (int)(head_len - 4), buf);
            if (pad > 0) { memset(body + blen, 'x', pad); blen += pad; }
        }
        char head[256];
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nX-Pod: %s\r\n%s\r\n",
                          blen, env_or("POD_NAME", "unknown"), close_after ? "Connection: close\r\n" : "");
        int failed = write_all(fd, head, (size_t)hl) || write_all(fd, body, blen);
        free(body);
        if (failed) goto done;

        /* drop the request body, keep what follows it */
        size_t consumed = head_len;
        long remaining = content_length;
        size_t in_buf = have - consumed;
        if ((long)in_buf >= remaining) {
            consumed += (size_t)remaining;
            remaining = 0;
        } else {
            remaining -= (long)in_buf;
            consumed = have;
        }
        memmove(buf, buf + consumed, have - consumed);
        have -= consumed;
        while (remaining > 0) {
            char sink[16384];
            ssize_t n = recv(fd, sink, remaining < (long)sizeof sink ? (size_t)remaining : sizeof sink, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) goto done;
            remaining -= n;
        }
        if (close_after) goto done;
    }
done:
    free(buf);
    close(fd);
    return NULL;
}

/* ---- tcp-echo ---- */

static void *tcp_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (write_all(fd, buf, (size_t)n)) break;
    }
    shutdown(fd, SHUT_WR);
    close(fd);
    return NULL;
}

static void serve(int port, void *(*handler)(void *)) {
    int lfd = listen_on(port);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    fprintf(stderr, "listening on :%d\n", port);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
            perror("accept");
            exit(1);
        }
        pthread_t t;
        if (pthread_create(&t, &attr, handler, (void *)(intptr_t)fd) != 0) close(fd);
    }
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "http-echo")) serve(atoi(env_or("PORT", "8080")), http_conn);
    if (argc >= 2 && !strcmp(argv[1], "tcp-echo")) serve(atoi(env_or("PORT", "9000")), tcp_conn);
    fprintf(stderr, "usage: mesh-sample http-echo|tcp-echo   (port from $PORT)\n");
    return 2;
}
