/*
 * wiredoc — the generated parts of wire/PROTOCOL.md, from wire/wire.def.
 *
 *   wiredoc                 print every generated region, with its markers
 *   wiredoc --update FILE   rewrite the generated regions of FILE in place
 *   wiredoc --check FILE    exit 1 if a region of FILE is stale or missing
 *
 * A region is the text between a line "<!-- BEGIN GENERATED: NAME -->" and
 * a line "<!-- END GENERATED: NAME -->"; everything outside the regions is
 * prose and is never touched. The tables come from the codec's descriptor
 * tables (wire_ops, wire_items, wire_errors), and the worked example is
 * written by the real encoder and checked by the real decoder, so the
 * document cannot describe a protocol the code does not speak. The output
 * is deterministic: no dates, paths or host names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wire.h"
#include "wiredesc.h"

#define BEGIN_MARK "<!-- BEGIN GENERATED: "
#define END_MARK   "<!-- END GENERATED: "
#define MARK_TAIL  " -->\n"
#define EN_DASH    "\xE2\x80\x93"


/* ---- shared rendering helpers ------------------------------------------ */

static void
flags_text(unsigned flags, char *out, size_t n)
{
	snprintf(out, n, "%s%s%s%s%s", flags & WIRE_F_AUTH ? "auth" : "",
	    (flags & WIRE_F_AUTH) && (flags & ~WIRE_F_AUTH) ? ", " : "",
	    flags & WIRE_F_MUTATES ? "mutates" : "",
	    (flags & WIRE_F_MUTATES) && (flags & WIRE_F_ANY) ? ", " : "",
	    flags & WIRE_F_ANY ? "any-replica" : "");
}

/* A heading's anchor as GitHub makes it (our names: A-Z 0-9 _ only). */
static const char *
anchor(const char *name, char *out, size_t n)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < n; i++)
		out[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] - 'A' + 'a' : name[i]);
	out[i] = '\0';
	return out;
}

/* The limits column, shared by the message and the item tables:
 * "1–32 bytes UTF-8", "32 bytes", "0–100 × MSG", "≥ 1", "0x0300–0x03FF". */
static void
field_limits(const struct wire_field *f, char *out, size_t n)
{
	unsigned long long lo = f->min, hi = f->max;
	char r[64], a[32];

	if (lo == hi)
		snprintf(r, sizeof r, "%llu", lo);
	else if (lo >= 0x100)
		snprintf(r, sizeof r, "0x%04llX" EN_DASH "0x%04llX", lo, hi);
	else
		snprintf(r, sizeof r, "%llu" EN_DASH "%llu", lo, hi);
	if (f->type == WT_STR)
		snprintf(out, n, "%s bytes UTF-8", r);
	else if (f->type == WT_BYTES)
		snprintf(out, n, "%s bytes", r);
	else if (f->type == WT_LIST)
		snprintf(out, n, "%s \xC3\x97 [%s](#%s)", r, f->item->name,
		    anchor(f->item->name, a, sizeof a));
	else if (hi == type_max(f->type) && lo == 0)
		out[0] = '\0';		/* the type's full range */
	else if (hi == type_max(f->type))
		snprintf(out, n, "\xE2\x89\xA5 %llu", lo);	/* ≥ lo */
	else
		snprintf(out, n, "%s", r);
}

/* Text for a table cell or a sentence: first letter upper case, '|'
 * escaped. */
static void
put_text(FILE *o, const char *s, int capital)
{
	if (capital && *s >= 'a' && *s <= 'z')
		fputc(*s++ - 'a' + 'A', o);
	for (; *s; s++)
		if (*s == '|')
			fputs("\\|", o);
		else
			fputc(*s, o);
}

static void
field_table(FILE *o, const struct wire_struct *s)
{
	char lim[192];
	unsigned i;

	if (s->nfields == 0) {
		fputs("Empty payload.\n", o);
		return;
	}
	fputs("| # | field | type | limits | meaning |\n"
	    "|---|---|---|---|---|\n", o);
	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];

		field_limits(f, lim, sizeof lim);
		fprintf(o, "| %u | `%s` | %s | %s | ", i + 1, f->name,
		    type_names[f->type], lim);
		put_text(o, f->doc, 0);
		fputs(" |\n", o);
	}
}

/* ---- the tables -------------------------------------------------------- */

#define LIMIT(n, doc) { #n, (uint64_t)(n), doc }
static const struct { const char *name; uint64_t value; const char *doc; }
limits[] = {
	LIMIT(WIRE_VERSION_MIN, "lowest protocol version spoken"),
	LIMIT(WIRE_VERSION_MAX, "highest protocol version spoken"),
	LIMIT(WIRE_HEADER_SIZE, "bytes in a frame header"),
	LIMIT(WIRE_MAX_REQUEST, "largest payload, client port, client to "
	    "server"),
	LIMIT(WIRE_MAX_PAYLOAD_CLIENT, "largest payload, client port, server "
	    "to client"),
	LIMIT(WIRE_MAX_PAYLOAD_INTERNAL, "largest payload, internal port, "
	    "both ways"),
	LIMIT(CHAT_MAX_USERNAME, "user name, bytes"),
	LIMIT(CHAT_MAX_FULLNAME, "full name, bytes"),
	LIMIT(CHAT_MAX_PASSWORD, "password, bytes"),
	LIMIT(CHAT_MAX_BODY, "message or draft text, bytes"),
	LIMIT(CHAT_MAX_PATTERN, "USERS glob pattern, bytes"),
	LIMIT(CHAT_TOKEN_BYTES, "session token, bytes"),
	LIMIT(CHAT_MAX_PWHASH, "stored password hash string, bytes"),
	LIMIT(CHAT_MAX_ERRTEXT, "error, reason and status texts, bytes"),
	LIMIT(CHAT_MAX_HOST, "host name, bytes"),
	LIMIT(CHAT_MAX_IDS, "message ids in one MARK_READ or DELETE"),
	LIMIT(CHAT_MAX_PAGE, "items in one page or list response"),
	LIMIT(WIRE_MAX_RECORDS, "records in one APPEND"),
	LIMIT(WIRE_MAX_RECORD, "one record's payload, bytes"),
	LIMIT(WIRE_MAX_REPLY, "one stored reply payload, bytes"),
	LIMIT(WIRE_MAX_CHUNK, "one snapshot chunk, bytes"),
	LIMIT(WIRE_MAX_REPLICAS, "replicas in a cluster"),
};

static void
gen_limits(FILE *o)
{
	size_t i;

	fputs("| constant | value | meaning |\n|---|---|---|\n", o);
	for (i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		unsigned long long v = limits[i].value;

		fprintf(o, "| `%s` | %llu", limits[i].name, v);
		if (v >= 1048576 && v % 1048576 == 0)
			fprintf(o, " (%llu MiB)", v >> 20);
		else if (v >= 1024 && v % 1024 == 0)
			fprintf(o, " (%llu KiB)", v >> 10);
		fprintf(o, " | %s |\n", limits[i].doc);
	}
}

static void
gen_opcodes(FILE *o)
{
	char fl[64], a[32];
	unsigned i;

	fputs("| opcode | name | port | direction | flags | summary |\n"
	    "|---|---|---|---|---|---|\n", o);
	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];

		flags_text(d->flags, fl, sizeof fl);
		fprintf(o, "| 0x%04X | [%s](#0x%04x-%s) | %s | %s | %s | ",
		    d->opcode, d->name, d->opcode, anchor(d->name, a, sizeof a),
		    port_names[d->port], dir_names[d->dir], fl);
		put_text(o, d->doc, 0);
		fputs(" |\n", o);
	}
}


static void
gen_messages(FILE *o)
{
	char fl[64];
	unsigned i;

	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];
		unsigned long long max = d->body.max_encoded,
		    lim = wire_payload_limit(d);

		flags_text(d->flags, fl, sizeof fl);
		fprintf(o, "%s### 0x%04X %s\n\n", i ? "\n" : "", d->opcode,
		    d->name);
		put_text(o, d->doc, 1);
		fprintf(o, ".\n\nPort: %s. Direction: %s. Flags: %s. Largest "
		    "payload: %llu bytes", port_names[d->port],
		    dir_names[d->dir], fl[0] ? fl : "none", max);
		if (max > lim)
			fprintf(o, ", more than the frame limit of %llu: the "
			    "sender stops adding list items before that", lim);
		fputs(".\n\n", o);
		field_table(o, &d->body);
	}
}

static void
gen_items(FILE *o)
{
	static const char *const docs[] = {
#define ITEM_DOC(NAME, doc) doc,
		WIRE_ITEMS(ITEM_DOC)
	};
	unsigned i;

	for (i = 0; i < wire_nitems; i++) {
		fprintf(o, "%s### %s\n\n", i ? "\n" : "", wire_items[i].name);
		put_text(o, docs[i], 1);
		fprintf(o, "; at most %llu bytes.\n\n",
		    (unsigned long long)wire_items[i].max_encoded);
		field_table(o, &wire_items[i]);
	}
}

static void
gen_errors(FILE *o)
{
	unsigned i;

	fputs("| code | name | meaning |\n|---|---|---|\n", o);
	for (i = 0; i < wire_nerrors; i++) {
		fprintf(o, "| %u | %s | ", wire_errors[i].code,
		    wire_errors[i].name);
		put_text(o, wire_errors[i].doc, 0);
		fputs(" |\n", o);
	}
}

/* ---- the worked example ------------------------------------------------ */

static uint64_t
get_uint(const uint8_t *p, size_t w)
{
	return w == 1 ? p[0] : w == 2 ? get_be16(p) : w == 4 ? get_be32(p) :
	    get_be64(p);
}

/* One dump line: offset, bytes (8 a line), name and value on the first. */
static void
dump_line(FILE *o, size_t off, const uint8_t *p, size_t n, const char *name,
	  const char *value)
{
	size_t k;

	for (k = 0; k < n; k++) {
		if (k % 8 == 0)
			fprintf(o, "%s%6zu ", k ? "\n" : "", off + k);
		fprintf(o, " %02x", p[k]);
		if (k == (n < 8 ? n : 8) - 1)
			fprintf(o, "%*s  %-16s %s", (int)(7 - k) * 3, "", name,
			    value);
	}
	fputs("\n", o);
}

/* The encoded fields of s from *pos: integers, length/count prefixes,
 * string and byte contents, list items, each on its own line. */
static void
dump_fields(FILE *o, const struct wire_struct *s, const uint8_t *f,
	    size_t *pos, const char *prefix)
{
	char name[64], val[128];
	unsigned i;
	size_t k;

	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *fd = &s->fields[i];
		const uint8_t *p = f + *pos;
		size_t w = fd->type <= WT_U64 ? (size_t)1 << fd->type :
		    fd->type == WT_BYTES ? 4 : 2;
		uint64_t n = get_uint(p, w);

		snprintf(name, sizeof name, "%s%s%s", prefix, fd->name,
		    fd->type <= WT_U64 ? "" : fd->type == WT_LIST ? ".count" :
		    ".len");
		snprintf(val, sizeof val, "%llu", (unsigned long long)n);
		dump_line(o, *pos, p, w, name, val);
		*pos += w;
		if (fd->type == WT_LIST) {
			for (k = 0; k < n; k++) {
				snprintf(name, sizeof name, "%s%s[%zu].",
				    prefix, fd->name, k);
				dump_fields(o, fd->item, f, pos, name);
			}
		} else if (fd->type >= WT_STR && n > 0) {
			snprintf(name, sizeof name, "%s%s", prefix, fd->name);
			if (fd->type == WT_STR)
				snprintf(val, sizeof val, "\"%.*s\"", (int)n,
				    (const char *)p + w);
			else
				snprintf(val, sizeof val, "(%zu bytes)",
				    (size_t)n);
			dump_line(o, *pos, p + w, (size_t)n, name, val);
			*pos += (size_t)n;
		}
	}
}

/* Encode msg as a frame and print it annotated, then whole. */
static void
dump_frame(FILE *o, const char *title, uint16_t op, uint32_t rid,
	   const void *msg)
{
	static const struct { size_t off, w; const char *name; } hdr[] = {
		{ 0, 2, "magic" }, { 2, 1, "version" }, { 3, 1, "flags" },
		{ 4, 2, "opcode" }, { 6, 4, "request_id" }, { 10, 4, "length" },
	};
	const struct wire_opdesc *d = wire_op(op);
	struct wire_decode_error err;
	size_t pos = WIRE_HEADER_SIZE, i;
	void *back = malloc(d->body.size);
	char val[64];
	struct buf b;

	buf_init(&b);
	wire_encode(&b, op, rid, msg);
	if (back == NULL || wire_decode(d, b.data + pos, b.len - pos, back,
	    &err) < 0) {
		fprintf(stderr, "wiredoc: the example %s does not decode\n",
		    d->name);
		exit(1);
	}
	free(back);
	fprintf(o, "%s\n\n```\n%-8s%-25s%-17s%s\n", title, "offset", "bytes",
	    "field", "value");
	for (i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
		unsigned long long v = get_uint(b.data + hdr[i].off, hdr[i].w);

		if (i == 0 || i == 3)
			snprintf(val, sizeof val, "0x%04llX %s", v,
			    i == 3 ? d->name : "(\"CD\")");
		else
			snprintf(val, sizeof val, "%llu", v);
		dump_line(o, hdr[i].off, b.data + hdr[i].off, hdr[i].w,
		    hdr[i].name, val);
	}
	dump_fields(o, &d->body, b.data, &pos, "");
	fprintf(o, "\nwhole frame, %zu bytes:\n", b.len);
	for (i = 0; i < b.len; i++)
		fprintf(o, "%02x%c", b.data[i],
		    i % 16 == 15 || i + 1 == b.len ? '\n' : ' ');
	fputs("```\n", o);
	buf_free(&b);
}

static void
gen_example(FILE *o)
{
	struct wire_HELLO ch = { .version_min = WIRE_VERSION_MIN,
	    .version_max = WIRE_VERSION_MAX, .kind = 1, .software = "chat 0.1" };
	struct wire_HELLO sh = { .version_min = WIRE_VERSION_MAX,
	    .version_max = WIRE_VERSION_MAX, .kind = 2, .replica_id = 1,
	    .software = "chatd 0.1" };
	struct wire_SEND send = { .client_id = 0x1122334455667788ull,
	    .seq = 1, .to = "bob", .body = "hi" };
	struct wire_SENT sent = { .id = 42, .sent_at = 1767225600000ull };

	dump_frame(o, "1. Client to server: HELLO with request id 1, "
	    "versions 1 to 1, kind 1 (client), no nonce.", WIRE_OP_HELLO, 1,
	    &ch);
	dump_frame(o, "\n2. Server to client: HELLO echoing request id 1: "
	    "chosen version 1, kind 2 (replica), replica id 1.",
	    WIRE_OP_HELLO, 1, &sh);
	dump_frame(o, "\n3. Client to server, once logged in (LOGIN not "
	    "shown): SEND with request id 7, client_id 0x1122334455667788, "
	    "seq 1, to \"bob\", body \"hi\".", WIRE_OP_SEND, 7, &send);
	dump_frame(o, "\n4. Server to client, once the message is durable: "
	    "SENT echoing request id 7, message id 42, sent_at "
	    "1767225600000 (2026-01-01T00:00:00Z).", WIRE_OP_SENT, 7, &sent);
}

/* ---- regions and files ------------------------------------------------- */

static const struct region {
	const char *name;
	void (*gen)(FILE *);
} regions[] = {
	{ "limits", gen_limits }, { "opcodes", gen_opcodes },
	{ "messages", gen_messages }, { "items", gen_items },
	{ "errors", gen_errors }, { "example", gen_example },
};
#define NREGIONS (sizeof regions / sizeof regions[0])

/* A region's text between its marker lines: blank line, content, blank
 * line. The caller frees it. */
static char *
render(const struct region *r)
{
	char *s = NULL;
	size_t n = 0;
	FILE *o = open_memstream(&s, &n);

	if (o == NULL) {
		perror("wiredoc: open_memstream");
		exit(1);
	}
	fputs("\n", o);
	r->gen(o);
	fputs("\n", o);
	fclose(o);
	return s;
}

/* The whole file as a string (pipes work too); NULL after a message. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	size_t cap = 0;
	int ok = f && getdelim(&s, &cap, '\0', f) >= 0 && !ferror(f) &&
	    fgetc(f) == EOF;

	if (!ok) {
		if (f && !ferror(f))
			fprintf(stderr, "%s: empty, or contains a NUL byte\n",
			    path);
		else
			perror(path);
		free(s);
		s = NULL;
	}
	if (f)
		fclose(f);
	return s;
}

static unsigned
line_of(const char *text, const char *p)
{
	unsigned line = 1;

	for (; text < p; text++)
		line += *text == '\n';
	return line;
}

/*
 * Go through text region by region; with out, write the text with fresh
 * regions to it, else report each stale region. Returns how many regions
 * are missing or (without out) stale, or -1 when the markers are broken
 * (an unknown name, a region twice, no END line): then write nothing.
 */
static int
process(const char *path, const char *text, FILE *out)
{
	int seen[NREGIONS] = { 0 }, bad = 0;
	const char *p = text, *b, *q, *name, *body, *e;
	char end[64], *fresh;
	size_t i, len, k;

	for (; (b = strstr(p, BEGIN_MARK)) != NULL; p = e) {
		name = b + strlen(BEGIN_MARK);
		len = strcspn(name, " \n");
		if (b != text && b[-1] != '\n') {	/* not at a line start */
			if (out)
				fwrite(p, 1, (size_t)(name - p), out);
			e = name;
			continue;
		}
		for (i = 0; i < NREGIONS; i++)
			if (strncmp(regions[i].name, name, len) == 0 &&
			    regions[i].name[len] == '\0')
				break;
		e = q = body = NULL;
		if (i < NREGIONS && !seen[i] &&
		    strncmp(name + len, MARK_TAIL, strlen(MARK_TAIL)) == 0) {
			body = name + len + strlen(MARK_TAIL);
			snprintf(end, sizeof end, "\n" END_MARK "%s" MARK_TAIL,
			    regions[i].name);
			e = strstr(body - 1, end);
			q = strstr(body, BEGIN_MARK);
		}
		if (e == NULL || (q != NULL && q < e)) {
			fprintf(stderr, "%s:%u: bad generated region \"%.*s\": "
			    "unknown, repeated, or without its END line\n",
			    path, line_of(text, name), (int)len, name);
			return -1;
		}
		seen[i] = 1;
		e++;	/* the END line starts after the newline */
		fresh = render(&regions[i]);
		for (k = 0; body + k < e && fresh[k] == body[k]; k++)
			;
		if (!out && (body + k != e || fresh[k] != '\0')) {
			fprintf(stderr, "%s:%u: generated region \"%s\" differs "
			    "from what wire/wire.def gives\n", path,
			    line_of(text, body + k), regions[i].name);
			bad++;
		}
		if (out) {
			fwrite(p, 1, (size_t)(body - p), out);
			fputs(fresh, out);
		}
		free(fresh);
	}
	if (out)
		fputs(p, out);
	for (i = 0; i < NREGIONS; i++)
		if (!seen[i]) {
			fprintf(stderr, "%s: generated region \"%s\" is missing "
			    "(add its BEGIN and END marker lines)\n", path,
			    regions[i].name);
			bad++;
		}
	return bad;
}

/* --check (update 0) or --update (1) of path; returns the exit status. */
static int
run(const char *path, int update)
{
	char *text = slurp(path), *out = NULL, tmp[4096];
	size_t n = 0;
	FILE *o = NULL, *f;
	int bad = -1, w = 0;

	if (text && (!update || (o = open_memstream(&out, &n)) != NULL)) {
		bad = process(path, text, o);
		if (o)
			fclose(o);
	}
	if (bad > 0 && !update)
		fprintf(stderr, "%s is out of date: run `make doc` and review "
		    "the diff\n", path);
	if (bad >= 0 && update && strcmp(out, text) != 0) {
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		if ((f = fopen(tmp, "wb")) != NULL) {
			w = fwrite(out, 1, n, f) == n;
			w = fclose(f) == 0 && w && rename(tmp, path) == 0;
		}
		if (f == NULL || !w) {
			perror(tmp);
			remove(tmp);
			bad = -1;
		} else {
			printf("%s: generated regions updated\n", path);
		}
	}
	free(text);
	free(out);
	return bad != 0;
}

int
main(int argc, char **argv)
{
	static const char usage[] =
	    "usage: wiredoc                 print the generated markdown\n"
	    "       wiredoc --update FILE   rewrite FILE's generated regions\n"
	    "       wiredoc --check FILE    exit 1 if a generated region of "
	    "FILE is stale or missing\n";
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		return fputs(usage, stdout) < 0;
	if (argc == 3 && (strcmp(argv[1], "--check") == 0 ||
	    strcmp(argv[1], "--update") == 0))
		return run(argv[2], argv[1][2] == 'u');
	if (argc != 1) {
		fputs(usage, stderr);
		return 2;
	}
	for (i = 0; i < NREGIONS; i++) {
		char *s = render(&regions[i]);

		printf(BEGIN_MARK "%s -->\n%s" END_MARK "%s -->\n\n",
		    regions[i].name, s, regions[i].name);
		free(s);
	}
	return 0;
}
