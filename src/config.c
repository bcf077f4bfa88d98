/*
 * config.c — parse replicas.conf.
 *
 * Design: the text is read one line at a time into a fixed stack buffer
 * (lines over CONFIG_MAX_LINE bytes are an error), a trailing '\r' and
 * anything from '#' on are dropped, and the rest is split on spaces and
 * tabs. A line is either "replica ID HOST CLIENT_PORT INTERNAL_PORT" or
 * "KEY VALUE", where KEY is looked up in the settings table below. That
 * table is the only list of settings: config_defaults, the parser and
 * config_print_settings all walk it. The first error stops parsing and is
 * reported as "NAME:LINE: what"; checks that need the whole file are
 * reported as "NAME: what". No global mutable state, no allocation except
 * the read buffer in config_load. Input is untrusted: every byte sequence
 * must be handled without reading past the terminating NUL.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"

#define CONFIG_MAX_LINE	4096		/* bytes, without the line ending */
#define CONFIG_MAX_FILE	(1024 * 1024)	/* config_load refuses larger files */
#define MAX_TOKENS	6		/* enough to see "too many words" */
#define PORT_MAX	65535UL
#define ID_MAX		65535UL

enum setting_kind {
	SET_UNSIGNED,	/* decimal digits, min..max */
	SET_PATH,	/* one word, < CONFIG_MAX_PATH bytes */
	SET_BOOL,	/* one of two words: yes (1) or no (0) */
};

struct setting {
	const char	   *name;
	enum setting_kind   kind;
	size_t		    off;	/* offsetof(struct config, field) */
	unsigned long	    min, max;	/* SET_UNSIGNED */
	unsigned long	    def;	/* SET_UNSIGNED, SET_BOOL */
	const char	   *defstr;	/* SET_PATH default */
	const char	   *yes, *no;	/* SET_BOOL words for 1 and 0 */
	const char	   *doc;
};

#define UNS(n, lo, hi, d, doc) \
	{ #n, SET_UNSIGNED, offsetof(struct config, n), lo, hi, d, NULL, \
	  NULL, NULL, doc }
#define PATH(n, d, doc) \
	{ #n, SET_PATH, offsetof(struct config, n), 0, 0, 0, d, NULL, NULL, \
	  doc }
#define BOOL(n, field, y, no, d, doc) \
	{ #n, SET_BOOL, offsetof(struct config, field), 0, 1, d, NULL, y, no, \
	  doc }

static const struct setting settings[] = {
	UNS(heartbeat_ms, 1, 60000, 50,
	    "heartbeat period on internal links"),
	UNS(election_timeout_ms, 2, 600000, 500,
	    "silence before a backup starts an election"),
	UNS(client_timeout_ms, 100, 600000, 2000,
	    "the client declares a silent server dead after this"),
	UNS(hello_timeout_ms, 100, 600000, 5000,
	    "a connection must send HELLO within this"),
	UNS(idle_timeout_ms, 1000, 86400000, 300000,
	    "unauthenticated connection idle limit"),
	UNS(max_clients, 1, 1000000, 20000,
	    "client connections per replica"),
	UNS(max_output_kb, 64, 1048576, 4096,
	    "per-connection output buffer cap"),
	UNS(max_inflight, 1, 65535, 256,
	    "requests in flight per connection"),
	UNS(session_ttl_s, 10, 31536000, 3600,
	    "session token lifetime, slides with use"),
	UNS(min_isr, 1, CONFIG_MAX_REPLICAS, 1,
	    "acks needed to commit, including the primary"),
	UNS(log_keep, 0, 100000000, 100000,
	    "log records kept behind the prune point"),
	BOOL(sync, sync_full, "full", "normal", 1,
	     "database synchronous mode"),
	PATH(data_dir, "data",
	     "directory for the database"),
	PATH(key_file, "",
	     "cluster key file; empty means DATA_DIR/cluster.key"),
};

#undef UNS
#undef PATH
#undef BOOL

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

struct parser {
	struct config  *c;
	const char     *name;
	unsigned long	line;
	char	       *err;
	size_t		errlen;
	bool		seen[NSETTINGS];
};

static void perr(struct parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Format "NAME:LINE: " plus the message into p->err. */
static void
perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return;
	n = snprintf(p->err, p->errlen, "%s:%lu: ", p->name, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * Parse s as plain decimal digits (no sign, no spaces, not empty) within
 * min..max. Returns 0 and sets *out, or -1.
 */
static int
parse_uint(const char *s, unsigned long min, unsigned long max,
	   unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;	/* also stops any overflow */
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

/*
 * A host is 1..CONFIG_MAX_HOST bytes of letters, digits, '-', '.', ':'
 * and '_': enough for DNS names, IPv4 and (unbracketed) IPv6 literals.
 */
static bool
host_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		char ch = s[n];

		if (n >= CONFIG_MAX_HOST)
			return false;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == ':' || ch == '_')
			continue;
		return false;
	}
	return n > 0;
}

/* True if some replica already uses (host, port) as either port. */
static bool
port_used(const struct config *c, const char *host, unsigned long port)
{
	unsigned i;

	for (i = 0; i < c->nreplicas; i++) {
		const struct replica_addr *r = &c->replicas[i];

		if (strcasecmp(r->host, host) != 0)
			continue;
		if (r->client_port == port || r->internal_port == port)
			return true;
	}
	return false;
}

/*
 * Handle "replica ID HOST CLIENT_PORT INTERNAL_PORT" (tok[0] is
 * "replica", ntok words in all). Returns 0, or -1 with the error set.
 */
static int
parse_replica(struct parser *p, char **tok, size_t ntok)
{
	struct config *c = p->c;
	struct replica_addr *r;
	unsigned long id, cport, iport;

	if (ntok != 5) {
		perr(p, "replica needs ID HOST CLIENT_PORT INTERNAL_PORT");
		return -1;
	}
	if (c->nreplicas >= CONFIG_MAX_REPLICAS) {
		perr(p, "too many replicas (max %d)", CONFIG_MAX_REPLICAS);
		return -1;
	}
	if (parse_uint(tok[1], 1, ID_MAX, &id) < 0) {
		perr(p, "bad replica id '%s' (1-%lu)", tok[1], ID_MAX);
		return -1;
	}
	if (!host_ok(tok[2])) {
		perr(p, "bad host '%s'", tok[2]);
		return -1;
	}
	if (parse_uint(tok[3], 1, PORT_MAX, &cport) < 0) {
		perr(p, "bad client port '%s' (1-%lu)", tok[3], PORT_MAX);
		return -1;
	}
	if (parse_uint(tok[4], 1, PORT_MAX, &iport) < 0) {
		perr(p, "bad internal port '%s' (1-%lu)", tok[4], PORT_MAX);
		return -1;
	}
	if (config_replica(c, (uint32_t)id) != NULL) {
		perr(p, "duplicate replica id %lu", id);
		return -1;
	}
	if (port_used(c, tok[2], cport)) {
		perr(p, "duplicate client port %lu", cport);
		return -1;
	}
	if (iport == cport || port_used(c, tok[2], iport)) {
		perr(p, "duplicate internal port %lu", iport);
		return -1;
	}

	r = &c->replicas[c->nreplicas++];
	memset(r, 0, sizeof(*r));
	r->id = (uint32_t)id;
	memcpy(r->host, tok[2], strlen(tok[2]) + 1);	/* host_ok: fits */
	r->client_port = (uint16_t)cport;
	r->internal_port = (uint16_t)iport;
	return 0;
}

/* The table index of the setting called name, or -1. */
static int
find_setting(const char *name)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Store the default of table entry s into c. */
static void
set_default(struct config *c, const struct setting *s)
{
	char *field = (char *)c + s->off;

	switch (s->kind) {
	case SET_UNSIGNED:
	case SET_BOOL:
		*(unsigned *)(void *)field = (unsigned)s->def;
		break;
	case SET_PATH:
		snprintf(field, CONFIG_MAX_PATH, "%s", s->defstr);
		break;
	}
}

/*
 * Store the text value v into the field of table entry s.
 * Returns 0, or -1 with the error set.
 */
static int
set_value(struct parser *p, const struct setting *s, const char *v)
{
	char *field = (char *)p->c + s->off;
	unsigned long u;
	size_t len;

	switch (s->kind) {
	case SET_UNSIGNED:
		if (parse_uint(v, s->min, s->max, &u) < 0) {
			perr(p, "bad value '%s' for %s (%lu-%lu)",
			     v, s->name, s->min, s->max);
			return -1;
		}
		*(unsigned *)(void *)field = (unsigned)u;
		return 0;
	case SET_BOOL:
		if (strcmp(v, s->yes) == 0)
			*(unsigned *)(void *)field = 1;
		else if (strcmp(v, s->no) == 0)
			*(unsigned *)(void *)field = 0;
		else {
			perr(p, "bad value '%s' for %s (%s|%s)",
			     v, s->name, s->yes, s->no);
			return -1;
		}
		return 0;
	case SET_PATH:
		len = strlen(v);
		if (len > CONFIG_MAX_PATH - 1) {
			perr(p, "path too long for %s", s->name);
			return -1;
		}
		memcpy(field, v, len + 1);
		return 0;
	}
	return -1;
}

/*
 * Handle "KEY VALUE" (ntok words in tok). Returns 0, or -1 with the
 * error set.
 */
static int
parse_setting(struct parser *p, char **tok, size_t ntok)
{
	int i = find_setting(tok[0]);

	if (i < 0) {
		perr(p, "unknown setting '%s'", tok[0]);
		return -1;
	}
	if (ntok != 2) {
		perr(p, "setting '%s' needs one value", tok[0]);
		return -1;
	}
	if (p->seen[i]) {
		perr(p, "duplicate setting '%s'", tok[0]);
		return -1;
	}
	p->seen[i] = true;
	return set_value(p, &settings[i], tok[1]);
}

/*
 * Split s in place into words separated by spaces and tabs. Stores at
 * most max word pointers in tok but returns the number of words found.
 */
static size_t
split(char *s, char **tok, size_t max)
{
	size_t n = 0;

	/* '\r' is a blank too: a line may end in several (a file edited on
	 * two systems), and none may end up inside a value such as a path. */
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '\0')
			return n;
		if (n < max)
			tok[n] = s;
		n++;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r')
			s++;
		if (*s == '\0')
			return n;
		*s++ = '\0';
	}
}

/*
 * Parse one line (line ending already removed, NUL-terminated, may be
 * modified). Returns 0, or -1 with the error set.
 */
static int
parse_line(struct parser *p, char *line)
{
	char *tok[MAX_TOKENS];
	char *hash;
	size_t ntok;

	if ((hash = strchr(line, '#')) != NULL)
		*hash = '\0';
	ntok = split(line, tok, MAX_TOKENS);
	if (ntok == 0)
		return 0;
	if (strcmp(tok[0], "replica") == 0)
		return parse_replica(p, tok, ntok);
	return parse_setting(p, tok, ntok);
}

/* Checks that need the whole file. Returns 0, or -1 with the error set. */
static int
check_whole(const struct parser *p)
{
	const struct config *c = p->c;

	if (c->nreplicas == 0) {
		seterr(p->err, p->errlen, "%s: no replicas defined", p->name);
		return -1;
	}
	if (c->heartbeat_ms >= c->election_timeout_ms) {
		seterr(p->err, p->errlen, "%s: heartbeat_ms (%u) must be less "
		    "than election_timeout_ms (%u)", p->name,
		    c->heartbeat_ms, c->election_timeout_ms);
		return -1;
	}
	if (c->min_isr > c->nreplicas) {
		seterr(p->err, p->errlen, "%s: min_isr (%u) is larger than the "
		    "number of replicas (%u)", p->name, c->min_isr,
		    c->nreplicas);
		return -1;
	}
	return 0;
}

void
config_defaults(struct config *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NSETTINGS; i++)
		set_default(c, &settings[i]);
}

/*
 * Parse text line by line; see config.h. On error c holds whatever was
 * parsed before the bad line.
 */
int
config_parse(struct config *c, const char *name, const char *text,
	     char *err, size_t errlen)
{
	struct parser p;
	char line[CONFIG_MAX_LINE + 1];
	const char *s = text != NULL ? text : "";

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.name = name != NULL ? name : "config";
	p.err = err;
	p.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	config_defaults(c);

	for (p.line = 1;; p.line++) {
		size_t len = strcspn(s, "\n");
		size_t n = len;

		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > CONFIG_MAX_LINE) {
			perr(&p, "line too long");
			return -1;
		}
		memcpy(line, s, n);
		line[n] = '\0';
		if (parse_line(&p, line) < 0)
			return -1;
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	return check_whole(&p);
}

/*
 * Read at most CONFIG_MAX_FILE bytes of path into a fresh NUL-terminated
 * buffer. Returns it (caller frees), or NULL with the error set.
 */
static char *
read_file(const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t n;
	int e;

	if ((f = fopen(path, "r")) == NULL) {
		seterr(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CONFIG_MAX_FILE + 2)) == NULL) {
		fclose(f);
		seterr(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	errno = 0;
	n = fread(buf, 1, CONFIG_MAX_FILE + 1, f);
	e = errno;
	if (ferror(f)) {
		fclose(f);
		free(buf);
		seterr(err, errlen, "%s: cannot read: %s", path,
		    strerror(e != 0 ? e : EIO));
		return NULL;
	}
	fclose(f);
	if (n > CONFIG_MAX_FILE) {
		free(buf);
		seterr(err, errlen, "%s: file too large", path);
		return NULL;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		const char *nul = buf + strlen(buf), *q;
		unsigned long line = 1;

		for (q = buf; q < nul; q++)
			line += *q == '\n';
		free(buf);
		seterr(err, errlen, "%s:%lu: NUL byte in file", path, line);
		return NULL;
	}
	return buf;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	char *buf;
	int rc;

	config_defaults(c);
	if ((buf = read_file(path, err, errlen)) == NULL)
		return -1;
	rc = config_parse(c, path, buf, err, errlen);
	free(buf);
	return rc;
}

int
config_key_path(const struct config *c, char *out, size_t outlen)
{
	int n = c->key_file[0] ?
	    snprintf(out, outlen, "%s", c->key_file) :
	    snprintf(out, outlen, "%s/cluster.key", c->data_dir);

	return n >= 0 && (size_t)n < outlen ? 0 : -1;
}

const struct replica_addr *
config_replica(const struct config *c, uint32_t id)
{
	unsigned i;

	for (i = 0; i < c->nreplicas && i < CONFIG_MAX_REPLICAS; i++)
		if (c->replicas[i].id == id)
			return &c->replicas[i];
	return NULL;
}

/* One line per setting: name, range, default, doc. */
void
config_print_settings(FILE *f)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		char range[64], def[64];

		switch (s->kind) {
		case SET_UNSIGNED:
			snprintf(range, sizeof(range), "%lu-%lu", s->min,
			    s->max);
			snprintf(def, sizeof(def), "%lu", s->def);
			break;
		case SET_BOOL:
			snprintf(range, sizeof(range), "%s|%s", s->yes, s->no);
			snprintf(def, sizeof(def), "%s",
			    s->def ? s->yes : s->no);
			break;
		case SET_PATH:
		default:
			snprintf(range, sizeof(range), "path");
			snprintf(def, sizeof(def), "%s",
			    s->defstr[0] != '\0' ? s->defstr : "\"\"");
			break;
		}
		fprintf(f, "%-20s  %-13s  %-7s  %s\n", s->name, range, def,
		    s->doc);
	}
}
