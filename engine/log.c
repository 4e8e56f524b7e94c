/* log.c - leveled logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static enum lf_log_level g_level = LF_LOG_WARN;

void lf_log_set_level(enum lf_log_level level)
{
    g_level = level;
}

enum lf_log_level lf_log_get_level(void)
{
    return g_level;
}

void lf_log(enum lf_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > g_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lutfuse: %s: %s\n", names[level], line);
}
