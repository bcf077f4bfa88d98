/*
 * fuzz_config.c — config_parse() on arbitrary text.
 *
 * The input, copied into an exact-size malloc'd buffer with a NUL added
 * (bytes after an embedded NUL are simply not part of the text, as for
 * config_parse's callers), is parsed. Checked:
 *   - the error message is NUL-terminated, starts with the file name, and
 *     is empty exactly when parsing succeeded;
 *   - on success the config keeps every promise of config.h: 1..16
 *     replicas with ids 1..65535, all distinct, non-empty hosts within
 *     CONFIG_MAX_HOST, non-zero ports, no (host, port) used twice, every
 *     setting within its range, heartbeat_ms < election_timeout_ms,
 *     min_isr <= replicas, paths NUL-terminated in their arrays;
 *   - on success, printing the config back as replicas.conf text and
 *     parsing that gives the same config (nothing is lost or invented);
 *   - config_replica() finds each replica by its id;
 *   - a 16-byte error buffer gets a terminated prefix of the message, and
 *     no buffer (NULL, 0) is fine: the same verdict either way;
 *   - config_load() of the same bytes (a memfd, as /proc/self/fd/N) agrees
 *     with config_parse(), except that a NUL byte must be refused as
 *     "PATH:LINE: NUL byte in file" with the line it is on.
 *
 * tests/fuzz/regress/config/data_dir-double-cr found that only one
 * trailing '\r' per line was dropped ("data_dir \r\r" gave the path
 * "\r", which no text can give back); fixed in 024560d.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

#define NAME "fuzz.conf"

/* Append printf output to the growing text *t (length *n, capacity *cap). */
static void
put(char **t, size_t *n, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
put(char **t, size_t *n, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(*t + *n, *cap - *n, fmt, ap);
		va_end(ap);
		if (k < 0)
			fz_fail("vsnprintf failed");
		if ((size_t)k < *cap - *n)
			break;
		*cap = 2 * *cap + (size_t)k;
		*t = realloc(*t, *cap);
		if (*t == NULL)
			fz_fail("out of memory");
	}
	*n += (size_t)k;
}

/* c as replicas.conf text (caller frees). */
static char *
print_config(const struct config *c)
{
	size_t n = 0, cap = 256;
	char *t = fz_malloc(cap);
	unsigned i;

	t[0] = '\0';
	for (i = 0; i < c->nreplicas; i++)
		put(&t, &n, &cap, "replica %u %s %u %u\n", c->replicas[i].id,
		    c->replicas[i].host, c->replicas[i].client_port,
		    c->replicas[i].internal_port);
	put(&t, &n, &cap, "heartbeat_ms %u\nelection_timeout_ms %u\n"
	    "client_timeout_ms %u\nhello_timeout_ms %u\nidle_timeout_ms %u\n"
	    "max_clients %u\nmax_output_kb %u\nmax_inflight %u\n"
	    "session_ttl_s %u\nmin_isr %u\nlog_keep %u\nsync %s\n",
	    c->heartbeat_ms, c->election_timeout_ms, c->client_timeout_ms,
	    c->hello_timeout_ms, c->idle_timeout_ms, c->max_clients,
	    c->max_output_kb, c->max_inflight, c->session_ttl_s, c->min_isr,
	    c->log_keep, c->sync_full ? "full" : "normal");
	/* An empty path cannot be written (a setting needs a value); it
	 * is then the default, which the reparse also gets. */
	if (c->data_dir[0] != '\0')
		put(&t, &n, &cap, "data_dir %s\n", c->data_dir);
	if (c->key_file[0] != '\0')
		put(&t, &n, &cap, "key_file %s\n", c->key_file);
	return t;
}

static int
in_range(unsigned v, unsigned lo, unsigned hi)
{
	return v >= lo && v <= hi;
}

static void
check_config(const struct config *c)
{
	unsigned i, j;

	if (!in_range(c->nreplicas, 1, CONFIG_MAX_REPLICAS))
		fz_fail("config: %u replicas", c->nreplicas);
	for (i = 0; i < c->nreplicas; i++) {
		const struct replica_addr *r = &c->replicas[i];
		size_t hl = strnlen(r->host, sizeof r->host);

		if (!in_range(r->id, 1, 65535) || hl == 0 ||
		    hl > CONFIG_MAX_HOST || r->client_port == 0 ||
		    r->internal_port == 0 ||
		    r->client_port == r->internal_port)
			fz_fail("config: bad replica %u (index %u)", r->id, i);
		if (config_replica(c, r->id) != r)
			fz_fail("config_replica(%u) does not find it", r->id);
		for (j = 0; j < i; j++) {
			const struct replica_addr *q = &c->replicas[j];

			if (q->id == r->id)
				fz_fail("config: duplicate id %u", r->id);
			if (strcasecmp(q->host, r->host) == 0 &&
			    (q->client_port == r->client_port ||
			    q->client_port == r->internal_port ||
			    q->internal_port == r->client_port ||
			    q->internal_port == r->internal_port))
				fz_fail("config: %s port used twice", r->host);
		}
	}
	if (!in_range(c->heartbeat_ms, 1, 60000) ||
	    !in_range(c->election_timeout_ms, 2, 600000) ||
	    !in_range(c->client_timeout_ms, 100, 600000) ||
	    !in_range(c->hello_timeout_ms, 100, 600000) ||
	    !in_range(c->idle_timeout_ms, 1000, 86400000) ||
	    !in_range(c->max_clients, 1, 1000000) ||
	    !in_range(c->max_output_kb, 64, 1048576) ||
	    !in_range(c->max_inflight, 1, 65535) ||
	    !in_range(c->session_ttl_s, 10, 31536000) ||
	    !in_range(c->min_isr, 1, CONFIG_MAX_REPLICAS) ||
	    !in_range(c->log_keep, 0, 100000000) ||
	    !in_range(c->sync_full, 0, 1))
		fz_fail("config: a setting is out of its range");
	if (c->heartbeat_ms >= c->election_timeout_ms ||
	    c->min_isr > c->nreplicas)
		fz_fail("config: whole-file checks not applied");
	if (strnlen(c->data_dir, sizeof c->data_dir) == sizeof c->data_dir ||
	    strnlen(c->key_file, sizeof c->key_file) == sizeof c->key_file)
		fz_fail("config: path not NUL-terminated");
}

/* Equal as configs (text compared up to its NUL). */
static int
same_config(const struct config *a, const struct config *b)
{
	unsigned i;

	if (a->nreplicas != b->nreplicas)
		return 0;
	for (i = 0; i < a->nreplicas; i++)
		if (a->replicas[i].id != b->replicas[i].id ||
		    strcmp(a->replicas[i].host, b->replicas[i].host) != 0 ||
		    a->replicas[i].client_port != b->replicas[i].client_port ||
		    a->replicas[i].internal_port !=
		    b->replicas[i].internal_port)
			return 0;
	return a->heartbeat_ms == b->heartbeat_ms &&
	    a->election_timeout_ms == b->election_timeout_ms &&
	    a->client_timeout_ms == b->client_timeout_ms &&
	    a->hello_timeout_ms == b->hello_timeout_ms &&
	    a->idle_timeout_ms == b->idle_timeout_ms &&
	    a->max_clients == b->max_clients &&
	    a->max_output_kb == b->max_output_kb &&
	    a->max_inflight == b->max_inflight &&
	    a->session_ttl_s == b->session_ttl_s &&
	    a->min_isr == b->min_isr && a->log_keep == b->log_keep &&
	    a->sync_full == b->sync_full &&
	    strcmp(a->data_dir, b->data_dir) == 0 &&
	    strcmp(a->key_file, b->key_file) == 0;
}

/* config_load() on the same bytes must agree with config_parse()'s rc,
 * config c and message err (for NAME). */
static void
check_load(const uint8_t *data, size_t size, int rc, const struct config *c,
	   const char *err)
{
	static struct config c2;
	static char path[64], err2[8192];
	static int fd = -1;
	const uint8_t *nul = memchr(data, 0, size);
	size_t pl;
	int rc2;

	if (fd < 0) {
		fd = memfd_create("fuzz.conf", 0);
		if (fd < 0)
			fz_fail("memfd_create failed");
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	pl = strlen(path);
	if (ftruncate(fd, 0) != 0 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		fz_fail("cannot write the memfd");
	rc2 = config_load(&c2, path, err2, sizeof err2);
	if (nul != NULL) {
		char want[128];
		unsigned long line = 1;
		const uint8_t *q;

		for (q = data; q < nul; q++)
			line += *q == '\n';
		snprintf(want, sizeof want, "%s:%lu: NUL byte in file", path,
		    line);
		if (rc2 != -1 || strcmp(err2, want) != 0)
			fz_fail("config_load: \"%s\" for a NUL on line %lu",
			    err2, line);
		return;
	}
	if (rc2 != rc)
		fz_fail("config_load: %d, config_parse: %d", rc2, rc);
	if (rc == 0 && !same_config(c, &c2))
		fz_fail("config_load gives another config than config_parse");
	if (rc != 0 && (strncmp(err2, path, pl) != 0 ||
	    strcmp(err2 + pl, err + strlen(NAME)) != 0))
		fz_fail("config_load: \"%s\", config_parse: \"%s\"", err2,
		    err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c, c2;	/* ~5 KiB each: off the stack */
	static char err[8192], err2[8192];
	char small[16];
	char *text = fz_malloc(size + 1), *again;
	size_t el;
	int rc;

	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 0x5A, sizeof err);
	rc = config_parse(&c, NAME, text, err, sizeof err);
	el = strnlen(err, sizeof err);
	if (rc != 0 && rc != -1)
		fz_fail("config_parse returned %d", rc);
	if (el == sizeof err)
		fz_fail("config_parse: error message not NUL-terminated");
	if (rc == 0 && el != 0)
		fz_fail("config_parse: success with an error \"%s\"", err);
	if (rc < 0 && (el == 0 || strncmp(err, NAME ":", strlen(NAME) + 1)
	    != 0))
		fz_fail("config_parse: error \"%s\" does not name the file",
		    err);
	memset(small, 0x5A, sizeof small);
	if (config_parse(&c2, NAME, text, small, sizeof small) != rc ||
	    strnlen(small, sizeof small) == sizeof small ||
	    strncmp(small, err, strlen(small)) != 0 ||
	    (el >= sizeof small && strlen(small) != sizeof small - 1))
		fz_fail("config_parse with a 16-byte error buffer");
	if (config_parse(&c2, NULL, text, NULL, 0) != rc)
		fz_fail("config_parse without an error buffer");
	check_load(data, size, rc, &c, err);
	if (rc == 0) {
		check_config(&c);
		again = print_config(&c);
		if (config_parse(&c2, NAME, again, err2, sizeof err2) != 0)
			fz_fail("config_parse: printed config does not parse: "
			    "%s\n%s", err2, again);
		if (!same_config(&c, &c2))
			fz_fail("config_parse: printed config parses "
			    "differently:\n%s", again);
		free(again);
	}
	free(text);
	return 0;
}
