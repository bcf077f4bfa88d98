/*
 * log.h — one line per event on stderr: time, replica tag, level, text.
 *
 *   2026-11-21T10:00:00.123Z r1 INFO elected primary for epoch 4 (...)
 *
 * Or, after log_to_syslog(), to syslog(3) (facility LOG_DAEMON, levels
 * mapped to LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG) without the time:
 * "r1 INFO elected primary ...".
 * When stderr is systemd's journal (JOURNAL_STREAM names it), lines carry
 * that priority as a "<N>" prefix instead of the time.
 *
 * Levels below the configured one cost a comparison. Never log passwords
 * or tokens: log user names and opcode names only.
 */
#ifndef CHATD_LOG_H
#define CHATD_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* tag: e.g. "r1" (replica id) or "chat"; level: the most verbose shown. */
void log_init(const char *tag, enum log_level level);
/* From now on, lines go to syslog as ident (openlog), not to stderr. */
void log_to_syslog(const char *ident);
void log_set_level(enum log_level level);
int  log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Format a message into a caller's error buffer (err may be NULL or
 * errlen 0: then nothing is written). The one convention for "what went
 * wrong" strings returned by set-up functions. */
void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
