/*
 * wirefuzz — fuzz the chatd wire protocol (wire/PROTOCOL.md).
 *
 *   tools/wirefuzz (--addr HOST:PORT | -c replicas.conf -i ID) [options]
 *   tools/wirefuzz --serve PORT [options]     a hostile server for ./chat
 *
 * Every frame comes from the protocol table (wire_ops[] and wire_items[],
 * expanded from wire/wire.def); nothing is written per opcode. A field is
 * made from its type and limits: a typical value, a value at a limit, or
 * one just past them (max+1 bytes, min-1, invalid UTF-8, an embedded NUL,
 * a length running past the frame, one list item too many, a bad item,
 * trailing bytes). The generator knows which rule of §3 such a payload
 * breaks first, hence which ERROR it must get, and checks that the
 * project's decoder agrees.
 *
 * --connections threads each run episodes, one connection apiece: HELLO
 * (or not), a batch of frames of every class (valid, boundary, mutated,
 * wrong-port, out-of-order, random; dripped a byte per write; abandoned
 * half-way), then a PING whose PONG closes the batch. On the client port
 * every frame that leaves the stream parseable has a predicted answer
 * (§4.3: UNKNOWN_OPCODE, WRONG_PORT, BAD_REQUEST, the decode error,
 * NOT_LOGGED_IN, PONG, or exactly one answer), every frame received must
 * decode, and a framing error (§2.3) must close the connection; some
 * batches run with a session (RESUME of the thread's own user). On the
 * internal port a connection without the cluster key must be refused.
 * Departures from the spec are "deviations": counted by kind, the first of
 * each kind shown with its frame.
 *
 * Every --canary-every frames the main thread checks that the replica
 * answers STATUS, then user canary-SEED (its session, following REDIRECT)
 * sends itself a numbered message and FETCHes its whole view: every canary
 * message of this run must be there once, with its id and body.
 *
 * Deterministic for a seed, up to the replica's answers and timing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "config.h"
#include "wire.h"

#define MAX_CONNS   64
#define BATCH_MAX   80		/* frames in a batch (< max_inflight) */
#define MAX_EXPECT  (BATCH_MAX + 4)
#define SLOW_EVERY  1000	/* frames between two that cost an Argon2 hash */
#define ANSWER_MS   10000	/* a HELLO, a batch's PONG, a control answer */
#define CLOSE_MS    3000	/* a framing error or a refusal must close */
#define LIVE_MS     5000	/* STATUS must be answered within */
#define CANARY_MS   30000	/* one whole canary check */
#define CHECK_MS    10000	/* checks at least this often */
#define NCODES      64
#define MAX_DEVKIND 64
#define CANARY_PW   "canary-password-0"
#define FUZZ_PW     "fuzz-password-0"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum cls { C_VALID, C_BOUNDARY, C_MUTATED, C_WRONG, C_ORDER, C_RANDOM, C_DRIP,
	C_ABANDON, NCLS };
static const char *const cls_name[NCLS] = { "valid", "boundary", "mutated",
    "wrong-port", "out-of-order", "random", "drip", "abandoned" };
enum vmode { V_TYPICAL, V_MIN, V_MAX, V_BAD };	/* how to make a field */
enum xkind { X_ANY, X_ERR, X_NLI, X_PONG };	/* what must answer a frame */
enum brk { B_NONE, B_CLOSE, B_DESYNC };	/* what a frame does to the stream */

struct stats {		/* all uint64_t: merged as an array */
	uint64_t sent[NCLS], err[NCODES], closes, conns, answers, pushes;
	uint64_t hashes, devs, sessions;
};
struct expect { uint32_t rid, off, len; uint16_t op, code; uint8_t kind, done; };
struct link { int fd; struct buf in; uint32_t max_in; };
/* A control connection to a client port: follows REDIRECT. */
struct ctl { struct link lk; char host[CHAT_MAX_HOST + 1]; uint16_t port;
	struct buf pl; };
struct gen { uint64_t *rng; struct buf *b; uint64_t client_id, *seq, cap;
	uint16_t code; int stop; };
union any_msg {
#define ANY_MEMBER(NAME, num, port, dir, flags, doc) struct wire_##NAME NAME;
	WIRE_OPS(ANY_MEMBER)
};
struct worker {
	pthread_t th;
	atomic_int done;
	uint64_t rng, quota, sent, next_slow, client_id, seq;
	struct stats st;
	char user[CHAT_MAX_USERNAME + 1];
	uint8_t token[CHAT_TOKEN_BYTES];
	int have_token, registered, logged_in, maybe_logged, desync, fails;
	struct link lk;
	uint32_t rid;
	struct expect ex[MAX_EXPECT];
	unsigned nex;
	struct buf out, fr;
	union any_msg *msg;
	struct ctl ctl;
};

static struct {
	/* options */
	char host[CHAT_MAX_HOST + 1], chost[CHAT_MAX_HOST + 1];
	uint16_t port, cport, serve;	/* cport: the client port, if known */
	int internal, quiet, verbose, strict;
	uint64_t seed, frames;
	unsigned nconns, canary_every, nreplicas;
	/* opcode sets and the dictionary of strings */
	const struct wire_opdesc *own[128], *foreign[128], *authops[64];
	unsigned nown, nforeign, nauth, nwords;
	char words[MAX_CONNS + 12][48];
	/* the run */
	atomic_uint_fast64_t sent;
	atomic_int stop;
	pthread_mutex_t mu;
	struct stats st;
	struct { const char *fmt; uint64_t n; } dk[MAX_DEVKIND];
	unsigned ndk;
	/* canary */
	char cname[CHAT_MAX_USERNAME + 1], fail_why[400];
	uint64_t runid, cclient, cseq, *cids, *cseqs, epoch0, epoch1;
	uint8_t ctoken[CHAT_TOKEN_BYTES];
	unsigned cn, ccap, cpass, cfail, lpass, lfail, have_ctoken;
} F;

static volatile sig_atomic_t got_signal;

/* ---- small helpers ------------------------------------------------------- */

static uint64_t
rnd(uint64_t *s)			/* splitmix64 */
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}
static uint64_t below(uint64_t *s, uint64_t n) { return n ? rnd(s) % n : 0; }
static int chance(uint64_t *s, unsigned pct) { return below(s, 100) < pct; }

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
static void nap(int ms) { poll(NULL, 0, ms); }
static int
left_ms(uint64_t deadline)
{
	uint64_t n = now_ms();

	return n >= deadline ? 0 : (int)(deadline - n);
}

/* A departure from the spec, counted by kind (its format); the first of
 * each kind is shown (with -v, all), with the frame that caused it. */
static void deviation(struct stats *st, const uint8_t *fr, size_t len,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
deviation(struct stats *st, const uint8_t *fr, size_t len, const char *fmt, ...)
{
	char text[400];
	unsigned i;
	va_list ap;

	st->devs++;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&F.mu);
	for (i = 0; i < F.ndk && F.dk[i].fmt != fmt; i++)
		;
	if (i == F.ndk && F.ndk < MAX_DEVKIND)
		F.dk[F.ndk++].fmt = fmt;
	if (i >= F.ndk || F.dk[i].n++ == 0 || F.verbose) {
		fprintf(stderr, "wirefuzz: DEVIATION: %s\n", text);
		for (i = 0; fr && i < len && i < 64; i++)
			fprintf(stderr, "%s%02x%s", i % 16 ? " " : "    ", fr[i],
			    i % 16 == 15 || i + 1 == len || i == 63 ? "\n" : "");
	}
	pthread_mutex_unlock(&F.mu);
}

static uint64_t
type_max(enum wire_type t)
{
	return t == WT_U8 ? 0xFF : t == WT_U16 ? 0xFFFF : t == WT_U32 ?
	    0xFFFFFFFFull : UINT64_MAX;
}

static void
put_int(struct buf *b, enum wire_type t, uint64_t v)
{
	if (t == WT_U8)
		buf_put_u8(b, (uint8_t)v);
	else if (t == WT_U16)
		buf_put_u16(b, (uint16_t)v);
	else if (t == WT_U32)
		buf_put_u32(b, (uint32_t)v);
	else
		buf_put_u64(b, v);
}

static int
client_request(const struct wire_opdesc *d)
{
	return d->port == WIRE_PORT_CLIENT && d->dir == WIRE_DIR_REQUEST;
}

/* A request that makes the replica hash a password (Argon2id, tens of ms
 * each): it has a STR field named "password". Rationed (SLOW_EVERY). */
static int
op_slow(const struct wire_opdesc *d)
{
	unsigned i;

	for (i = 0; i < d->body.nfields; i++)
		if (d->body.fields[i].type == WT_STR &&
		    strcmp(d->body.fields[i].name, "password") == 0)
			return d->dir == WIRE_DIR_REQUEST;
	return 0;
}

/* LOGOUT as the table shows it: it needs a session, writes, and carries
 * nothing but (client_id, seq). Mostly left out of batches that have a
 * session, which would otherwise rarely outlive their first frames. */
static int
ends_session(const struct wire_opdesc *d)
{
	return (d->flags & (WIRE_F_AUTH | WIRE_F_MUTATES)) ==
	    (WIRE_F_AUTH | WIRE_F_MUTATES) && d->body.nfields == 2;
}

/* ---- generation: fields from their descriptors --------------------------- */

static const char name_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
static const char *const utf8_ok[] = { "\xc3\xa9", "\xe2\x82\xac",
    "\xf0\x9f\x98\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
    "\xc2\x80", "*", "?" };
static const char *const utf8_bad[] = { "\x80", "\xc0\x80", "\xc1\xbf",
    "\xe0\x80\x80", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
    "\xf5\x80\x80\x80", "\xf0\x80\x80\x80", "\xfe", "\xff", "\xe2\x82",
    "\xc3" };

static void
set_code(struct gen *g, uint16_t code)
{
	if (g->code == 0)
		g->code = code;		/* the first broken rule decides */
}

/* n bytes of valid UTF-8 without NUL: name characters, printable ASCII,
 * control characters, or multi-byte characters. */
static void
put_text(uint64_t *r, uint8_t *p, size_t n)
{
	unsigned style = (unsigned)below(r, 5);
	size_t i = 0, k;

	while (i < n) {
		const char *m = utf8_ok[below(r, ARRAY_LEN(utf8_ok))];

		if (style == 4 && (k = strlen(m)) <= n - i && chance(r, 40)) {
			memcpy(p + i, m, k);
			i += k;
			continue;
		}
		p[i++] = style == 3 ? (uint8_t)(1 + below(r, 127)) :
		    style == 2 ? (uint8_t)(0x20 + below(r, 95)) :
		    (uint8_t)name_chars[below(r, sizeof name_chars - 1)];
	}
}

static uint64_t
pick_len(uint64_t *r, uint64_t lo, uint64_t hi, enum vmode m)
{
	if (m == V_MIN || m == V_MAX)
		return m == V_MIN ? lo : hi;
	if (hi - lo > 24 && chance(r, 85))
		return lo + below(r, 25);
	return lo + below(r, (hi - lo < 4096 ? hi - lo : 4096) + 1);
}

static uint64_t
pick_int(uint64_t *r, uint64_t lo, uint64_t hi, enum vmode m)
{
	uint64_t span = hi - lo, v;

	if (m == V_MIN || m == V_MAX)
		return m == V_MIN ? lo : hi;
	if (F.serve && hi == 0xFFFF && lo <= F.serve && chance(r, 95))
		return F.serve;		/* ports: keep the client coming back */
	switch (below(r, 5)) {
	case 0:
		return lo + below(r, span < 4 ? span + 1 : 4);
	case 1:
		return hi - below(r, span < 2 ? span + 1 : 2);
	case 2:				/* replica ids, the serving port */
		v = chance(r, 50) ? 1 + below(r, F.nreplicas + 1) : F.serve;
		if (v >= lo && v <= hi)
			return v;
		/* fall through */
	default:
		return span == UINT64_MAX ? rnd(r) : lo + below(r, span + 1);
	}
}

static void
put_len(struct buf *b, enum wire_type t, uint64_t n)
{
	if (t == WT_STR)
		buf_put_u16(b, (uint16_t)n);
	else
		buf_put_u32(b, (uint32_t)n);
}

static void gen_struct(struct gen *g, const struct wire_struct *s, int broken,
		       int limits, int mut);

/* A STR or BYTES field. */
static void
gen_blob(struct gen *g, const struct wire_field *f, enum vmode m)
{
	uint64_t lim = f->type == WT_STR ? 0xFFFF : 0xFFFFFFFFull, n, k;
	const char *w = F.words[below(g->rng, F.nwords)], *bad = NULL;
	unsigned variant;
	uint8_t *p;

	if (m == V_MAX && f->max > 1024 && buf_pending(g->b) + f->max > g->cap)
		m = V_TYPICAL;
	if (m != V_BAD) {
		if (f->type == WT_STR && m == V_TYPICAL && chance(g->rng,
		    F.serve ? 95 : 35) && strlen(w) >= f->min &&
		    strlen(w) <= f->max) {
			put_len(g->b, f->type, strlen(w));
			buf_append(g->b, w, strlen(w));
			return;
		}
		n = pick_len(g->rng, f->min, f->max, m);
		put_len(g->b, f->type, n);
		p = buf_reserve(g->b, n);
		if (f->type == WT_STR)
			put_text(g->rng, p, n);
		else
			for (k = 0; k < n; k++)
				p[k] = (uint8_t)rnd(g->rng);
		g->b->len += n;
		return;
	}
	variant = (unsigned)below(g->rng, f->type == WT_STR ? 5 : 3);
	if (variant == 2 && f->type == WT_STR)
		bad = utf8_bad[below(g->rng, ARRAY_LEN(utf8_bad))];
	if ((variant == 0 && (f->max + 1 > lim || f->max + 1 > g->cap)) ||
	    (variant == 1 && f->min == 0) || (variant == 2 && (bad == NULL ||
	    strlen(bad) > f->max)))
		variant = 4;
	switch (variant) {
	case 0:				/* one byte too long */
	case 1:				/* one byte too short */
		n = variant == 0 ? f->max + 1 : f->min - 1;
		set_code(g, variant == 0 ? WIRE_E_TOO_LONG : WIRE_E_BAD_FIELD);
		put_len(g->b, f->type, n);
		put_text(g->rng, buf_reserve(g->b, n), n);
		g->b->len += n;
		return;
	case 2:				/* invalid UTF-8 */
	case 3:				/* an embedded NUL */
		k = variant == 2 ? strlen(bad) : 1;
		n = pick_len(g->rng, f->min > k ? f->min : k, f->max, V_TYPICAL);
		set_code(g, WIRE_E_BAD_FIELD);
		put_len(g->b, f->type, n);
		p = buf_reserve(g->b, n);
		for (k = 0; k < n; k++)	/* ASCII: nothing to combine with */
			p[k] = (uint8_t)name_chars[below(g->rng, 26)];
		k = below(g->rng, n - (bad ? strlen(bad) : 1) + 1);
		if (bad)
			memcpy(p + k, bad, strlen(bad));
		else
			p[k] = 0;
		g->b->len += n;
		return;
	default:			/* the length runs past the frame */
		n = 1 + below(g->rng, 40);
		k = below(g->rng, n);
		set_code(g, WIRE_E_BAD_FRAME);
		put_len(g->b, f->type, n);
		put_text(g->rng, buf_reserve(g->b, k), k);
		g->b->len += k;
		g->stop = 1;
		return;
	}
}

static void
gen_list(struct gen *g, const struct wire_field *f, enum vmode m)
{
	uint64_t n, i, bad_at = UINT64_MAX, have;
	size_t count_at = buf_pending(g->b);
	int short_list = 0;

	if (m != V_BAD) {
		n = m == V_TYPICAL ? f->min + below(g->rng, (f->max - f->min <
		    4 ? f->max - f->min : 4) + 1) : pick_len(g->rng, f->min,
		    f->max, m);
	} else switch (below(g->rng, 4)) {
	case 0:				/* one item too many */
		n = f->max + 1;
		set_code(g, WIRE_E_TOO_LONG);
		if (n > CHAT_MAX_PAGE + 1) {	/* the count alone decides */
			buf_put_u16(g->b, (uint16_t)n);
			g->stop = 1;
			return;
		}
		break;
	case 1:				/* one item too few */
		if (f->min > 0) {
			n = f->min - 1;
			set_code(g, WIRE_E_BAD_FIELD);
			break;
		}
		/* fall through */
	case 2:				/* the count promises one more item */
		n = f->min + 1 + below(g->rng, 3);
		n = n > f->max ? f->max : n;
		short_list = 1;
		set_code(g, WIRE_E_BAD_FRAME);
		break;
	default:			/* one bad item */
		n = (f->min ? f->min : 1) + below(g->rng, 3);
		n = n > f->max ? f->max : n;
		bad_at = below(g->rng, n);
		break;
	}
	buf_put_u16(g->b, (uint16_t)n);
	have = short_list ? n - 1 : n;
	for (i = 0; i < have && !g->stop; i++) {
		if (bad_at == UINT64_MAX && buf_pending(g->b) > g->cap)
			break;		/* big enough: fewer items */
		gen_struct(g, f->item, i == bad_at ? (int)below(g->rng,
		    f->item->nfields) : -1, m == V_MIN || m == V_MAX, 0);
	}
	if (i < have && !short_list && bad_at == UINT64_MAX && !g->stop)
		put_be16(buf_head(g->b) + count_at, (uint16_t)i);
	g->stop |= short_list;
}

/* The fields of s. broken: the one field pushed past its limits (nfields:
 * trailing bytes), or -1. limits: values at their limits. mut: a mutating
 * request, whose client_id and seq come first (§6). */
static void
gen_struct(struct gen *g, const struct wire_struct *s, int broken, int limits,
	   int mut)
{
	unsigned i, k;

	for (i = 0; i < s->nfields && !g->stop; i++) {
		const struct wire_field *f = &s->fields[i];
		enum vmode m = (int)i == broken ? V_BAD : limits ?
		    (enum vmode)below(g->rng, 3) : V_TYPICAL;

		if (mut && i < 2 && m != V_BAD && chance(g->rng, 90)) {
			buf_put_u64(g->b, i == 0 ? g->client_id : ++*g->seq);
		} else if (f->type == WT_STR || f->type == WT_BYTES) {
			gen_blob(g, f, m);
		} else if (f->type == WT_LIST) {
			gen_list(g, f, m);
		} else if (m != V_BAD) {
			put_int(g->b, f->type, pick_int(g->rng, f->min, f->max,
			    m));
		} else if (f->min > 0 || f->max < type_max(f->type)) {
			int low = f->min > 0 && (f->max == type_max(f->type) ||
			    chance(g->rng, 50));

			put_int(g->b, f->type, low ? f->min - 1 : f->max + 1);
			set_code(g, WIRE_E_BAD_FIELD);
		} else {	/* every value is valid: cut the frame inside */
			for (k = (unsigned)below(g->rng, f->type == WT_U8 ? 1 :
			    f->type == WT_U16 ? 2 : f->type == WT_U32 ? 4 : 8); k;
			    k--)
				buf_put_u8(g->b, (uint8_t)rnd(g->rng));
			set_code(g, WIRE_E_BAD_FRAME);
			g->stop = 1;
		}
	}
	if (broken == (int)s->nfields && !g->stop) {
		for (k = 1 + (unsigned)below(g->rng, 8); k; k--)
			buf_put_u8(g->b, (uint8_t)rnd(g->rng));
		set_code(g, WIRE_E_BAD_FRAME);
	}
}

static size_t
frame_begin(struct buf *b, uint16_t op, uint32_t rid)
{
	size_t at = buf_pending(b);

	buf_put_u16(b, WIRE_MAGIC);
	buf_put_u8(b, WIRE_VERSION_MIN);
	buf_put_u8(b, 0);
	buf_put_u16(b, op);
	buf_put_u32(b, rid);
	buf_put_u32(b, 0);
	return at;
}

static void
frame_end(struct buf *b, size_t at)
{
	put_be32(buf_head(b) + at + 10, (uint32_t)(buf_pending(b) - at -
	    WIRE_HEADER_SIZE));
}

/* A frame of op d appended to g->b. Returns the ERROR its payload must
 * get from the decoder (§3: the first rule broken), 0 if it is valid. */
static uint16_t
gen_frame(struct gen *g, const struct wire_opdesc *d, uint32_t rid, int broken,
	  int limits)
{
	size_t at = frame_begin(g->b, d->opcode, rid);

	g->code = 0;
	g->stop = 0;
	gen_struct(g, &d->body, broken, limits, (d->flags & WIRE_F_MUTATES) != 0);
	frame_end(g->b, at);
	return buf_pending(g->b) - at - WIRE_HEADER_SIZE > d->body.max_encoded ?
	    WIRE_E_TOO_LONG : g->code;
}

/* The project's decoder on a payload: 0 or its error code. */
static uint16_t
decode_code(const struct wire_opdesc *d, const uint8_t *p, size_t n,
	    union any_msg *out)
{
	struct wire_decode_error err;

	return wire_decode(d, p, n, out, &err) < 0 ? err.code : 0;
}

/* Mutate the one frame in b (its header at the head). */
static enum brk
mutate(uint64_t *r, struct buf *b, uint32_t limit)
{
	static const uint16_t unknown[] = { 0x0000, 0x0005, 0x00FF, 0x0100,
	    0x0114, 0x0180, 0x018C, 0x01C0, 0x01C4, 0x0200, 0x0211, 0x0300,
	    0x030F, 0x0400, 0x8001, 0xFFFF };
	uint8_t *h = buf_head(b);
	size_t plen = buf_pending(b) - WIRE_HEADER_SIZE, k, n;
	unsigned what = (unsigned)below(r, 40);

	/* Mostly mutations that keep the stream parseable; 1 in 8 breaks it. */
	switch (what < 35 ? what % 7 : what - 28) {
	case 0:				/* flip bits */
		for (n = 1 + below(r, 4); n && plen; n--)
			h[WIRE_HEADER_SIZE + below(r, plen)] ^=
			    (uint8_t)(1u << below(r, 8));
		return B_NONE;
	case 1:				/* insert bytes */
		n = 1 + below(r, 8);
		k = WIRE_HEADER_SIZE + below(r, plen + 1);
		buf_reserve(b, n);
		h = buf_head(b);
		memmove(h + k + n, h + k, buf_pending(b) - k);
		b->len += n;
		while (n--)
			h[k + n] = (uint8_t)rnd(r);
		break;
	case 2:				/* delete bytes */
	case 3:				/* truncate */
		if (plen == 0)
			return B_NONE;
		n = 1 + below(r, plen < 8 ? plen : 8);
		k = what % 7 == 3 ? buf_pending(b) - n : WIRE_HEADER_SIZE +
		    below(r, plen - n + 1);
		memmove(h + k, h + k + n, buf_pending(b) - k - n);
		b->len -= n;
		break;
	case 4:				/* an unknown opcode */
		put_be16(h + 4, chance(r, 80) ? unknown[below(r,
		    ARRAY_LEN(unknown))] : (uint16_t)rnd(r));
		return B_NONE;
	case 5:				/* flags nobody knows */
		h[3] = (uint8_t)(0x80 >> below(r, 7));
		return B_NONE;
	case 6:				/* request id 0 */
		put_be32(h + 6, 0);
		return B_NONE;
	case 7:				/* a version nobody speaks */
		h[2] = chance(r, 50) ? 0 : (uint8_t)(WIRE_VERSION_MAX + 1 +
		    below(r, 255 - WIRE_VERSION_MAX));
		return B_CLOSE;
	case 8:				/* bad magic */
		h[below(r, 2)] ^= (uint8_t)(1 + below(r, 255));
		return B_CLOSE;
	case 9:				/* a length over the limit */
		put_be32(h + 10, chance(r, 50) ? limit + 1 : (uint32_t)(limit +
		    1 + below(r, 0xFFFFFFFFull - limit)));
		return B_CLOSE;
	case 10:			/* a length beyond the payload */
		put_be32(h + 10, (uint32_t)(plen + 1 + below(r, 64)));
		return B_DESYNC;
	default:			/* a length short of the payload */
		if (plen == 0)
			return B_NONE;
		put_be32(h + 10, (uint32_t)below(r, plen));
		return B_DESYNC;
	}
	frame_end(b, 0);
	return B_NONE;
}

/* ---- connections --------------------------------------------------------- */

/* On loopback, connections come from 127.0.0.<src>: fuzzing from .3,
 * control (canary, liveness, the threads' own logins) from .2. What the
 * fuzzing provokes per address (failed logins slow down, §7) then stays
 * with it, and neither the canary nor other clients (.1) pay for it. */
static int
tcp_connect(const char *host, uint16_t port, int src_last)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct pollfd p = { -1, POLLOUT, 0 };
	int fd, one = 1, err = 0;
	socklen_t len = sizeof err;
	char serv[8];

	snprintf(serv, sizeof serv, "%u", port);
	if (getaddrinfo(host, serv, &hints, &ai) != 0 || ai == NULL)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK - 1 + (uint32_t)src_last);
	if (fd >= 0 && ai->ai_family == AF_INET &&
	    ((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr.s_addr ==
	    htonl(INADDR_LOOPBACK))
		(void)!bind(fd, (struct sockaddr *)&src, sizeof src);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	p.fd = fd;
	if (fd >= 0 && (poll(&p, 1, LIVE_MS) != 1 || getsockopt(fd, SOL_SOCKET,
	    SO_ERROR, &err, &len) < 0 || err != 0)) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int
link_open(struct link *l, const char *host, uint16_t port, uint32_t max_in,
	  int src_last)
{
	buf_reset(&l->in);
	l->max_in = max_in;
	l->fd = tcp_connect(host, port, src_last);
	return l->fd < 0 ? -1 : 0;
}

static void
link_close(struct link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	buf_reset(&l->in);
}

/* Read what arrives within ms: 1 bytes came, 0 nothing, -1 closed. */
static int
link_fill(struct link *l, int ms)
{
	struct pollfd p = { l->fd, POLLIN, 0 };
	ssize_t n;

	if (l->fd < 0)
		return -1;
	if (poll(&p, 1, ms) <= 0)
		return 0;
	n = recv(l->fd, buf_reserve(&l->in, 65536), 65536, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	l->in.len += (size_t)n;
	return 1;
}

/* Write all of it by the deadline, reading (into l->in) meanwhile so that
 * neither side blocks. 0, or -1 (closed or too slow). */
static int
link_write(struct link *l, const uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		struct pollfd pf = { l->fd, POLLOUT | POLLIN, 0 };
		ssize_t k = send(l->fd, p, n, MSG_NOSIGNAL);

		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if ((k < 0 && errno != EAGAIN && errno != EINTR) ||
		    poll(&pf, 1, left_ms(deadline)) <= 0 ||
		    ((pf.revents & POLLIN) && link_fill(l, 0) < 0)) {
			return -1;
		}
	}
	return 0;
}

/* A whole frame at the head of l->in: 1 (header in *h), 0 not yet, -1 a
 * framing error. */
static int
link_frame(struct link *l, struct wire_header *h)
{
	int rc = wire_peek_header(buf_head(&l->in), buf_pending(&l->in),
	    l->max_in, h);

	return rc == WIRE_FRAME_OK ? 1 : rc == WIRE_FRAME_INCOMPLETE ? 0 : -1;
}

/* Wait for a whole frame at the head of l->in: 0 (header in *h), or -1
 * (closed, a framing error, the deadline). */
static int
link_recv(struct link *l, struct wire_header *h, uint64_t deadline)
{
	int rc;

	while ((rc = link_frame(l, h)) == 0)
		if (left_ms(deadline) == 0 || link_fill(l, left_ms(deadline)) < 0)
			return -1;
	return rc < 0 ? -1 : 0;
}

/* Send msg as op, then wait for the frame answering rid (others are
 * skipped), its payload copied to pl. 0 or -1. */
static int
link_call(struct link *l, uint16_t op, uint32_t rid, const void *msg,
	  struct wire_header *h, struct buf *pl, uint64_t deadline)
{
	struct buf b;
	int rc;

	buf_init(&b);
	wire_encode(&b, op, rid, msg);
	rc = link_write(l, buf_head(&b), buf_pending(&b), deadline);
	buf_free(&b);
	while (rc == 0 && link_recv(l, h, deadline) == 0) {
		buf_reset(pl);
		buf_append(pl, buf_head(&l->in) + WIRE_HEADER_SIZE, h->length);
		buf_consume(&l->in, WIRE_HEADER_SIZE + h->length);
		if (h->request_id == rid)
			return 0;
	}
	return -1;
}

static void
hello_msg(struct wire_HELLO *m, int kind, uint32_t id, const uint8_t *nonce)
{
	memset(m, 0, sizeof *m);
	m->version_min = WIRE_VERSION_MIN;
	m->version_max = WIRE_VERSION_MAX;
	m->kind = (uint8_t)kind;
	m->replica_id = id;
	snprintf(m->software, sizeof m->software, "wirefuzz %s", CHATD_VERSION);
	m->nonce.ptr = nonce;
	m->nonce.len = nonce ? 32 : 0;
}

static uint16_t
error_code(const struct wire_header *h, const struct buf *pl)
{
	struct wire_ERROR e;

	if (h->opcode != WIRE_OP_ERROR || wire_decode(wire_op(WIRE_OP_ERROR),
	    buf_head(pl), buf_pending(pl), &e, NULL) < 0)
		return 0;
	return e.code;
}

static void
ctl_init(struct ctl *c)
{
	memset(c, 0, sizeof *c);
	c->lk.fd = -1;
	snprintf(c->host, sizeof c->host, "%s", F.chost);
	c->port = F.cport;
}

static void
ctl_free(struct ctl *c)
{
	link_close(&c->lk);
	buf_free(&c->lk.in);
	buf_free(&c->pl);
}

/* A request on a control connection, as a client makes it: (re)connect
 * and HELLO; REDIRECT moves to the primary; NO_PRIMARY, UNAVAILABLE and
 * SLOW_DOWN wait and retry (same client_id and seq). 0 with the answer in
 * *h and c->pl, or -1 at the deadline. */
static int
ctl_call(struct ctl *c, uint16_t op, const void *msg, struct wire_header *h,
	 uint64_t deadline)
{
	struct wire_REDIRECT rd;
	struct wire_HELLO m;

	hello_msg(&m, 1, 0, NULL);
	while (left_ms(deadline) > 0) {
		uint16_t code;

		if (c->lk.fd < 0 && (link_open(&c->lk, c->host, c->port,
		    WIRE_MAX_PAYLOAD_CLIENT, 2) < 0 || link_call(&c->lk,
		    WIRE_OP_HELLO, 1, &m, h, &c->pl, deadline) < 0 ||
		    h->opcode != WIRE_OP_HELLO)) {
			link_close(&c->lk);
			nap(50);
			continue;
		}
		if (link_call(&c->lk, op, 7, msg, h, &c->pl, deadline) < 0) {
			link_close(&c->lk);
			continue;
		}
		code = error_code(h, &c->pl);
		if (h->opcode == WIRE_OP_REDIRECT) {
			link_close(&c->lk);
			if (wire_decode(wire_op(WIRE_OP_REDIRECT),
			    buf_head(&c->pl), buf_pending(&c->pl), &rd,
			    NULL) == 0) {
				snprintf(c->host, sizeof c->host, "%s", rd.host);
				c->port = rd.port;
			}
		} else if (h->opcode == WIRE_OP_NO_PRIMARY ||
		    code == WIRE_E_UNAVAILABLE || code == WIRE_E_NOT_PRIMARY ||
		    code == WIRE_E_SLOW_DOWN) {
			nap(code == WIRE_E_SLOW_DOWN ? 500 : 100);
		} else {
			return 0;
		}
	}
	return -1;
}

/* REGISTER (a taken name is fine) or LOGIN user. 0, or the ERROR code
 * (0xFFFF: no answer); a SESSION's token goes to token. */
static uint16_t
ctl_account(struct ctl *c, uint16_t op, const char *user, const char *pw,
	    uint64_t client_id, uint64_t *seq, uint8_t *token, uint64_t deadline)
{
	union { struct wire_REGISTER r; struct wire_LOGIN l; } m;
	struct wire_SESSION s;
	struct wire_header h;
	uint16_t code;

	memset(&m, 0, sizeof m);
	m.r.client_id = client_id;	/* the same place in both */
	m.r.seq = ++*seq;
	snprintf(m.r.username, sizeof m.r.username, "%s", user);
	if (op == WIRE_OP_REGISTER)
		snprintf(m.r.password, sizeof m.r.password, "%s", pw);
	else
		snprintf(m.l.password, sizeof m.l.password, "%s", pw);
	if (ctl_call(c, op, &m, &h, deadline) < 0)
		return 0xFFFF;
	code = error_code(&h, &c->pl);
	if (op == WIRE_OP_REGISTER)
		return code == WIRE_E_NAME_TAKEN ? 0 : h.opcode == WIRE_OP_OK ?
		    0 : code ? code : 0xFFFF;
	if (h.opcode != WIRE_OP_SESSION || wire_decode(wire_op(WIRE_OP_SESSION),
	    buf_head(&c->pl), buf_pending(&c->pl), &s, NULL) < 0)
		return code ? code : 0xFFFF;
	memcpy(token, s.token.ptr, CHAT_TOKEN_BYTES);
	return 0;
}

/* ---- the fuzzing threads: frames, predictions, checks -------------------- */

static uint32_t
next_rid(struct worker *w)
{
	if (++w->rid == 0)
		w->rid = 1;
	return w->rid;
}

static void
count(struct worker *w, enum cls c)
{
	w->st.sent[c]++;
	w->sent++;
	atomic_fetch_add(&F.sent, 1);
}

/* The frame at w->out + off must get an answer of this kind. */
static void
expect(struct worker *w, size_t off, uint8_t kind, uint16_t code)
{
	const uint8_t *f = buf_head(&w->out) + off;
	struct expect *x;

	if (w->nex == MAX_EXPECT)
		return;
	x = &w->ex[w->nex++];
	x->off = (uint32_t)off;
	x->len = (uint32_t)(buf_pending(&w->out) - off);
	x->op = get_be16(f + 4);
	x->rid = kind == X_ERR && code == WIRE_E_BAD_REQUEST &&
	    x->op != WIRE_OP_HELLO ? 0 : get_be32(f + 6);
	x->kind = kind;
	x->code = code;
	x->done = 0;
}

/* Record what the client port must answer to the frame at w->out + off
 * (§4.3). Returns 1 if it is a valid request that hashes a password. */
static int
predict(struct worker *w, size_t off, int order)
{
	const uint8_t *f = buf_head(&w->out) + off;
	size_t len = buf_pending(&w->out) - off - WIRE_HEADER_SIZE;
	uint16_t op = get_be16(f + 4), code;
	const struct wire_opdesc *d = wire_op(op);
	int in = w->logged_in || w->maybe_logged;

	if (d == NULL)
		expect(w, off, X_ERR, WIRE_E_UNKNOWN_OPCODE);
	else if (op == WIRE_OP_PONG || op == WIRE_OP_ERROR)
		;			/* ignored: no answer */
	else if (op == WIRE_OP_HELLO || (get_be32(f + 6) == 0 &&
	    (op == WIRE_OP_PING || client_request(d))))
		expect(w, off, X_ERR, WIRE_E_BAD_REQUEST);
	else if (op != WIRE_OP_PING && !client_request(d))
		expect(w, off, X_ERR, WIRE_E_WRONG_PORT);
	else if ((code = decode_code(d, f + WIRE_HEADER_SIZE, len, w->msg)))
		expect(w, off, X_ERR, code);
	else if (op == WIRE_OP_PING)
		expect(w, off, X_PONG, 0);
	else {
		expect(w, off, order && (d->flags & WIRE_F_AUTH) && !in ? X_NLI :
		    X_ANY, 0);
		w->maybe_logged |= op == WIRE_OP_LOGIN || op == WIRE_OP_RESUME;
		return op_slow(d) && (!(d->flags & WIRE_F_AUTH) || in);
	}
	return 0;
}

static const struct wire_opdesc *
pick(uint64_t *r, const struct wire_opdesc *const *set, unsigned n)
{
	return set[below(r, n)];
}

/* One frame of class c into w->fr. Returns what it does to the stream. */
static enum brk
make_frame(struct worker *w, enum cls c)
{
	struct gen g = { &w->rng, &w->fr, w->client_id, &w->seq,
	    F.internal ? 65536 : 20000, 0, 0 };
	const struct wire_opdesc *d;
	uint32_t rid = next_rid(w);
	uint16_t want, got;
	size_t at, n;

	buf_reset(&w->fr);
	switch (c) {
	case C_WRONG:
		gen_frame(&g, pick(&w->rng, F.foreign, F.nforeign), rid, -1, 0);
		return B_NONE;
	case C_ORDER:		/* HELLO again, or a request before LOGIN */
		d = !w->logged_in && !F.internal && chance(&w->rng, 70) ?
		    pick(&w->rng, F.authops, F.nauth) : wire_op(WIRE_OP_HELLO);
		gen_frame(&g, d, rid, -1, 0);
		return B_NONE;
	case C_MUTATED:
		d = chance(&w->rng, 80) ? pick(&w->rng, F.own, F.nown) :
		    &wire_ops[below(&w->rng, wire_nops)];
		gen_frame(&g, d, rid, chance(&w->rng, 30) ? (int)below(&w->rng,
		    d->body.nfields + 1) : -1, 0);
		return mutate(&w->rng, &w->fr, F.internal ?
		    WIRE_MAX_PAYLOAD_INTERNAL : WIRE_MAX_REQUEST);
	case C_RANDOM:		/* a well-formed header, random payload */
		at = frame_begin(&w->fr, chance(&w->rng, 70) ? wire_ops[below(
		    &w->rng, wire_nops)].opcode : (uint16_t)rnd(&w->rng), rid);
		for (n = chance(&w->rng, 90) ? below(&w->rng, 64) : below(&w->rng,
		    2000); n; n--)
			buf_put_u8(&w->fr, (uint8_t)rnd(&w->rng));
		frame_end(&w->fr, at);
		return B_NONE;
	default:		/* valid or boundary, of this port's opcodes */
		do	/* a session ended at once is a session wasted */
			d = pick(&w->rng, F.own, F.nown);
		while (w->logged_in && ends_session(d) && chance(&w->rng, 90));
		want = gen_frame(&g, d, rid, c == C_BOUNDARY && chance(&w->rng,
		    75) ? (int)below(&w->rng, d->body.nfields + 1) : -1,
		    c == C_BOUNDARY || chance(&w->rng, 20));
		got = decode_code(d, buf_head(&w->fr) + WIRE_HEADER_SIZE,
		    buf_pending(&w->fr) - WIRE_HEADER_SIZE, w->msg);
		if (got != want)
			deviation(&w->st, buf_head(&w->fr), buf_pending(&w->fr),
			    "codec: a %s payload that §3 says gets %s is "
			    "decoded as %s", d->name, want ? wire_err_name(want) :
			    "valid", got ? wire_err_name(got) : "valid");
		return B_NONE;
	}
}

/* Append a frame of class c to w->out, with its expectation. A valid
 * request that would hash a password is rationed: replaced if too soon. */
static enum brk
add_frame(struct worker *w, enum cls c)
{
	enum brk brk = B_NONE;
	int tries;

	for (tries = 0; tries < 4; tries++) {
		unsigned nex = w->nex;
		int mlog = w->maybe_logged;
		size_t off = buf_pending(&w->out);

		brk = make_frame(w, c);
		if (!F.internal && buf_pending(&w->fr) > WIRE_HEADER_SIZE +
		    WIRE_MAX_REQUEST)
			brk = B_CLOSE;	/* over the client port's limit (§2.3) */
		buf_append(&w->out, buf_head(&w->fr), buf_pending(&w->fr));
		if (brk != B_NONE || F.internal || !predict(w, off, c == C_ORDER))
			break;
		if (w->sent >= w->next_slow) {
			w->next_slow = w->sent + SLOW_EVERY;
			w->st.hashes++;
			break;
		}
		w->out.len = off;
		w->nex = nex;
		w->maybe_logged = mlog;
		c = tries == 2 ? C_WRONG : c;
	}
	count(w, c);
	return brk;
}

/* A frame from the replica, checked against the spec and against what
 * the batch expects. */
static void
check_frame(struct worker *w, const struct wire_header *h, const uint8_t *p)
{
	const struct wire_opdesc *d = wire_op(h->opcode);
	const struct wire_ERROR *e = &w->msg->ERROR;
	struct expect *x = NULL;
	uint16_t code = 0, rc = 0;
	unsigned i;
	int ok;

	w->st.answers++;
	if (d == NULL || d->dir == WIRE_DIR_REQUEST || d->dir == WIRE_DIR_LOG ||
	    d->dir == WIRE_DIR_PEER || (rc = decode_code(d, p, h->length,
	    w->msg)) != 0) {
		deviation(&w->st, p - WIRE_HEADER_SIZE, WIRE_HEADER_SIZE +
		    h->length, "the replica sent a frame that is not a valid "
		    "answer: %s (%s)", wire_op_name(h->opcode), rc ?
		    wire_err_name(rc) : "not a response");
		return;
	}
	if (h->opcode == WIRE_OP_ERROR)
		w->st.err[(code = e->code) < NCODES ? code : 0]++;
	if (d->dir == WIRE_DIR_PUSH) {
		w->st.pushes++;
		return;
	}
	for (i = 0; i < w->nex && !x; i++)
		if (!w->ex[i].done && w->ex[i].rid == h->request_id)
			x = &w->ex[i];
	if (x == NULL) {
		if (!w->desync && !(h->request_id == 0 && code == WIRE_E_TIMEOUT))
			deviation(&w->st, p - WIRE_HEADER_SIZE, WIRE_HEADER_SIZE +
			    h->length, "%s %s with request id %u answers nothing "
			    "that was sent, or answers it twice",
			    wire_op_name(h->opcode), wire_err_name(code),
			    h->request_id);
		return;
	}
	x->done = 1;
	if (x->kind == X_ERR)
		ok = code == x->code;
	else if (x->kind == X_PONG)	/* the PING's token, echoed (§4.4) */
		ok = h->opcode == WIRE_OP_PONG && h->length == x->len -
		    WIRE_HEADER_SIZE && !memcmp(p, buf_head(&w->out) + x->off +
		    WIRE_HEADER_SIZE, h->length);
	else if (x->kind == X_NLI)
		ok = code == WIRE_E_NOT_LOGGED_IN || code == WIRE_E_UNAVAILABLE ||
		    code == WIRE_E_INTERNAL || h->opcode == WIRE_OP_REDIRECT ||
		    h->opcode == WIRE_OP_NO_PRIMARY;
	else
		ok = code != WIRE_E_BAD_FRAME && code != WIRE_E_UNKNOWN_OPCODE &&
		    code != WIRE_E_WRONG_PORT && code != WIRE_E_HELLO_FIRST &&
		    code != WIRE_E_TOO_MANY_REQUESTS &&
		    code != WIRE_E_BAD_REQUEST;
	if (!ok)
		deviation(&w->st, buf_head(&w->out) + x->off, x->len,
		    "%s (request id %u) must get %s, got %s %s",
		    wire_op_name(x->op), x->rid, x->kind == X_ERR ?
		    wire_err_name(x->code) : x->kind == X_PONG ? "its PONG" :
		    x->kind == X_NLI ? "NOT_LOGGED_IN" : "an answer",
		    wire_op_name(h->opcode), code ? wire_err_name(code) : "");
	else if (code && e->about_op != 0 && e->about_op != x->op)
		deviation(&w->st, p - WIRE_HEADER_SIZE, WIRE_HEADER_SIZE +
		    h->length, "ERROR %s answering %s names about_op 0x%04x "
		    "(§4.3)", wire_err_name(code), wire_op_name(x->op),
		    e->about_op);
}

/* Read and check frames until pred holds (1), the connection closes (-1)
 * or ms pass (0). */
static int
await(struct worker *w, int ms, int (*pred)(struct worker *))
{
	uint64_t deadline = now_ms() + (uint64_t)ms;
	struct wire_header h;
	int rc;

	for (;;) {
		while ((rc = link_frame(&w->lk, &h)) == 1) {
			check_frame(w, &h, buf_head(&w->lk.in) +
			    WIRE_HEADER_SIZE);
			buf_consume(&w->lk.in, WIRE_HEADER_SIZE + h.length);
		}
		if (rc < 0) {
			deviation(&w->st, buf_head(&w->lk.in), buf_pending(
			    &w->lk.in), "the replica sent a broken frame header");
			link_close(&w->lk);
			return -1;
		}
		if (pred && pred(w))
			return 1;
		if ((rc = link_fill(&w->lk, left_ms(deadline))) < 0) {
			w->st.closes++;
			link_close(&w->lk);
			return -1;
		}
		if (rc == 0 && left_ms(deadline) == 0)
			return 0;
	}
}

static int
all_done(struct worker *w)
{
	unsigned i;

	for (i = 0; i < w->nex; i++)
		if (!w->ex[i].done)
			return 0;
	return 1;
}

/* Write buf: at once, in pieces, or (drip) a byte per write. */
static int
send_out(struct worker *w, const struct buf *b, int drip)
{
	uint64_t deadline = now_ms() + ANSWER_MS;
	const uint8_t *p = buf_head(b);
	size_t n = buf_pending(b);

	while (n > 0) {
		size_t k = drip ? 1 : chance(&w->rng, 80) ? n : 1 +
		    below(&w->rng, n);

		if (link_write(&w->lk, p, k, deadline) < 0)
			return -1;
		p += k;
		n -= k;
		if (drip)
			nap((int)below(&w->rng, 2));
	}
	return 0;
}

/* The thread's own user, whose session some batches RESUME. LOGIN (after
 * REGISTER the first time, or when the fuzzing deleted the account)
 * costs a password hash: between episodes, and rationed. */
static void
fuzz_user_login(struct worker *w)
{
	uint64_t deadline = now_ms() + ANSWER_MS;
	uint16_t code = 1;

	w->next_slow = w->sent + SLOW_EVERY;
	w->st.hashes++;
	if (w->registered)
		code = ctl_account(&w->ctl, WIRE_OP_LOGIN, w->user, FUZZ_PW,
		    w->client_id, &w->seq, w->token, deadline);
	if (code != 0 && (!w->registered || code == WIRE_E_BAD_PASSWORD)) {
		w->st.hashes += 2;
		w->registered = ctl_account(&w->ctl, WIRE_OP_REGISTER, w->user,
		    FUZZ_PW, w->client_id, &w->seq, NULL, deadline) == 0;
		if (w->registered)
			code = ctl_account(&w->ctl, WIRE_OP_LOGIN, w->user,
			    FUZZ_PW, w->client_id, &w->seq, w->token, deadline);
	}
	w->have_token = code == 0;
	link_close(&w->ctl.lk);
}

/* HELLO must be answered by a HELLO that chooses our version (§4.1). */
static int
hello_answer(struct worker *w, uint32_t rid)
{
	const struct wire_HELLO *m = &w->msg->HELLO;
	struct wire_header h;

	if (link_recv(&w->lk, &h, now_ms() + ANSWER_MS) < 0) {
		deviation(&w->st, NULL, 0, "client port: no answer to HELLO "
		    "within %d ms", ANSWER_MS);
		return -1;
	}
	if (h.opcode != WIRE_OP_HELLO || h.request_id != rid ||
	    wire_decode(wire_op(WIRE_OP_HELLO), buf_head(&w->lk.in) +
	    WIRE_HEADER_SIZE, h.length, w->msg, NULL) < 0 ||
	    m->version_min != WIRE_VERSION_MAX || m->version_max !=
	    WIRE_VERSION_MAX || m->kind != 2)
		deviation(&w->st, buf_head(&w->lk.in), WIRE_HEADER_SIZE +
		    h.length, "client port: HELLO (request id %u) is not "
		    "answered by a HELLO choosing version %d (§4.1)", rid,
		    WIRE_VERSION_MAX);
	buf_consume(&w->lk.in, WIRE_HEADER_SIZE + h.length);
	return 0;
}

/* No HELLO first: a request, or a HELLO that does not decode or has no
 * version in common. ERROR HELLO_FIRST, the decode error or BAD_VERSION,
 * then the close (§4.1). */
static void
episode_prehello(struct worker *w)
{
	struct gen g = { &w->rng, &w->out, w->client_id, &w->seq, 20000, 0, 0 };
	unsigned r = (unsigned)below(&w->rng, 3);
	uint16_t code = WIRE_E_HELLO_FIRST;
	struct wire_HELLO m;

	if (r == 0) {
		code = gen_frame(&g, wire_op(WIRE_OP_HELLO), next_rid(w),
		    (int)below(&w->rng, 7), 1);
	} else if (r == 1) {
		hello_msg(&m, 1, 0, NULL);
		m.version_min = (uint8_t)(WIRE_VERSION_MAX + 1 +
		    below(&w->rng, 9));
		m.version_max = chance(&w->rng, 50) ? WIRE_VERSION_MIN :
		    (uint8_t)(m.version_min + below(&w->rng, 9));
		wire_encode(&w->out, WIRE_OP_HELLO, next_rid(w), &m);
		code = WIRE_E_BAD_VERSION;
	} else {
		gen_frame(&g, pick(&w->rng, F.own, F.nown), next_rid(w), -1, 0);
	}
	count(w, r < 2 ? C_BOUNDARY : C_ORDER);
	expect(w, 0, X_ERR, code);
	w->ex[0].rid = w->rid;
	if (send_out(w, &w->out, 0) == 0 && await(w, CLOSE_MS, NULL) >= 0)
		deviation(&w->st, buf_head(&w->out), buf_pending(&w->out),
		    "client port: the connection stays open after a first frame "
		    "that is not a good HELLO (§4.1)");
	else if (!w->ex[0].done)
		deviation(&w->st, buf_head(&w->out), buf_pending(&w->out),
		    "client port: no ERROR %s before the close (§4.1)",
		    wire_err_name(code));
}

/* HELLO, maybe RESUME, a batch closed by a PING, every answer checked;
 * a frame that breaks the stream goes last, after the PONG. */
static void
episode_client(struct worker *w, unsigned r)
{
	static const enum cls mix[] = { C_VALID, C_VALID, C_VALID, C_VALID,
	    C_BOUNDARY, C_BOUNDARY, C_BOUNDARY, C_MUTATED, C_MUTATED, C_MUTATED,
	    C_WRONG, C_WRONG, C_ORDER, C_RANDOM };
	struct wire_RESUME rs = { 0, { w->token, sizeof w->token } };
	struct wire_PING ping = { 0, rnd(&w->rng) };
	int drip = r < 3, raw = r >= 3 && r < 6;
	enum brk brk = B_NONE;
	struct wire_header h;
	struct wire_HELLO m;
	struct buf tail;
	size_t off = 0;
	unsigned n, i;
	uint32_t rid;

	hello_msg(&m, 1, 0, NULL);
	if (chance(&w->rng, 20))	/* a range that includes ours */
		m.version_max = (uint8_t)(WIRE_VERSION_MAX + below(&w->rng, 200));
	wire_encode(&w->out, WIRE_OP_HELLO, rid = next_rid(w), &m);
	count(w, drip ? C_DRIP : C_VALID);
	if (send_out(w, &w->out, drip) < 0 || hello_answer(w, rid) < 0)
		return;
	buf_reset(&w->out);
	if (r >= 50 && r < 80 && w->have_token && link_call(&w->lk,
	    WIRE_OP_RESUME, next_rid(w), &rs, &h, &w->ctl.pl, now_ms() +
	    ANSWER_MS) == 0) {
		w->logged_in = h.opcode == WIRE_OP_SESSION;
		w->have_token = error_code(&h, &w->ctl.pl) != WIRE_E_BAD_TOKEN;
		w->st.sessions += w->logged_in;
	}
	n = 1 + (unsigned)below(&w->rng, drip ? 2 : BATCH_MAX);
	for (i = 0; i < n && brk == B_NONE && w->sent < w->quota; i++) {
		off = buf_pending(&w->out);
		if (raw && i + 1 == n) {	/* a blob of random bytes */
			size_t k = 1 + below(&w->rng, 3000);

			while (k--)
				buf_put_u8(&w->out, (uint8_t)rnd(&w->rng));
			if (chance(&w->rng, 50))
				put_be16(buf_head(&w->out) + off, WIRE_MAGIC);
			count(w, C_RANDOM);
			brk = B_DESYNC;
		} else {
			brk = add_frame(w, drip ? C_DRIP : mix[below(&w->rng,
			    ARRAY_LEN(mix))]);
		}
	}
	buf_init(&tail);
	if (brk != B_NONE) {
		buf_append(&tail, buf_head(&w->out) + off, buf_pending(&w->out) -
		    off);
		w->out.len = off;
	}
	off = buf_pending(&w->out);
	wire_encode(&w->out, WIRE_OP_PING, next_rid(w), &ping);
	expect(w, off, X_PONG, 0);
	if (send_out(w, &w->out, drip) < 0 ||
	    await(w, ANSWER_MS, all_done) <= 0) {
		unsigned left = 0;

		for (i = 0; i < w->nex; i++)
			left += !w->ex[i].done;
		deviation(&w->st, NULL, 0, "client port: %u of %u requests "
		    "unanswered when the connection %s", left, w->nex,
		    w->lk.fd < 0 ? "closed" : "went quiet");
	} else if (brk != B_NONE && send_out(w, &tail, 0) == 0) {
		w->desync = 1;
		if (brk == B_DESYNC)
			await(w, 2, NULL);
		else if (await(w, CLOSE_MS, NULL) >= 0)
			deviation(&w->st, buf_head(&tail), buf_pending(&tail),
			    "client port: the connection stays open after a "
			    "framing error (§2.3)");
	}
	buf_free(&tail);
}

/* The internal port: a replica's HELLO (or a broken one, or none), then a
 * few frames. Without the cluster key the replica must refuse: nothing
 * but HELLO or ERROR comes back, and the connection closes (§8.1). */
static void
episode_internal(struct worker *w)
{
	struct gen g = { &w->rng, &w->out, w->client_id, &w->seq, 65536, 0, 0 };
	static const enum cls mix[] = { C_VALID, C_BOUNDARY, C_MUTATED, C_WRONG,
	    C_RANDOM, C_ORDER };
	unsigned i, n = 1 + (unsigned)below(&w->rng, 3), r = (unsigned)below(
	    &w->rng, 100);
	int nover = 0, maybe_open = 0, tool = 0, answered = 0;
	uint32_t hello_rid = 0;
	struct wire_header h;
	uint8_t nonce[32];
	uint64_t deadline;

	for (i = 0; i < sizeof nonce; i++)
		nonce[i] = (uint8_t)rnd(&w->rng);
	if (r < 50) {		/* a replica's HELLO, or an operator tool's */
		struct wire_HELLO m;

		tool = r >= 40;
		hello_msg(&m, tool ? 3 : 2, tool ? 0 : (uint32_t)below(&w->rng,
		    F.nreplicas + 2), nonce);
		if ((nover = chance(&w->rng, 15)) != 0)
			m.version_min = m.version_max = WIRE_VERSION_MAX + 1;
		wire_encode(&w->out, WIRE_OP_HELLO, hello_rid = next_rid(w), &m);
		count(w, C_VALID);
	} else if (r < 80) {
		gen_frame(&g, wire_op(WIRE_OP_HELLO), hello_rid = next_rid(w),
		    chance(&w->rng, 50) ? (int)below(&w->rng, 7) : -1, 1);
		count(w, C_BOUNDARY);
	}
	for (i = 0; i < n && !maybe_open; i++) {
		if (chance(&w->rng, 30)) {	/* AUTH with a guessed proof */
			gen_frame(&g, wire_op(WIRE_OP_AUTH), next_rid(w),
			    chance(&w->rng, 30) ? 0 : -1, 0);
			count(w, C_VALID);
		} else {		/* may wait for more after a desync */
			maybe_open = add_frame(w, mix[below(&w->rng,
			    ARRAY_LEN(mix))]) == B_DESYNC;
		}
	}
	if (send_out(w, &w->out, 0) < 0 && w->lk.fd < 0)
		return;
	deadline = now_ms() + (maybe_open ? 5 : CLOSE_MS);
	while (link_recv(&w->lk, &h, deadline) == 0) {
		const uint8_t *p = buf_head(&w->lk.in);

		w->st.answers++;
		answered |= h.opcode == WIRE_OP_HELLO;
		if (h.opcode == WIRE_OP_HELLO && h.request_id != hello_rid)
			deviation(&w->st, p, WIRE_HEADER_SIZE + h.length,
			    "internal port: the HELLO answer carries request id "
			    "%u, not the HELLO's %u (§8.1 step 2)", h.request_id,
			    hello_rid);
		if (h.opcode == WIRE_OP_HELLO && nover)
			deviation(&w->st, buf_head(&w->out), 64, "internal port: "
			    "a HELLO without a common version is answered with "
			    "HELLO, not BAD_VERSION (§8.1 step 2)");
		if (h.opcode == WIRE_OP_ERROR && wire_decode(wire_op(
		    WIRE_OP_ERROR), p + WIRE_HEADER_SIZE, h.length, w->msg,
		    NULL) == 0)
			w->st.err[w->msg->ERROR.code < NCODES ?
			    w->msg->ERROR.code : 0]++;
		else if (h.opcode != WIRE_OP_HELLO)
			deviation(&w->st, p, WIRE_HEADER_SIZE + h.length,
			    "internal port: a connection without the key got %s",
			    wire_op_name(h.opcode));
		buf_consume(&w->lk.in, WIRE_HEADER_SIZE + h.length);
	}
	if (tool && !answered && !nover)
		deviation(&w->st, buf_head(&w->out), 64, "internal port: an "
		    "operator tool's HELLO (kind 3, id 0) is refused before its "
		    "AUTH (§8.1 steps 1-4)");
	if (link_fill(&w->lk, 0) < 0)
		w->st.closes++;
	else if (!maybe_open)
		deviation(&w->st, buf_head(&w->out), buf_pending(&w->out),
		    "internal port: a connection without the key is still open "
		    "%d ms after its frames", CLOSE_MS);
}

/* Connect and go away: at once, after part of a header, or after HELLO
 * and part of a frame; sometimes with a reset instead of a close. */
static void
episode_abandon(struct worker *w)
{
	struct gen g = { &w->rng, &w->out, w->client_id, &w->seq, 20000, 0, 0 };
	struct linger lg = { 1, 0 };
	struct wire_HELLO m;

	count(w, C_ABANDON);
	if (chance(&w->rng, 50)) {
		hello_msg(&m, F.internal ? 2 : 1, 0, NULL);
		wire_encode(&w->out, WIRE_OP_HELLO, next_rid(w), &m);
	}
	gen_frame(&g, pick(&w->rng, F.own, F.nown), next_rid(w), -1, 0);
	w->out.len -= below(&w->rng, buf_pending(&w->out) + 1);
	if (buf_pending(&w->out))
		(void)!send(w->lk.fd, buf_head(&w->out), buf_pending(&w->out),
		    MSG_NOSIGNAL);
	if (chance(&w->rng, 30))
		setsockopt(w->lk.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	while (w->sent < w->quota && !atomic_load(&F.stop)) {
		unsigned r = (unsigned)below(&w->rng, 100);

		if (!F.internal && F.cport && !w->have_token &&
		    w->sent >= w->next_slow)
			fuzz_user_login(w);
		buf_reset(&w->out);
		w->nex = 0;
		w->logged_in = w->maybe_logged = w->desync = 0;
		if (link_open(&w->lk, F.host, F.port, F.internal ?
		    WIRE_MAX_PAYLOAD_INTERNAL : WIRE_MAX_PAYLOAD_CLIENT, 3) < 0) {
			if (++w->fails > 100)	/* refused for seconds */
				atomic_store(&F.stop, 1);
			nap(20);
			continue;
		}
		w->fails = 0;
		w->st.conns++;
		if (r < 5)
			episode_abandon(w);
		else if (F.internal)
			episode_internal(w);
		else if (r < 11)
			episode_prehello(w);
		else
			episode_client(w, r - 11);
		link_close(&w->lk);
	}
	atomic_store(&w->done, 1);
	return NULL;
}

/* ---- canary and liveness ------------------------------------------------- */

/* The replica answers STATUS on its client port (or, known only by its
 * internal port, HELLO there). 0, or -1 with why. */
static int
live_check(char *why, size_t len)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_STATUS_INFO);
	uint64_t deadline = now_ms() + LIVE_MS;
	struct wire_STATUS_INFO st;
	struct wire_STATUS req = { 0 };
	struct wire_header h;
	struct wire_HELLO m;
	struct link l = { -1, { 0 }, 0 };
	struct buf pl;
	int rc = -1;

	buf_init(&pl);
	hello_msg(&m, F.cport ? 1 : 2, 0, F.cport ? NULL :
	    (const uint8_t *)"0123456789abcdef0123456789abcdef");
	if (link_open(&l, F.cport ? F.chost : F.host, F.cport ? F.cport : F.port,
	    WIRE_MAX_PAYLOAD_INTERNAL, 2) == 0 && link_call(&l, WIRE_OP_HELLO,
	    1, &m, &h, &pl, deadline) == 0)
		rc = F.cport ? -(link_call(&l, WIRE_OP_STATUS, 2, &req, &h, &pl,
		    deadline) < 0 || h.opcode != WIRE_OP_STATUS_INFO ||
		    wire_decode(d, buf_head(&pl), buf_pending(&pl), &st,
		    NULL) < 0) : 0;
	if (rc == 0 && F.cport) {	/* elections show as a new epoch */
		F.epoch0 = F.epoch0 ? F.epoch0 : st.epoch;
		F.epoch1 = st.epoch;
	}
	if (rc < 0)
		snprintf(why, len, "the replica did not answer %s within %d ms: "
		    "it died or hangs", F.cport ? "HELLO and STATUS" : "HELLO",
		    LIVE_MS);
	link_close(&l);
	buf_free(&l.in);
	buf_free(&pl);
	return rc;
}

/* Canary message k: numbered, tagged with this run, of a length and
 * characters that vary with k. */
static void
canary_body(char *out, size_t len, unsigned k)
{
	static const char *const fill[] = { "x", " ", "\xc3\xa9", "\xe2\x82\xac",
	    "\xf0\x9f\x98\x80", "-", "\xe6\x97\xa5" };
	size_t n = (size_t)snprintf(out, len, "canary %" PRIu64 ".%" PRIx64
	    " #%u ", F.seed, F.runid, k);
	unsigned i;

	for (i = 0; i < (k * 37) % 300 && n + 5 < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s", fill[(k + i) % 7]);
}

/* FETCH the whole view: every canary message of this run once, intact. */
static int
canary_scan(struct ctl *c, char *why, size_t len)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_MESSAGES);
	char want[1600], prefix[64];
	unsigned *seen = calloc(F.cn + 1, sizeof *seen), k;
	uint64_t after = 0, deadline = now_ms() + CANARY_MS;
	size_t plen;
	int more = 1, rc = -1;

	canary_body(prefix, sizeof prefix, 0);
	plen = strlen(prefix) - 2;	/* up to the '#' */
	while (seen && more) {
		struct wire_FETCH f = { 0, after, CHAT_MAX_PAGE };
		struct wire_MESSAGES ms;
		struct wire_item_MSG it;
		struct wire_list_iter li;
		struct wire_header h;

		if (link_call(&c->lk, WIRE_OP_FETCH, 9, &f, &h, &c->pl,
		    deadline) < 0 || h.opcode != WIRE_OP_MESSAGES || wire_decode(
		    d, buf_head(&c->pl), buf_pending(&c->pl), &ms, NULL) < 0) {
			snprintf(why, len, "FETCH after %" PRIu64 " failed",
			    after);
			goto out;
		}
		more = ms.more && ms.msgs.count > 0;
		wire_list_begin(&li, d, &ms.msgs);
		while (wire_list_next(&li, &it)) {
			after = it.id > after ? it.id : after;
			if (strcmp(it.from, F.cname) || strcmp(it.to, F.cname) ||
			    strncmp(it.body, prefix, plen))
				continue;
			k = (unsigned)strtoul(it.body + plen, NULL, 10);
			canary_body(want, sizeof want, k);
			if (k == 0 || k > F.cn || strcmp(want, it.body) ||
			    it.id != F.cids[k] || ++seen[k] > 1) {
				snprintf(why, len, "canary message #%u (id "
				    "%" PRIu64 ") is changed or repeated", k,
				    it.id);
				goto out;
			}
		}
	}
	for (k = 1; seen && k <= F.cn; k++)
		if (seen[k] != 1) {
			snprintf(why, len, "canary message #%u (id %" PRIu64
			    ") is missing", k, F.cids[k]);
			goto out;
		}
	rc = seen ? 0 : -1;
out:
	free(seen);
	return rc;
}

/* The canary's session (its first LOGIN's, RESUMEd on a fresh
 * connection), message #n+1 to itself, and the scan. 0 or -1. */
static int
canary_check(char *why, size_t len)
{
	uint64_t deadline = now_ms() + CANARY_MS;
	struct wire_RESUME rs = { 0, { F.ctoken, sizeof F.ctoken } };
	struct wire_SEND s;
	struct wire_SENT sent;
	struct wire_header h;
	struct ctl c;
	uint16_t code = 0;
	int rc = -1;

	if (F.cn + 2 >= F.ccap) {
		F.ccap = F.ccap ? F.ccap * 2 : 64;
		F.cids = realloc(F.cids, F.ccap * sizeof *F.cids);
		F.cseqs = realloc(F.cseqs, F.ccap * sizeof *F.cseqs);
		if (F.cids == NULL || F.cseqs == NULL)
			abort();
		memset(F.cseqs + F.cn + 1, 0, (F.ccap - F.cn - 1) *
		    sizeof *F.cseqs);
	}
	if (F.cseqs[F.cn + 1] == 0)	/* one (client_id, seq) per message */
		F.cseqs[F.cn + 1] = ++F.cseq;
	memset(&s, 0, sizeof s);
	s.client_id = F.cclient;
	s.seq = F.cseqs[F.cn + 1];
	snprintf(s.to, sizeof s.to, "%s", F.cname);
	canary_body(s.body, sizeof s.body, F.cn + 1);
	ctl_init(&c);
	while (rc < 0 && left_ms(deadline) > 0) {
		if (F.have_ctoken && ctl_call(&c, WIRE_OP_RESUME, &rs, &h,
		    deadline) == 0 && h.opcode != WIRE_OP_SESSION)
			F.have_ctoken = 0;
		if (!F.have_ctoken && (code = ctl_account(&c, WIRE_OP_LOGIN,
		    F.cname, CANARY_PW, F.cclient, &F.cseq, F.ctoken,
		    deadline)) != 0) {
			snprintf(why, len, "canary LOGIN failed: %s", code ==
			    0xFFFF ? "no answer" : wire_err_name(code));
			break;
		}
		F.have_ctoken = 1;
		if (link_call(&c.lk, WIRE_OP_SEND, 8, &s, &h, &c.pl,
		    deadline) < 0 || h.opcode == WIRE_OP_REDIRECT ||
		    h.opcode == WIRE_OP_NO_PRIMARY ||
		    error_code(&h, &c.pl) == WIRE_E_UNAVAILABLE) {
			link_close(&c.lk);	/* again, the same seq */
			nap(100);
			continue;
		}
		if (h.opcode != WIRE_OP_SENT || wire_decode(wire_op(WIRE_OP_SENT),
		    buf_head(&c.pl), buf_pending(&c.pl), &sent, NULL) < 0) {
			snprintf(why, len, "canary SEND got %s %s",
			    wire_op_name(h.opcode), wire_err_name(error_code(&h,
			    &c.pl)));
			break;
		}
		F.cids[++F.cn] = sent.id;
		rc = canary_scan(&c, why, len) < 0 ? -2 : 0;
	}
	if (rc == -1 && why[0] == '\0')
		snprintf(why, len, "canary check did not finish in %d ms",
		    CANARY_MS);
	ctl_free(&c);
	return rc < 0 ? -1 : 0;
}

/* Liveness, then (with a client address) the canary. 0 or -1. */
static int
canary_round(void)
{
	char why[400] = "";
	int rc = live_check(why, sizeof why);

	F.lpass += rc == 0;
	F.lfail += rc != 0;
	if (rc == 0 && F.cport) {
		rc = canary_check(why, sizeof why);
		F.cpass += rc == 0;
		F.cfail += rc != 0;
	}
	if (rc < 0) {
		if (F.fail_why[0] == '\0')
			snprintf(F.fail_why, sizeof F.fail_why, "%s", why);
		fprintf(stderr, "wirefuzz: CHECK FAILED after %" PRIu64
		    " frames: %s\n", (uint64_t)atomic_load(&F.sent), why);
	}
	return rc;
}

/* ---- --serve: a hostile server for the client ---------------------------- */

/* The response a request's summary names ("... -> SESSION"), in the table. */
static const struct wire_opdesc *
answer_op(const struct wire_opdesc *d)
{
	const char *p = d ? strstr(d->doc, "-> ") : NULL;
	unsigned i;

	if (d && d->opcode == WIRE_OP_PING)
		return wire_op(WIRE_OP_PONG);
	for (i = 0; p && i < wire_nops; i++)
		if (!strncmp(wire_ops[i].name, p + 3, strlen(wire_ops[i].name)) &&
		    !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", p[3 +
		    strlen(wire_ops[i].name)]))
			return &wire_ops[i];
	return NULL;
}

/* Any frame a server may send: a response, a push, or a both-ports one. */
static const struct wire_opdesc *
server_op(uint64_t *r)
{
	const struct wire_opdesc *d;

	do
		d = &wire_ops[below(r, wire_nops)];
	while (d->dir != WIRE_DIR_RESPONSE && d->dir != WIRE_DIR_PUSH &&
	    d->port != WIRE_PORT_BOTH);
	return d;
}

/* Answer one frame of the client with something hostile into out; 0 keep
 * the connection, -1 close it (after out is written). */
static int
serve_answer(uint64_t *r, struct buf *out, const struct wire_header *h,
	     int *hello_done, unsigned nasty, struct stats *st)
{
	uint64_t seq = 0;
	struct gen g = { r, out, 1, &seq, 600000, 0, 0 };
	const struct wire_opdesc *d = answer_op(wire_op(h->opcode));
	/* Connections differ: on some nearly every answer is right (so the
	 * client gets somewhere), on others most are not. */
	unsigned a = chance(r, nasty) ? 40 + (unsigned)below(r, 60) :
	    (unsigned)below(r, 55);
	uint32_t rid = h->request_id;
	size_t at = buf_pending(out);
	struct wire_HELLO m;
	struct buf one;
	enum brk k;

	d = d ? d : server_op(r);
	if (!*hello_done) {	/* mostly a good HELLO, else garbage or a close */
		hello_msg(&m, 2, (uint32_t)below(r, 4), NULL);
		a = (unsigned)below(r, nasty + 1);
		if (h->opcode != WIRE_OP_HELLO || a >= 90)
			return st->sent[C_ABANDON]++, -1;
		if (a < 80)
			wire_encode(out, WIRE_OP_HELLO, rid, &m);
		else
			gen_frame(&g, server_op(r), rid, -1, 0);
		*hello_done = a < 80;
		st->sent[a < 80 ? C_VALID : C_WRONG]++;
		return 0;
	}
	if (h->opcode == WIRE_OP_PONG || h->opcode == WIRE_OP_ERROR)
		return 0;
	if (a < 40) {					/* the right type */
		gen_frame(&g, d, rid, -1, 0);
		st->sent[C_VALID]++;
	} else if (a < 55) {				/* an ERROR */
		gen_frame(&g, wire_op(WIRE_OP_ERROR), rid, -1, 0);
		if (chance(r, 50))
			put_be16(buf_head(out) + at + WIRE_HEADER_SIZE,
			    wire_errors[below(r, wire_nerrors)].code);
		st->sent[C_VALID]++;
	} else if (a < 65) {				/* the wrong type */
		gen_frame(&g, server_op(r), rid, -1, chance(r, 30));
		st->sent[C_WRONG]++;
	} else if (a < 72) {				/* past the limits */
		gen_frame(&g, d, rid, (int)below(r, d->body.nfields + 1), 1);
		st->sent[C_BOUNDARY]++;
	} else if (a < 80) {		/* someone else's id, or a push */
		gen_frame(&g, server_op(r), chance(r, 50) ? rid + 1 :
		    (uint32_t)rnd(r), -1, 0);
		st->sent[C_ORDER]++;
	} else if (a < 88) {				/* mutated */
		buf_init(&one);
		g.b = &one;
		gen_frame(&g, d, rid, -1, 0);
		k = mutate(r, &one, WIRE_MAX_PAYLOAD_CLIENT);
		buf_append(out, buf_head(&one), buf_pending(&one));
		buf_free(&one);
		st->sent[C_MUTATED]++;
		return k == B_CLOSE && chance(r, 50) ? -1 : 0;
	} else if (a < 92) {				/* random bytes */
		for (at = 1 + below(r, 200); at; at--)
			buf_put_u8(out, (uint8_t)rnd(r));
		st->sent[C_RANDOM]++;
	} else if (a < 96) {	/* truncated, then maybe a close */
		gen_frame(&g, d, rid, -1, 0);
		out->len -= below(r, buf_pending(out) - at);
		st->sent[C_MUTATED]++;
		return chance(r, 50) ? -1 : 0;
	} else {					/* silence, or a close */
		st->sent[C_ABANDON]++;
		return a < 98 ? 0 : -1;
	}
	return 0;
}

struct sconn { int fd, hello; unsigned nasty, left; struct buf in, out; };

static void
on_signal(int sig)
{
	got_signal = sig;
}

/* Serve on 127.0.0.1:F.serve until a signal, F.frames answers or the
 * deadline. Some writes go out a byte at a time. */
static int
serve(uint64_t deadline)
{
	struct sconn cs[MAX_CONNS];
	struct pollfd pf[MAX_CONNS + 1];
	struct sockaddr_in a = { .sin_family = AF_INET };
	uint64_t rng = F.seed, total = 0;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, fd;
	unsigned i, n = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(F.serve);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(ls, 16) < 0) {
		fprintf(stderr, "wirefuzz: cannot listen on 127.0.0.1:%u: %s\n",
		    F.serve, strerror(errno));
		return 1;
	}
	if (!F.quiet)
		fprintf(stderr, "wirefuzz: serving hostile answers on "
		    "127.0.0.1:%u\n", F.serve);
	while (!got_signal && total < F.frames && left_ms(deadline) > 0) {
		pf[0] = (struct pollfd){ ls, POLLIN, 0 };
		for (i = 0; i < n; i++)
			pf[i + 1] = (struct pollfd){ cs[i].fd, (short)(POLLIN |
			    (buf_pending(&cs[i].out) ? POLLOUT : 0)), 0 };
		if (poll(pf, n + 1, 100) <= 0)
			continue;
		for (i = n; i-- > 0;) {	/* backwards: the last moves to i */
			struct sconn *c = &cs[i];
			struct wire_header h;
			ssize_t k = 0;
			int rc = 0, drop = 0;

			if (pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
				k = recv(c->fd, buf_reserve(&c->in, 65536),
				    65536, 0);
				c->in.len += k > 0 ? (size_t)k : 0;
				drop = k == 0 || (k < 0 && errno != EAGAIN);
				F.st.closes += k == 0;
			}
			while (!drop && (rc = wire_peek_header(buf_head(&c->in),
			    buf_pending(&c->in), WIRE_MAX_REQUEST, &h)) == 0) {
				drop = serve_answer(&rng, &c->out, &h, &c->hello,
				    c->nasty, &F.st) < 0 || --c->left == 0;
				buf_consume(&c->in, WIRE_HEADER_SIZE + h.length);
				total++;
			}
			if (buf_pending(&c->out)) {
				size_t w = chance(&rng, 5) ? 1 :
				    buf_pending(&c->out);

				if ((k = send(c->fd, buf_head(&c->out), w,
				    MSG_NOSIGNAL)) > 0)
					buf_consume(&c->out, (size_t)k);
				F.st.sent[C_DRIP] += w == 1 && k > 0;
				drop |= k < 0 && errno != EAGAIN;
			}
			if (drop || rc < 0) {
				if (buf_pending(&c->out))
					(void)!send(c->fd, buf_head(&c->out),
					    buf_pending(&c->out), MSG_NOSIGNAL);
				close(c->fd);
				buf_free(&c->in);
				buf_free(&c->out);
				cs[i] = cs[--n];
			}
		}
		if ((pf[0].revents & POLLIN) && n < MAX_CONNS && (fd = accept4(ls,
		    NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
			memset(&cs[n], 0, sizeof cs[n]);
			cs[n].nasty = (unsigned)below(&rng, 3) * 40;
			cs[n].left = 3 + (unsigned)below(&rng, 20);
			cs[n++].fd = fd;
			F.st.conns++;
		}
	}
	while (n-- > 0) {
		close(cs[n].fd);
		buf_free(&cs[n].in);
		buf_free(&cs[n].out);
	}
	close(ls);
	return 0;
}

/* ---- set-up, summary, main ----------------------------------------------- */

static void
summary(double secs)
{
	struct stats *s = &F.st;
	uint64_t total = 0;
	unsigned i;

	for (i = 0; i < NCLS; i++)
		total += s->sent[i];
	printf("wirefuzz: %" PRIu64 " frames in %.1f s, seed %" PRIu64,
	    total, secs, F.seed);
	if (F.serve)
		printf(", serving 127.0.0.1:%u\n", F.serve);
	else
		printf(", %s:%u (%s port), %u connections\n", F.host, F.port,
		    F.internal ? "internal" : "client", F.nconns);
	printf("  frames sent:");
	for (i = 0; i < NCLS; i++)
		printf(" %s %" PRIu64, cls_name[i], s->sent[i]);
	printf("\n  connections: %" PRIu64 " opened, %" PRIu64 " closed by the "
	    "%s\n", s->conns, s->closes, F.serve ? "client" : "replica");
	if (!F.serve) {
		printf("  frames received: %" PRIu64 " (%" PRIu64 " pushes); "
		    "ERROR frames by code:", s->answers, s->pushes);
		for (i = 0; i < NCODES; i++)
			if (s->err[i])
				printf(" %s %" PRIu64, i ? wire_err_name(
				    (uint16_t)i) : "other", s->err[i]);
		printf("\n  batches with a session: %" PRIu64 "; password hashes "
		    "caused: about %" PRIu64 "\n  deviations from the spec: %"
		    PRIu64 "\n", s->sessions, s->hashes, s->devs);
		for (i = 0; i < F.ndk; i++)
			printf("    %6" PRIu64 " x %.70s\n", F.dk[i].n,
			    F.dk[i].fmt);
		printf("  liveness checks: %u passed, %u failed; canary checks: "
		    "%u passed, %u failed%s\n", F.lpass, F.lfail, F.cpass,
		    F.cfail, F.cport ? "" : " (no client port known: none)");
		if (F.epoch0 != F.epoch1)
			printf("  NOTE: the epoch went from %" PRIu64 " to "
			    "%" PRIu64 ": elections happened during the run\n",
			    F.epoch0, F.epoch1);
	}
}

static int
usage(FILE *f, int rc)
{
	fprintf(f,
"usage: wirefuzz (--addr HOST:PORT | -c replicas.conf -i ID) [options]\n"
"       wirefuzz --serve PORT [options]\n"
"Sends frames generated from the protocol table (valid, at and past their\n"
"limits, mutated, of the wrong port, out of order, random, dripped, cut\n"
"off) to one replica port and checks every answer against\n"
"wire/PROTOCOL.md; a canary user checks between batches that the replica\n"
"still works.\n"
"  --addr HOST:PORT      the port to fuzz\n"
"  -c FILE -i ID         replica ID of replicas.conf (its client port is\n"
"                        also used for the canary)\n"
"  --host H              connect to H instead of the config's host\n"
"  --port client|internal  which port of replica ID (default client); with\n"
"                        --addr, which kind of port it is\n"
"  --seed N              random seed (default 1)\n"
"  --frames N            frames to send (default 100000; unlimited when\n"
"                        only --duration is given)\n"
"  --connections C       parallel fuzzing connections (default 4, 1-%d)\n"
"  --duration S          stop after S seconds\n"
"  --canary-every N      frames between canary checks (default 5000)\n"
"  --strict              deviations from the spec fail the run too\n"
"  --serve PORT          be a hostile server on 127.0.0.1:PORT for ./chat:\n"
"                        answer HELLO (mostly), then requests with valid but\n"
"                        wrong, mutated, truncated or huge frames, wrong\n"
"                        request ids, pushes and closes, until --frames\n"
"                        frames, --duration or SIGTERM\n"
"  -q                    only the summary;  -v  every deviation, not the\n"
"                        first of each kind\n"
"  -h, --help            this text\n"
"Exit: 0 the replica stayed alive and every canary check passed, 1 not\n"
"(or --strict and deviations), 2 bad usage.\n", MAX_CONNS);
	return rc;
}

static int
bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "wirefuzz: %s%s\n", what, arg ? arg : "");
	return usage(stderr, 2);
}

static int
number(const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || s[0] == '-' || *v < lo || *v > hi ?
	    -1 : 0;
}

/* Target, opcode sets, dictionary. 0, or an exit status. */
static int
setup(const char *conf, uint64_t id, const char *addr, const char *host)
{
	const struct replica_addr *ra;
	struct config cfg;
	char err[512];
	const char *colon;
	uint64_t v;
	unsigned i;

	if (conf) {
		if (config_load(&cfg, conf, err, sizeof err) < 0) {
			fprintf(stderr, "wirefuzz: %s\n", err);
			return 2;
		}
		if ((ra = config_replica(&cfg, (uint32_t)id)) == NULL)
			return bad_usage("no such replica id in ", conf);
		snprintf(F.host, sizeof F.host, "%s", host ? host : ra->host);
		F.port = F.internal ? ra->internal_port : ra->client_port;
		F.cport = ra->client_port;
		F.nreplicas = cfg.nreplicas;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || colon == addr || (size_t)(colon - addr) >
		    CHAT_MAX_HOST || number(colon + 1, 1, 65535, &v) < 0)
			return bad_usage("bad --addr (HOST:PORT): ", addr);
		snprintf(F.host, sizeof F.host, "%.*s", (int)(colon - addr),
		    addr);
		F.port = (uint16_t)v;
		F.cport = F.internal ? 0 : F.port;
	}
	snprintf(F.chost, sizeof F.chost, "%s", F.host);
	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];

		if (d->opcode == WIRE_OP_PING || (F.internal ? d->port ==
		    WIRE_PORT_INTERNAL : client_request(d)))
			F.own[F.nown++] = d;
		else
			F.foreign[F.nforeign++] = d;
		if (client_request(d) && (d->flags & WIRE_F_AUTH))
			F.authops[F.nauth++] = d;
	}
	snprintf(F.cname, sizeof F.cname, "canary-%" PRIu64,
	    (uint64_t)(F.seed % 1000000000000ull));
	snprintf(F.words[F.nwords++], sizeof F.words[0], "%s", F.cname);
	snprintf(F.words[F.nwords++], sizeof F.words[0], FUZZ_PW);
	snprintf(F.words[F.nwords++], sizeof F.words[0], "127.0.0.1");
	for (i = 0; i < ARRAY_LEN(utf8_ok); i++)
		snprintf(F.words[F.nwords++], sizeof F.words[0], "%s",
		    utf8_ok[i]);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", 1, NULL, 'H' }, { "port", 1, NULL, 'P' },
		{ "addr", 1, NULL, 'A' }, { "seed", 1, NULL, 'S' },
		{ "frames", 1, NULL, 'F' }, { "connections", 1, NULL, 'C' },
		{ "duration", 1, NULL, 'D' }, { "canary-every", 1, NULL, 'E' },
		{ "serve", 1, NULL, 'V' }, { "strict", 0, NULL, 'T' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *addr = NULL, *host = NULL;
	uint64_t id = 0, nconns = 4, every = 5000, serve_port = 0;
	uint64_t t0 = now_ms(), t_end = UINT64_MAX, next_canary, last;
	const struct { int ch; uint64_t lo, hi, *v; const char *what; } num[] = {
		{ 'i', 1, 65535, &id, "bad replica id: " },
		{ 'S', 0, UINT64_MAX, &F.seed, "bad seed: " },
		{ 'F', 1, UINT64_MAX, &F.frames, "bad frame count: " },
		{ 'C', 1, MAX_CONNS, &nconns, "bad connection count: " },
		{ 'E', 1, 1u << 30, &every, "bad --canary-every: " },
		{ 'V', 1, 65535, &serve_port, "bad port: " },
	};
	int ch, have_frames = 0, rc;
	struct worker *ws;
	double duration = 0;
	struct timespec ts;
	unsigned i, k;

	F.seed = 1;
	F.frames = 100000;
	F.nreplicas = 3;
	while ((ch = getopt_long(argc, argv, "c:i:qvh", lo, NULL)) != -1) {
		for (i = 0; i < ARRAY_LEN(num) && num[i].ch != ch; i++)
			;
		if (i < ARRAY_LEN(num) && number(optarg, num[i].lo, num[i].hi,
		    num[i].v) < 0)
			return bad_usage(num[i].what, optarg);
		have_frames |= ch == 'F';
		switch (i < ARRAY_LEN(num) ? 0 : ch) {
		case 0: break;
		case 'c': conf = optarg; break;
		case 'H': host = optarg; break;
		case 'A': addr = optarg; break;
		case 'T': F.strict = 1; break;
		case 'q': F.quiet = 1; break;
		case 'v': F.verbose = 1; break;
		case 'h': return usage(stdout, 0);
		case 'P':
			if (strcmp(optarg, "client") &&
			    strcmp(optarg, "internal"))
				return bad_usage("--port is client or internal: ",
				    optarg);
			F.internal = optarg[0] == 'i';
			break;
		case 'D':
			if ((duration = atof(optarg)) <= 0)
				return bad_usage("bad duration: ", optarg);
			break;
		default: return usage(stderr, 2);
		}
	}
	F.nconns = (unsigned)nconns;
	F.canary_every = (unsigned)every;
	F.serve = (uint16_t)serve_port;
	if (optind != argc)
		return bad_usage("unexpected argument: ", argv[optind]);
	if (duration > 0 && !have_frames)
		F.frames = UINT64_MAX;
	if (duration > 0)
		t_end = t0 + (uint64_t)(duration * 1000);
	pthread_mutex_init(&F.mu, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (F.serve) {
		if (conf || addr)
			return bad_usage("--serve takes no target", NULL);
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		snprintf(F.words[F.nwords++], sizeof F.words[0], "127.0.0.1");
		rc = serve(t_end);
		summary((double)(now_ms() - t0) / 1000);
		return rc;
	}
	if (!!conf + !!addr != 1 || !conf != !id)
		return bad_usage("give --addr HOST:PORT, or -c FILE and -i ID",
		    NULL);
	if ((rc = setup(conf, id, addr, host)) != 0)
		return rc;
	clock_gettime(CLOCK_REALTIME, &ts);	/* sets this run's canary apart */
	F.runid = (uint64_t)ts.tv_nsec << 24 ^ (uint64_t)ts.tv_sec ^
	    (uint64_t)getpid() << 44;
	F.cclient = rnd(&F.runid) | 1;
	ws = calloc(F.nconns, sizeof *ws);
	if (ws == NULL)
		abort();
	for (i = 0; i < F.nconns; i++) {
		snprintf(ws[i].user, sizeof ws[i].user, "fz%" PRIu64 "-%u",
		    (uint64_t)(F.seed % 100000000000ull), i);
		snprintf(F.words[F.nwords++], sizeof F.words[0], "%s",
		    ws[i].user);
	}
	if (live_check(F.fail_why, sizeof F.fail_why) < 0) {
		fprintf(stderr, "wirefuzz: %s\n", F.fail_why);
		return 1;
	}
	if (F.cport) {		/* the canary's account */
		struct ctl c;

		ctl_init(&c);
		rc = ctl_account(&c, WIRE_OP_REGISTER, F.cname, CANARY_PW,
		    F.cclient, &F.cseq, NULL, now_ms() + CANARY_MS) != 0;
		ctl_free(&c);
		if (rc) {
			fprintf(stderr, "wirefuzz: cannot register %s at %s:%u\n",
			    F.cname, F.chost, F.cport);
			return 1;
		}
	}
	if (canary_round() < 0)
		return 1;
	if (!F.quiet)
		fprintf(stderr, "wirefuzz: fuzzing %s:%u (%s port), seed %" PRIu64
		    ", %u connections\n", F.host, F.port, F.internal ?
		    "internal" : "client", F.seed, F.nconns);
	for (i = 0; i < F.nconns; i++) {
		struct worker *w = &ws[i];

		w->rng = F.seed * 0x100000001B3ull + i;
		w->client_id = rnd(&w->rng) | 1;
		w->quota = F.frames == UINT64_MAX ? UINT64_MAX : F.frames /
		    F.nconns + (i < F.frames % F.nconns);
		w->lk.fd = -1;
		ctl_init(&w->ctl);
		w->msg = malloc(sizeof *w->msg);
		if (w->msg == NULL || pthread_create(&w->th, NULL, worker_main,
		    w) != 0)
			abort();
	}
	/* Every --canary-every frames, and at least every CHECK_MS: a hung
	 * replica slows the frames down to nothing. */
	for (next_canary = F.canary_every, last = now_ms();; nap(20)) {
		uint64_t sent = atomic_load(&F.sent);

		for (i = 0, k = 0; i < F.nconns; i++)
			k += !atomic_load(&ws[i].done);
		if (k == 0 || atomic_load(&F.stop))
			break;
		if (now_ms() >= t_end)
			atomic_store(&F.stop, 1);
		if (sent >= next_canary || now_ms() - last >= CHECK_MS) {
			next_canary = sent + F.canary_every;
			last = now_ms();
			if (canary_round() < 0)
				atomic_store(&F.stop, 1);
			else if (!F.quiet)
				fprintf(stderr, "wirefuzz: %" PRIu64 " frames, "
				    "%u checks passed\n", sent, F.lpass);
		}
	}
	atomic_store(&F.stop, 1);
	for (i = 0; i < F.nconns; i++) {
		const uint64_t *a = (const uint64_t *)(const void *)&ws[i].st;
		uint64_t *sum = (uint64_t *)(void *)&F.st;

		pthread_join(ws[i].th, NULL);
		for (k = 0; k < sizeof F.st / sizeof *a; k++)
			sum[k] += a[k];
		link_close(&ws[i].lk);
		buf_free(&ws[i].lk.in);
		buf_free(&ws[i].out);
		buf_free(&ws[i].fr);
		ctl_free(&ws[i].ctl);
		free(ws[i].msg);
	}
	free(ws);
	if (F.cfail == 0 && F.lfail == 0)
		canary_round();		/* the last word */
	summary((double)(now_ms() - t0) / 1000);
	free(F.cids);
	free(F.cseqs);
	if (F.cfail || F.lfail || (F.strict && F.st.devs)) {
		printf("wirefuzz: FAILED: %s\n", F.fail_why[0] ? F.fail_why :
		    "deviations from the spec (--strict)");
		return 1;
	}
	printf("wirefuzz: PASSED\n");
	return 0;
}
