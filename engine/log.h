/* log.h - leveled logging to stderr. The level is one of the few globals. */
#ifndef LF_LOG_H
#define LF_LOG_H

enum lf_log_level { LF_LOG_ERROR = 0, LF_LOG_WARN = 1, LF_LOG_INFO = 2, LF_LOG_DEBUG = 3 };

/* Set once at start-up (before threads start); default LF_LOG_WARN. */
void lf_log_set_level(enum lf_log_level level);
enum lf_log_level lf_log_get_level(void);

/* One line to stderr, prefixed with the level; a newline is added. Thread-safe
 * (one fprintf per line). */
void lf_log(enum lf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
