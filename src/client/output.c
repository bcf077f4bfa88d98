/*
 * output.c — how things look: messages, receipts, users, drafts, status,
 * errors. Pure functions writing into a caller's buffer, so the exact
 * output the scripts rely on is unit-tested (tests/check_client.c).
 *
 * Text that came from other people (bodies, full names, server error
 * texts) goes through cli_escape: a control byte could otherwise move the
 * cursor, clear the screen or split one message over several lines, and
 * scripts depend on "one message, one line".
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "client.h"

/* Append to dst at *len, never past dstsz - 1, always NUL-terminated. */
static void add(char *dst, size_t dstsz, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
add(char *dst, size_t dstsz, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*len + 1 >= dstsz)
		return;
	va_start(ap, fmt);
	k = vsnprintf(dst + *len, dstsz - *len, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	*len += (size_t)k;
	if (*len > dstsz - 1)
		*len = dstsz - 1;
}

/* Append n bytes of src escaped. */
static void
add_escaped(char *dst, size_t dstsz, size_t *len, const char *src, size_t n,
	    int quote)
{
	if (*len + 1 >= dstsz)
		return;
	*len += cli_escape(dst + *len, dstsz - *len, src, n, quote);
}

size_t
cli_escape(char *dst, size_t dstsz, const char *src, size_t n, int quote)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (dstsz == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		char e[5];
		size_t k = 0;

		if (c == '\n') {
			e[k++] = '\\'; e[k++] = 'n';
		} else if (c == '\t') {
			e[k++] = '\\'; e[k++] = 't';
		} else if (c == '\r') {
			e[k++] = '\\'; e[k++] = 'r';
		} else if (c < 0x20 || c == 0x7f) {
			e[k++] = '\\'; e[k++] = 'x';
			e[k++] = hex[c >> 4]; e[k++] = hex[c & 15];
		} else if (quote && (c == '"' || c == '\\')) {
			e[k++] = '\\'; e[k++] = (char)c;
		} else {
			e[k++] = (char)c;
		}
		if (o + k >= dstsz)
			break;		/* no half escapes */
		memcpy(dst + o, e, k);
		o += k;
	}
	dst[o] = '\0';
	return o;
}

const char *
cli_role_name(unsigned role)
{
	switch (role) {
	case CLI_ROLE_STARTING:	return "starting";
	case CLI_ROLE_PRIMARY:	return "primary";
	case CLI_ROLE_BACKUP:	return "backup";
	case CLI_ROLE_ELECTING:	return "electing";
	case CLI_ROLE_WAITING:	return "waiting";
	}
	return "unknown";
}

void
cli_fmt_time(char *dst, size_t dstsz, uint64_t ms, int with_date)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (dstsz == 0)
		return;
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(dst, dstsz, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S",
	    &tm) == 0)
		snprintf(dst, dstsz, "?");
}

size_t
cli_fmt_msg(char *dst, size_t dstsz, const struct wire_item_MSG *m,
	    const char *me, int mark_read)
{
	char when[64];
	size_t len = 0;

	if (dstsz == 0)
		return 0;
	dst[0] = '\0';
	cli_fmt_time(when, sizeof when, m->sent_at, 1);
	add(dst, dstsz, &len, "#%llu %s %s -> %s: ", (unsigned long long)m->id,
	    when, m->from, m->to);
	add_escaped(dst, dstsz, &len, m->body, strlen(m->body), 0);
	if (mark_read && m->read_at != 0 && me != NULL &&
	    strcasecmp(m->from, me) == 0)
		add(dst, dstsz, &len, " (read)");
	return len;
}

size_t
cli_fmt_receipt(char *dst, size_t dstsz, uint64_t id, const char *reader,
		uint64_t read_at)
{
	char when[64];
	size_t len = 0;

	if (dstsz == 0)
		return 0;
	dst[0] = '\0';
	cli_fmt_time(when, sizeof when, read_at, 0);
	add(dst, dstsz, &len, "#%llu read by %s at %s",
	    (unsigned long long)id, reader, when);
	return len;
}

size_t
cli_fmt_user(char *dst, size_t dstsz, const struct wire_item_USER *u)
{
	size_t len = 0;

	if (dstsz == 0)
		return 0;
	dst[0] = '\0';
	add(dst, dstsz, &len, "%s", u->username);
	if (u->fullname[0] != '\0') {
		add(dst, dstsz, &len, " (");
		add_escaped(dst, dstsz, &len, u->fullname, strlen(u->fullname),
		    0);
		add(dst, dstsz, &len, ")");
	}
	add(dst, dstsz, &len, " %s", u->online ? "online" : "offline");
	return len;
}

size_t
cli_fmt_draft(char *dst, size_t dstsz, const struct wire_item_DRAFT *d)
{
	char when[64];
	size_t len = 0;

	if (dstsz == 0)
		return 0;
	dst[0] = '\0';
	cli_fmt_time(when, sizeof when, d->updated_at, 1);
	add(dst, dstsz, &len, "draft #%llu to %s (%s): ",
	    (unsigned long long)d->id, d->to, when);
	add_escaped(dst, dstsz, &len, d->body, strlen(d->body), 0);
	return len;
}

size_t
cli_fmt_status(char *dst, size_t dstsz, const struct wire_STATUS_INFO *s,
	       const uint32_t *isr, unsigned nisr)
{
	size_t len = 0;
	unsigned i;

	if (dstsz == 0)
		return 0;
	dst[0] = '\0';
	add(dst, dstsz, &len, "replica=%u role=%s primary=%u epoch=%llu",
	    (unsigned)s->replica_id, cli_role_name(s->role),
	    (unsigned)s->primary_id, (unsigned long long)s->epoch);
	add(dst, dstsz, &len, " lsn=%llu commit=%llu clients=%u",
	    (unsigned long long)s->last_lsn, (unsigned long long)s->commit_lsn,
	    (unsigned)s->clients);
	if (s->waiting_for != 0)
		add(dst, dstsz, &len, " waiting_for=%u", (unsigned)s->waiting_for);
	add(dst, dstsz, &len, " last_epoch=%llu isr=",
	    (unsigned long long)s->last_epoch);
	for (i = 0; i < nisr; i++)
		add(dst, dstsz, &len, "%s%u", i ? "," : "", (unsigned)isr[i]);
	add(dst, dstsz, &len, " uptime_ms=%llu note=\"",
	    (unsigned long long)s->uptime_ms);
	add_escaped(dst, dstsz, &len, s->note, strlen(s->note), 1);
	add(dst, dstsz, &len, "\"");
	return len;
}

/* What to say when the server gave no text (or for our own mapping). */
static const char *
error_meaning(uint16_t code)
{
	unsigned i;

	for (i = 0; i < wire_nerrors; i++)
		if (wire_errors[i].code == code)
			return wire_errors[i].doc;
	return NULL;
}

size_t
cli_fmt_error(char *dst, size_t dstsz, uint16_t code, const char *text)
{
	const char *meaning;
	size_t len = 0;

	if (dstsz == 0)
		return 0;
	dst[0] = '\0';
	if (text != NULL && text[0] != '\0') {
		add_escaped(dst, dstsz, &len, text, strlen(text), 0);
		return len;
	}
	meaning = error_meaning(code);
	if (meaning != NULL)
		add(dst, dstsz, &len, "%s", meaning);
	else
		add(dst, dstsz, &len, "error %u", (unsigned)code);
	return len;
}
