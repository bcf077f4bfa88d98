/*
 * log.c — see log.h. The whole line is formatted first and written with
 * one write(2) (or one syslog(3) call), so lines from the replicas of
 * `make run` never interleave mid-line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* syslog.h defines LOG_INFO and LOG_DEBUG too; take its priorities for
 * our levels (ERROR WARN INFO DEBUG, in log.h's order) before log.h
 * names its own. */
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
#undef LOG_INFO
#undef LOG_DEBUG

#include "log.h"

static char log_tag[32] = "chatd";
static enum log_level log_level = LOG_INFO;
static int log_syslog;
static int log_journal;		/* stderr is systemd's journal stream */

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

/*
 * systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connects to
 * stderr. When stderr is still that stream, a line may start with "<N>",
 * a syslog priority the journal takes as the line's level (sd-daemon(3));
 * the journal stamps the time itself.
 */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;

	return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &sb) == 0 && (unsigned long long)sb.st_dev ==
	    dev && (unsigned long long)sb.st_ino == ino;
}

void
log_init(const char *tag, enum log_level level)
{
	snprintf(log_tag, sizeof log_tag, "%s", tag);
	log_level = level;
	log_journal = stderr_is_journal();
}

void
log_to_syslog(const char *ident)
{
	/* LOG_NDELAY: connect now, before a chroot or sandbox could make
	 * /dev/log unreachable. */
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_enabled(enum log_level level)
{
	return level <= log_level;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n = 0, head;
	int k;

	if (!log_enabled(level))
		return;
	if (log_journal && !log_syslog) {
		k = snprintf(line, sizeof line, "<%d>", syslog_prio[level]);
		n = k > 0 ? (size_t)k : 0;
	} else if (!log_syslog) {	/* syslog stamps the time itself */
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
		k = snprintf(line + n, sizeof line - n, ".%03ldZ ",
		    ts.tv_nsec / 1000000);
		if (k > 0)
			n += (size_t)k;
	}
	k = snprintf(line + n, sizeof line - n, "%s %s ", log_tag,
	    level_names[level]);
	if (k > 0)
		n += (size_t)k;
	head = n;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	n += (size_t)k;
	if (n > sizeof line - 2)
		n = sizeof line - 2;	/* truncated: keep the newline */
	/* Text from clients (user names) ends up in messages: no control
	 * byte may forge a line break or a terminal escape in the log. */
	for (k = (int)head; k < (int)n; k++)
		if ((unsigned char)line[k] < 0x20 || line[k] == 0x7f)
			line[k] = '?';
	if (log_syslog) {
		line[n] = '\0';
		syslog(syslog_prio[level], "%s", line);
		return;
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
