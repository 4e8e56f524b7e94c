/* testutil.c - shared helpers for the cmocka test programs. */
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_data_path(const char *rel)
{
    const char *root = getenv("LUTFUSE_TESTDATA");
    if (!root) root = "../shared/testdata";
    size_t n = strlen(root) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", root, rel);
    return p;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) != 0) goto fail;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) goto fail;
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) goto fail;
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

static char g_tmpdir[256];

static void tu_cleanup(void)
{
    if (!g_tmpdir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "testutil: could not remove %s\n", g_tmpdir);
}

char *tu_tmp_path(const char *name)
{
    if (!g_tmpdir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/lutfuse-test.XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(g_tmpdir)) return NULL;
        atexit(tu_cleanup);
    }
    size_t n = strlen(g_tmpdir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", g_tmpdir, name);
    return p;
}

const char *tu_lutfuse_bin(void)
{
    const char *b = getenv("LUTFUSE_BIN");
    return b ? b : "build/lutfuse";
}
