/* tu_server.c - start and stop the real lutfuse server for tests. */
#include "tests/tu_server.h"

#include "tests/testutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *reader_main(void *arg)
{
    struct tu_server *s = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(s->err_fd, buf, sizeof buf);
        if (n <= 0) break;
        pthread_mutex_lock(&s->mu);
        char *nl = realloc(s->log, s->log_len + (size_t)n + 1);
        if (nl) {
            memcpy(nl + s->log_len, buf, (size_t)n);
            s->log_len += (size_t)n;
            nl[s->log_len] = 0;
            s->log = nl;
        }
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

char *tu_server_log(struct tu_server *s)
{
    pthread_mutex_lock(&s->mu);
    char *copy = strdup(s->log ? s->log : "");
    pthread_mutex_unlock(&s->mu);
    return copy;
}

int tu_server_start(struct tu_server *s, const char *args)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    int fds[2];
    if (pipe(fds) != 0) return -1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec %s serve --host 127.0.0.1 --port 0 %s", tu_lutfuse_bin(), args);
    s->pid = fork();
    if (s->pid < 0) return -1;
    if (s->pid == 0) {
        dup2(fds[1], 2);
        int devnull = open("/dev/null", 0);
        dup2(devnull, 0);
        dup2(devnull, 1);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    s->err_fd = fds[0];
    pthread_create(&s->reader, NULL, reader_main, s);
    for (int i = 0; i < 600; i++) {
        char *log = tu_server_log(s);
        const char *p = strstr(log, "listening on http://127.0.0.1:");
        if (p) s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
        free(log);
        if (s->port > 0) {
            snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
            return 0;
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

int tu_server_stop(struct tu_server *s, int sig, int timeout_s)
{
    int code = -1;
    if (s->pid > 0) {
        kill(s->pid, sig);
        for (int i = 0; i < timeout_s * 20; i++) {
            int st;
            if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
                code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                s->pid = 0;
                break;
            }
            struct timespec ts = {0, 50000000L};
            nanosleep(&ts, NULL);
        }
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
    }
    if (s->err_fd > 0) {
        pthread_join(s->reader, NULL);
        close(s->err_fd);
        s->err_fd = 0;
    }
    return code;
}

long tu_server_rss_kib(const struct tu_server *s)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
    FILE *f = s->pid > 0 ? fopen(path, "r") : NULL;
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

size_t tu_body_append(char *p, size_t sz, size_t n, void *ud)
{
    struct tu_body *b = ud;
    size_t len = sz * n;
    char *nd = realloc(b->data, b->len + len + 1);
    if (!nd) return 0; /* curl reports a write error */
    memcpy(nd + b->len, p, len);
    b->len += len;
    nd[b->len] = 0;
    b->data = nd;
    return len;
}

char *tu_server_metrics(const struct tu_server *s)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", s->base);
    struct tu_body b = {0};
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_body_append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200 || !b.data) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

double tu_metrics_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *line = text;
    while (line && *line) {
        if (!strncmp(line, name, n) && line[n] == ' ') return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line) line++;
    }
    return -1;
}
