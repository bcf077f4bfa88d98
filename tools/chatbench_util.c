/*
 * chatbench_util.c — small services every chatbench mode uses: random
 * ids, progress notes, the replicas' limits, the timerfd that drives a
 * schedule between loop passes, and the pieces of the JSON results.
 */
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include "chatbench.h"

uint64_t
cb_random_u64(void)
{
	uint64_t v = 0;
	size_t got = 0;
	ssize_t n;

	while (got < sizeof v) {
		n = getrandom((char *)&v + got, sizeof v - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "chatbench: getrandom: %s\n",
			    strerror(errno));
			exit(1);
		}
		got += (size_t)n;
	}
	return v;
}

uint64_t
cb_random_id(void)
{
	uint64_t v;

	do
		v = cb_random_u64();
	while (v == 0);
	return v;
}

void
cb_note(const struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (b->quiet)
		return;
	fputs("chatbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cb_check_limits(const struct config *cfg, unsigned conns, unsigned window)
{
	if (conns >= cfg->max_clients) {
		fprintf(stderr, "chatbench: %u connections: the replicas' "
		    "max_clients is %u\n", conns, cfg->max_clients);
		return -1;
	}
	if (window > cfg->max_inflight) {
		fprintf(stderr, "chatbench: window %u is over the replicas' "
		    "max_inflight %u\n", window, cfg->max_inflight);
		return -1;
	}
	return 0;
}

void
cb_raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- the schedule's timerfd --------------------------------------------- */

int
cb_open_timerfd(struct bench *b, void (*fn)(int fd, void *ud), void *ud)
{
	b->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (b->tfd < 0 || loop_watch(b->l, b->tfd, fn, ud) == NULL) {
		fprintf(stderr, "chatbench: timerfd: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Fire at the monotonic time at (ns). */
void
cb_arm_timerfd(const struct bench *b, uint64_t at)
{
	struct itimerspec its;

	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = (time_t)(at / NSEC);
	its.it_value.tv_nsec = (long)(at % NSEC);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(b->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

void
cb_close_loop(struct bench *b)
{
	loop_free(b->l);
	if (b->tfd >= 0)
		close(b->tfd);
}

/* ---- JSON --------------------------------------------------------------- */

/* The short commit of the working directory's checkout, or "". */
static void
git_commit(char *out, size_t n)
{
	FILE *f = popen("git rev-parse --short HEAD 2>/dev/null", "r");
	size_t i;

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, (int)n, f) == NULL)
		out[0] = '\0';
	pclose(f);
	for (i = 0; out[i]; i++)
		if (!((out[i] >= '0' && out[i] <= '9') ||
		    (out[i] >= 'a' && out[i] <= 'f')))
			break;
	out[i] = '\0';
}

FILE *
cb_json_open(const char *path, const char *how)
{
	FILE *f = fopen(path, how);

	if (f == NULL)
		fprintf(stderr, "chatbench: %s: %s\n", path, strerror(errno));
	return f;
}

void
cb_json_head(FILE *f, const char *mode, unsigned run)
{
	char commit[64], date[32];
	time_t t = time(NULL);
	struct tm tm;

	git_commit(commit, sizeof commit);
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "{\n  \"tool\": \"chatbench\",\n  \"mode\": \"%s\",\n",
	    mode);
	if (run)
		fprintf(f, "  \"run\": %u,\n", run);
	if (commit[0])
		fprintf(f, "  \"commit\": \"%s\",\n", commit);
	fprintf(f, "  \"date\": \"%s\",\n", date);
}

/* A JSON string (a host may come from a REDIRECT). */
void
cb_json_str(FILE *f, const char *p)
{
	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			fprintf(f, "\\u%04x", (unsigned)(unsigned char)*p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void
cb_json_codes(FILE *f, const uint64_t count[NERRCODES])
{
	unsigned i;
	int first = 1;

	for (i = 0; i < NERRCODES; i++) {
		if (count[i] == 0)
			continue;
		fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
		    wire_err_name((uint16_t)i), count[i]);
		first = 0;
	}
}

int
cb_json_close(FILE *f, const char *path)
{
	if (fclose(f) != 0) {
		fprintf(stderr, "chatbench: %s: write failed\n", path);
		return -1;
	}
	return 0;
}
