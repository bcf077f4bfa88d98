/*
 * check_wire.c — unit tests for the wire codec (src/wire.c, with src/buf.c)
 * and for the protocol table it is generated from (wire/wire.def).
 *
 * Most tests are driven by the descriptors (wire_ops[], wire_items[]), so a
 * new opcode or field is covered without touching this file:
 *   - a value generator fills any message with its minimum, maximum or
 *     random in-range values (fixed-seed xorshift64); every opcode
 *     round-trips in each mode through wire_encode_begin/item/end,
 *     wire_peek_header and wire_decode, and the bytes are compared with an
 *     independent reference encoder written here from the format in wire.h;
 *   - every strict prefix of a valid frame is INCOMPLETE for
 *     wire_peek_header and fails to decode (exact-size heap copies, so ASan
 *     sees any overread);
 *   - each limit of each field (and each item field) is broken by one and
 *     must fail with the exact error code and field name;
 *   - random and mutated payloads never crash the decoder, and whatever it
 *     accepts re-encodes to exactly the same bytes;
 * plus wire_peek_header, wire_utf8_valid (against a reference validator
 * written from Unicode's table of well-formed sequences), wire_encode_error,
 * wire_encode_set, list iteration, encoding into a partly consumed buffer,
 * the encoder's aborts on contract violations (fork mode only), and table
 * sanity (numbering, layout, limits against the frame and record sizes).
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "h_check.h"
#include "wire.h"

/* ---- small helpers ------------------------------------------------------ */

/* CHECK (h_check.h), not ck_assert*: most checks here cost less than
 * the write to Check's pipe that ck_assert* makes on every call. */

/* calloc that fails the test instead of returning NULL. */
static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	CHECK(p != NULL, "out of memory");
	return p;
}

/* An exact-size heap copy (malloc(0) for n == 0), so ASan flags any read
 * past the n bytes. */
static uint8_t *
dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n);

	CHECK(q != NULL || n == 0, "out of memory");
	if (q != NULL && p != NULL)
		memcpy(q, p, n);
	return q;
}

/* A number in [lo, hi] (modulo bias does not matter here). */
static uint64_t
rng_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	uint64_t r = h_xorshift64(s);

	if (lo == 0 && hi == UINT64_MAX)
		return r;
	return lo + r % (hi - lo + 1);
}

/* A seed mixed from two numbers; never 0 (xorshift's fixed point). */
static uint64_t
seed_of(uint64_t a, uint64_t b)
{
	uint64_t s = 0x9E3779B97F4A7C15ull ^ (a + 1) * 0xBF58476D1CE4E5B9ull ^
	    (b + 1) * 0x94D049BB133111EBull;

	s ^= s >> 31;
	return s ? s : 1;
}

/* Fill p with n pseudo-random bytes. */
static void
fill_random(uint64_t *s, uint8_t *p, size_t n)
{
	size_t i;
	uint64_t r = 0;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0)
			r = h_xorshift64(s);
		p[i] = (uint8_t)(r >> (8 * (i % 8)));
	}
}

/* Big-endian reads written here, independent of buf.c. */
static uint32_t
rd_be(const uint8_t *p, size_t w)
{
	uint32_t v = 0;

	while (w-- > 0)
		v = v << 8 | *p++;
	return v;
}

/* ---- descriptor helpers ------------------------------------------------- */

static size_t
int_width(enum wire_type t)
{
	switch (t) {
	case WT_U8:	return 1;
	case WT_U16:	return 2;
	case WT_U32:	return 4;
	case WT_U64:	return 8;
	default:	return 0;
	}
}

/* Largest value the C member (and the wire width) of an integer holds. */
static uint64_t
type_max(enum wire_type t)
{
	size_t w = int_width(t);

	return w == 8 ? UINT64_MAX : (1ull << (8 * w)) - 1;
}

/* Read an integer member through the descriptor's offset. */
static uint64_t
get_int(const struct wire_field *f, const void *base)
{
	const unsigned char *p = (const unsigned char *)base + f->offset;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (f->type) {
	case WT_U8:	memcpy(&v8, p, 1); return v8;
	case WT_U16:	memcpy(&v16, p, 2); return v16;
	case WT_U32:	memcpy(&v32, p, 4); return v32;
	default:	memcpy(&v64, p, 8); return v64;
	}
}

/* Write an integer member through the descriptor's offset. */
static void
set_int(const struct wire_field *f, void *base, uint64_t v)
{
	unsigned char *p = (unsigned char *)base + f->offset;
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (f->type) {
	case WT_U8:	memcpy(p, &v8, 1); break;
	case WT_U16:	memcpy(p, &v16, 2); break;
	case WT_U32:	memcpy(p, &v32, 4); break;
	default:	memcpy(p, &v, 8); break;
	}
}

static const char *
str_at(const struct wire_field *f, const void *base)
{
	return (const char *)base + f->offset;
}

static struct wire_bytes
bytes_at(const struct wire_field *f, const void *base)
{
	struct wire_bytes b;

	memcpy(&b, (const char *)base + f->offset, sizeof b);
	return b;
}

static struct wire_list
list_at(const struct wire_field *f, const void *base)
{
	struct wire_list l;

	memcpy(&l, (const char *)base + f->offset, sizeof l);
	return l;
}

/* Field by name, or NULL. */
static const struct wire_field *
field_named(const struct wire_struct *s, const char *name)
{
	unsigned i;

	for (i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return &s->fields[i];
	return NULL;
}

/* Opcode by name; fails the test when the table has none. */
static const struct wire_opdesc *
op_named(const char *name)
{
	unsigned i;

	for (i = 0; i < wire_nops; i++)
		if (strcmp(wire_ops[i].name, name) == 0)
			return &wire_ops[i];
	ck_abort_msg("no opcode %s in the table", name);
	return NULL;
}


/* Smallest / largest encoding of a struct, computed here from the fields. */
static uint64_t
enc_bound(const struct wire_struct *s, int largest)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];
		uint64_t n = largest ? f->max : f->min;

		switch (f->type) {
		case WT_STR:	sum += 2 + n; break;
		case WT_BYTES:	sum += 4 + n; break;
		case WT_LIST:	sum += 2 + n * enc_bound(f->item, largest); break;
		default:	sum += int_width(f->type); break;
		}
	}
	return sum;
}

/* Error code name for messages (never the shared static buffer twice). */
static const char *
ename(uint16_t code)
{
	unsigned i;

	for (i = 0; i < wire_nerrors; i++)
		if (wire_errors[i].code == code)
			return wire_errors[i].name;
	return "?";
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Encode code point cp; returns its length (1-4). */
static size_t
utf8_put(uint8_t *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (uint8_t)(0xC0 | cp >> 6);
		p[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (uint8_t)(0xE0 | cp >> 12);
		p[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		p[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	p[0] = (uint8_t)(0xF0 | cp >> 18);
	p[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	p[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	p[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Reference validator, written from Unicode's table of well-formed byte
 * sequences (Table 3-7), plus "no NUL".
 */
static int
ref_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, k, need;

	while (i < n) {
		uint8_t c = p[i], lo = 0x80, hi = 0xBF;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1;
		else if (c == 0xE0)
			need = 2, lo = 0xA0;
		else if (c == 0xED)
			need = 2, hi = 0x9F;
		else if (c >= 0xE1 && c <= 0xEF)
			need = 2;
		else if (c == 0xF0)
			need = 3, lo = 0x90;
		else if (c == 0xF4)
			need = 3, hi = 0x8F;
		else if (c >= 0xF1 && c <= 0xF3)
			need = 3;
		else
			return 0;
		if (n - i <= need)
			return 0;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return 0;
		for (k = 2; k <= need; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xBF)
				return 0;
		i += need + 1;
	}
	return 1;
}

struct seq {
	const char *b;
	size_t      n;
	const char *what;
};
#define SEQ(s, w) { s, sizeof(s) - 1, w }

static const struct seq good_utf8[] = {
	SEQ("", "empty"),
	SEQ("a", "one ASCII"),
	SEQ("hello, world", "ASCII"),
	SEQ("\x01\x7F", "ASCII edges"),
	SEQ("\xC2\x80", "U+0080"),
	SEQ("\xDF\xBF", "U+07FF"),
	SEQ("\xE0\xA0\x80", "U+0800"),
	SEQ("\xED\x9F\xBF", "U+D7FF"),
	SEQ("\xEE\x80\x80", "U+E000"),
	SEQ("\xEF\xBF\xBF", "U+FFFF"),
	SEQ("\xF0\x90\x80\x80", "U+10000"),
	SEQ("\xF4\x8F\xBF\xBF", "U+10FFFF"),
	SEQ("\xC3\xA9t\xC3\xA9", "ete with accents"),
	SEQ("x\xF0\x9F\x98\x80y", "emoji between ASCII"),
};

static const struct seq bad_utf8[] = {
	SEQ("\xC0\x80", "overlong NUL C0 80"),
	SEQ("\xC1\xBF", "overlong 2-byte C1 BF"),
	SEQ("\xE0\x80\x80", "overlong 3-byte E0 80 80"),
	SEQ("\xE0\x9F\xBF", "overlong U+07FF in 3 bytes"),
	SEQ("\xF0\x80\x80\x80", "overlong 4-byte F0 80 80 80"),
	SEQ("\xF0\x8F\xBF\xBF", "overlong U+FFFF in 4 bytes"),
	SEQ("\x80", "lone continuation 80"),
	SEQ("\xBF", "lone continuation BF"),
	SEQ("\xED\xA0\x80", "surrogate U+D800"),
	SEQ("\xED\xBF\xBF", "surrogate U+DFFF"),
	SEQ("\xF4\x90\x80\x80", "U+110000"),
	SEQ("\xF5\x80\x80\x80", "lead F5"),
	SEQ("\xF8\x88\x80\x80\x80", "5-byte form"),
	SEQ("\xFE", "FE"),
	SEQ("\xFF", "FF"),
	SEQ("\xC3", "truncated 2-byte"),
	SEQ("\xE2\x82", "truncated 3-byte"),
	SEQ("\xF0\x9F\x98", "truncated 4-byte"),
	SEQ("\xC3" "A", "2-byte lead then ASCII"),
	SEQ("\xE2\x28\xA1", "bad second byte"),
	SEQ("\xE2\x82\x28", "bad third byte"),
	SEQ("\x00", "NUL"),
	SEQ("a\x00" "b", "embedded NUL"),
};
#define NGOOD (sizeof good_utf8 / sizeof good_utf8[0])
#define NBAD  (sizeof bad_utf8 / sizeof bad_utf8[0])

/* ---- value generator ---------------------------------------------------- */

enum mode { MODE_MIN, MODE_MAX, MODE_RANDOM, NMODES };
static const char *const mode_name[NMODES] = { "min", "max", "random" };

struct gen {
	enum mode mode;
	uint64_t  rng;
	unsigned  list_cap;	/* at most this many items; 0: frame limit only */
	unsigned  list_floor;	/* at least this many, where the list allows */
	uint64_t  str_cap;	/* STR at most this long (>= min); 0: none */
	uint64_t  bytes_cap;	/* BYTES likewise */
};

/* One generated message: the struct, its list items, BYTES storage. */
struct sample {
	const struct wire_opdesc *d;
	void      *msg;
	void     **items;
	unsigned   nitems;
	uint8_t  **blobs;
	unsigned   nblobs, blobcap;
};

/* Characters max mode cycles through: each UTF-8 length's edges, é, €. */
static const uint32_t max_mode_cps[] = {
	0xE9, 0x20AC, 0x1F600, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF,
	0x10000, 0x10FFFF,
};

/* A value in [lo, hi] for the generator's mode; random mode picks the
 * bounds now and then. */
static uint64_t
pick(struct gen *g, uint64_t lo, uint64_t hi)
{
	switch (g->mode) {
	case MODE_MIN:
		return lo;
	case MODE_MAX:
		return hi;
	default:
		switch (h_xorshift64(&g->rng) % 8) {
		case 0:  return lo;
		case 1:  return hi;
		default: return rng_range(&g->rng, lo, hi);
		}
	}
}

/* f's largest length under a cap (never below f's min). */
static uint64_t
capped_max(const struct wire_field *f, uint64_t cap)
{
	if (cap == 0 || f->max <= cap)
		return f->max;
	return cap > f->min ? cap : f->min;
}

/* A random valid code point (no NUL), ASCII half of the time. */
static uint32_t
random_cp(uint64_t *s)
{
	uint32_t cp;

	switch (h_xorshift64(s) % 8) {
	case 0: case 1: case 2: case 3:
		return (uint32_t)rng_range(s, 1, 0x7F);
	case 4:
		return (uint32_t)rng_range(s, 0x80, 0x7FF);
	case 5: case 6:
		do
			cp = (uint32_t)rng_range(s, 0x800, 0xFFFF);
		while (cp >= 0xD800 && cp <= 0xDFFF);
		return cp;
	default:
		return (uint32_t)rng_range(s, 0x10000, 0x10FFFF);
	}
}

/* Write exactly len bytes of valid UTF-8 text and a NUL at dst. Min mode:
 * ASCII; max mode: multi-byte characters where they fit, padded with
 * ASCII; random mode: random code points. */
static void
gen_text(struct gen *g, char *dst, size_t len)
{
	size_t i = 0, k = 0, n;
	uint8_t tmp[4];

	while (i < len) {
		if (g->mode == MODE_MIN)
			n = utf8_put(tmp, (uint32_t)('a' + i % 26));
		else if (g->mode == MODE_MAX)
			n = utf8_put(tmp, max_mode_cps[k++ %
			    (sizeof max_mode_cps / sizeof max_mode_cps[0])]);
		else
			n = utf8_put(tmp, random_cp(&g->rng));
		if (n > len - i)
			n = utf8_put(tmp, (uint32_t)('A' + i % 26));
		memcpy(dst + i, tmp, n);
		i += n;
	}
	dst[len] = '\0';
}

/* Storage for one BYTES value, freed with the sample. */
static uint8_t *
sample_blob(struct sample *sm, size_t n)
{
	if (sm->nblobs == sm->blobcap) {
		sm->blobcap = sm->blobcap ? 2 * sm->blobcap : 8;
		sm->blobs = realloc(sm->blobs, sm->blobcap * sizeof *sm->blobs);
		CHECK(sm->blobs != NULL, "out of memory");
	}
	sm->blobs[sm->nblobs] = xcalloc(1, n);
	return sm->blobs[sm->nblobs++];
}

/* Fill the non-LIST fields of s in msg, through the descriptor offsets. */
static void
gen_fields(struct gen *g, struct sample *sm, const struct wire_struct *s,
	   void *msg)
{
	unsigned i;

	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];
		struct wire_bytes b;
		uint8_t *p;
		uint64_t n;

		switch (f->type) {
		case WT_STR:
			n = pick(g, f->min, capped_max(f, g->str_cap));
			gen_text(g, (char *)msg + f->offset, (size_t)n);
			break;
		case WT_BYTES:
			n = pick(g, f->min, capped_max(f, g->bytes_cap));
			p = sample_blob(sm, (size_t)n);
			fill_random(&g->rng, p, (size_t)n);
			b.ptr = p;
			b.len = (uint32_t)n;
			memcpy((char *)msg + f->offset, &b, sizeof b);
			break;
		case WT_LIST:
			break;	/* items: gen_sample */
		default:
			set_int(f, msg, pick(g, f->min, f->max));
			break;
		}
	}
}

/*
 * Generate a message for d. The list count follows the mode, but is kept
 * low enough that even maximal items fit the port's frame limit, and
 * within g's cap and floor.
 */
static void
gen_sample(struct sample *sm, const struct wire_opdesc *d, struct gen *g)
{
	const struct wire_field *lf = wire_list_field(&d->body);
	uint64_t imax, fixed, room, lo, hi;
	unsigned i;

	memset(sm, 0, sizeof *sm);
	sm->d = d;
	sm->msg = xcalloc(1, d->body.size);
	gen_fields(g, sm, &d->body, sm->msg);
	if (lf == NULL)
		return;
	imax = lf->item->max_encoded;
	fixed = d->body.max_encoded - lf->max * imax;
	room = fixed < wire_payload_limit(d) ?
	    (wire_payload_limit(d) - fixed) / imax : 0;
	lo = lf->min;
	hi = lf->max;
	if (hi > room)
		hi = room > lo ? room : lo;
	if (g->list_cap && hi > g->list_cap)
		hi = g->list_cap > lo ? g->list_cap : lo;
	if (g->list_floor > lo)
		lo = g->list_floor < hi ? g->list_floor : hi;
	sm->nitems = (unsigned)pick(g, lo, hi);
	sm->items = xcalloc(sm->nitems, sizeof *sm->items);
	for (i = 0; i < sm->nitems; i++) {
		sm->items[i] = xcalloc(1, lf->item->size);
		gen_fields(g, sm, lf->item, sm->items[i]);
	}
}

static void
sample_free(struct sample *sm)
{
	unsigned i;

	for (i = 0; i < sm->nitems; i++)
		free(sm->items[i]);
	free(sm->items);
	for (i = 0; i < sm->nblobs; i++)
		free(sm->blobs[i]);
	free(sm->blobs);
	free(sm->msg);
	memset(sm, 0, sizeof *sm);
}

/* Encode sm as a whole frame with the begin/item/end encoder; checks that
 * wire_enc_size follows along. */
static void
encode_sample(struct buf *out, const struct sample *sm, uint32_t rid)
{
	struct wire_enc e;
	/* Bytes pending before the frame: appending may compact the buffer
	 * (moving both ends), so count from the read cursor. */
	size_t before = buf_pending(out);
	unsigned i;

	wire_encode_begin(&e, out, sm->d->opcode, rid, sm->msg);
	for (i = 0; i < sm->nitems; i++)
		wire_encode_item(&e, sm->items[i]);
	CHECK(wire_enc_size(&e) == buf_pending(out) - before,
	    "%s: wire_enc_size before end", sm->d->name);
	wire_encode_end(&e);
	CHECK(wire_enc_size(&e) == buf_pending(out) - before,
	    "%s: wire_enc_size after end", sm->d->name);
}

/* ---- reference encoder -------------------------------------------------- */

/* Replace one field's whole encoding (first occurrence) with raw bytes;
 * with stop, the payload ends right after them. */
struct patch {
	const struct wire_field *f;
	const uint8_t *bytes;
	size_t len;
	int stop;
	int hit;
};

/* Append v as w big-endian bytes, one at a time. */
static void
ref_put(struct buf *b, uint64_t v, size_t w)
{
	while (w-- > 0) {
		uint8_t c = (uint8_t)(v >> (8 * w));

		buf_append(b, &c, 1);
	}
}

/* The format as wire.h documents it, written independently of wire.c.
 * Returns 1 when a stop patch ended the payload. */
static int
ref_fields(struct buf *out, const struct wire_struct *s, const void *msg,
	   const struct sample *sm, struct patch *pt)
{
	unsigned i, k;

	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];
		struct wire_bytes b;
		size_t n;

		if (pt && !pt->hit && pt->f == f) {
			buf_append(out, pt->bytes, pt->len);
			pt->hit = 1;
			if (pt->stop)
				return 1;
			continue;
		}
		switch (f->type) {
		case WT_STR:
			n = strlen(str_at(f, msg));
			ref_put(out, n, 2);
			buf_append(out, str_at(f, msg), n);
			break;
		case WT_BYTES:
			b = bytes_at(f, msg);
			ref_put(out, b.len, 4);
			buf_append(out, b.ptr, b.len);
			break;
		case WT_LIST:
			ref_put(out, sm->nitems, 2);
			for (k = 0; k < sm->nitems; k++)
				if (ref_fields(out, f->item, sm->items[k], NULL, pt))
					return 1;
			break;
		default:
			ref_put(out, get_int(f, msg), int_width(f->type));
			break;
		}
	}
	return 0;
}

/* The reference payload of sm, with an optional patch. */
static void
ref_payload(struct buf *out, const struct sample *sm, struct patch *pt)
{
	ref_fields(out, &sm->d->body, sm->msg, sm, pt);
}

/* ---- decode checks ------------------------------------------------------ */

/* Compare the non-LIST fields of s: want (generated) against got
 * (decoded). BYTES must point into the payload [pl, pl + plen). */
static void
compare_fields(const char *ctx, const struct wire_struct *s, const void *want,
	       const void *got, const uint8_t *pl, size_t plen)
{
	unsigned i;

	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];
		struct wire_bytes bw, bg;

		switch (f->type) {
		case WT_STR:
			CHECK(strcmp(str_at(f, want), str_at(f, got)) == 0,
			    "%s: %s.%s differs", ctx, s->name, f->name);
			break;
		case WT_BYTES:
			bw = bytes_at(f, want);
			bg = bytes_at(f, got);
			CHECK(bw.len == bg.len, "%s: %s.%s length %u, want %u",
			    ctx, s->name, f->name, bg.len, bw.len);
			CHECK(bg.ptr >= pl && bg.ptr + bg.len <= pl + plen,
			    "%s: %s.%s does not point into the payload", ctx,
			    s->name, f->name);
			CHECK(bw.len == 0 || memcmp(bw.ptr, bg.ptr, bw.len) == 0,
			    "%s: %s.%s bytes differ", ctx, s->name, f->name);
			break;
		case WT_LIST:
			break;
		default:
			CHECK(get_int(f, want) == get_int(f, got),
			    "%s: %s.%s = %llu, want %llu", ctx, s->name, f->name,
			    (unsigned long long)get_int(f, got),
			    (unsigned long long)get_int(f, want));
			break;
		}
	}
}

/* Compare a decoded message with the sample it came from, list items by
 * iterating; wire_list_next keeps returning 0 after the end. */
static void
compare_sample(const char *ctx, const struct sample *sm, const void *out,
	       const uint8_t *pl, size_t plen)
{
	const struct wire_opdesc *d = sm->d;
	const struct wire_field *lf = wire_list_field(&d->body);
	struct wire_list_iter it;
	struct wire_list l;
	void *item;
	unsigned i;

	compare_fields(ctx, &d->body, sm->msg, out, pl, plen);
	if (lf == NULL)
		return;
	l = list_at(lf, out);
	CHECK(l.count == sm->nitems, "%s: %u items, want %u", ctx,
	    l.count, sm->nitems);
	CHECK(l.ptr >= pl + 2 && l.ptr + l.len == pl + plen,
	    "%s: list bytes are not the end of the payload", ctx);
	item = xcalloc(1, lf->item->size);
	wire_list_begin(&it, d, &l);
	for (i = 0; i < sm->nitems; i++) {
		CHECK(wire_list_next(&it, item) == 1,
		    "%s: list ended at item %u of %u", ctx, i, sm->nitems);
		compare_fields(ctx, lf->item, sm->items[i], item, pl, plen);
	}
	CHECK(wire_list_next(&it, item) == 0 && wire_list_next(&it, item) == 0,
	    "%s: wire_list_next after the end", ctx);
	free(item);
}

/* Decode p[0..n) (from an exact-size copy) as d; expect failure with code
 * and field (NULL: no field). A payload over body.max_encoded must fail
 * with TOO_LONG and no field, whatever else is wrong with it. */
static void
expect_fail(const struct wire_opdesc *d, const uint8_t *p, size_t n,
	    uint16_t code, const char *field, const char *what)
{
	struct wire_decode_error err;
	uint8_t *copy = dup_exact(p, n);
	void *out = xcalloc(1, d->body.size);
	int rc;

	if (n > d->body.max_encoded) {
		code = WIRE_E_TOO_LONG;
		field = NULL;
	}
	memset(&err, 0x55, sizeof err);
	rc = wire_decode(d, copy, n, out, &err);
	CHECK(rc == -1, "%s: %s: accepted (rc %d)", d->name, what, rc);
	CHECK(err.code == code, "%s: %s: error %s, want %s (%s)",
	    d->name, what, ename(err.code), ename(code), err.text);
	if (field)
		CHECK(err.field && strcmp(err.field, field) == 0,
		    "%s: %s: field %s, want %s", d->name, what,
		    err.field ? err.field : "(none)", field);
	else
		CHECK(err.field == NULL, "%s: %s: field %s, want none",
		    d->name, what, err.field);
	CHECK(memchr(err.text, '\0', sizeof err.text) && err.text[0],
	    "%s: %s: no error text", d->name, what);
	/* And once without an error struct. */
	CHECK(wire_decode(d, copy, n, out, NULL) == -1, "%s: %s: accepted "
	    "without an error struct", d->name, what);
	free(out);
	free(copy);
}

/* The reference payload of sm with patch pt must fail as expect_fail says. */
static void
expect_patch_fails(const struct sample *sm, struct patch *pt, uint16_t code,
		   const char *field, const char *what)
{
	struct buf b;

	buf_init(&b);
	pt->hit = 0;
	ref_payload(&b, sm, pt);
	CHECK(pt->hit, "%s: %s: field not reached", sm->d->name, what);
	expect_fail(sm->d, b.data, b.len, code, field, what);
	buf_free(&b);
}

/* Check the frame header of an encoded sample and that wire_peek_header
 * sees exactly this frame. */
static void
check_frame(const char *ctx, const struct sample *sm, const uint8_t *fr,
	    size_t n, uint32_t rid)
{
	struct wire_header h;
	int rc;

	CHECK(n >= WIRE_HEADER_SIZE, "%s: frame of %zu bytes", ctx, n);
	CHECK(rd_be(fr, 2) == WIRE_MAGIC && fr[2] == WIRE_VERSION_MAX &&
	    fr[3] == 0, "%s: bad magic, version or flags", ctx);
	CHECK(rd_be(fr + 4, 2) == sm->d->opcode, "%s: opcode", ctx);
	CHECK(rd_be(fr + 6, 4) == rid, "%s: request id", ctx);
	CHECK(rd_be(fr + 10, 4) == n - WIRE_HEADER_SIZE, "%s: length %u for "
	    "%zu payload bytes", ctx, rd_be(fr + 10, 4), n - WIRE_HEADER_SIZE);
	memset(&h, 0, sizeof h);
	rc = wire_peek_header(fr, n, wire_payload_limit(sm->d), &h);
	CHECK(rc == WIRE_FRAME_OK, "%s: peek says %s", ctx,
	    wire_frame_strerror(rc));
	CHECK(h.magic == WIRE_MAGIC && h.version == WIRE_VERSION_MAX &&
	    h.flags == 0 && h.opcode == sm->d->opcode && h.request_id == rid,
	    "%s: peek filled the header wrongly", ctx);
	CHECK(WIRE_HEADER_SIZE + (size_t)h.length == n, "%s: peek says %u "
	    "payload bytes, frame has %zu", ctx, h.length, n - WIRE_HEADER_SIZE);
}

/* Decode the payload of a frame (exact-size copy) and compare with sm. */
static void
decode_and_compare(const char *ctx, const struct sample *sm, const uint8_t *pl,
		   size_t plen)
{
	const struct wire_opdesc *d = sm->d;
	struct wire_decode_error err;
	uint8_t *copy = dup_exact(pl, plen);
	void *out = xcalloc(1, d->body.size);
	int rc;

	memset(&err, 0, sizeof err);
	rc = wire_decode(d, copy, plen, out, &err);
	CHECK(rc == 0, "%s: decode failed: %s (%s, field %s)", ctx,
	    err.text, ename(err.code), err.field ? err.field : "-");
	compare_sample(ctx, sm, out, copy, plen);
	/* wire_decode_struct on the body is the same thing */
	memset(out, 0xA5, d->body.size);
	CHECK(wire_decode_struct(&d->body, copy, plen, out, NULL) == 0,
	    "%s: wire_decode_struct fails", ctx);
	compare_sample(ctx, sm, out, copy, plen);
	free(out);
	free(copy);
}

/* Encode a decoded message again (list items taken from its decoded list)
 * and check that the payload is exactly p[0..n). */
static void
check_reencode(const struct wire_opdesc *d, const void *out, const uint8_t *p,
	       size_t n)
{
	const struct wire_field *lf = wire_list_field(&d->body);
	struct wire_list_iter it;
	struct wire_enc e;
	struct buf b;

	buf_init(&b);
	wire_encode_begin(&e, &b, d->opcode, 7, out);
	if (lf) {
		struct wire_list l = list_at(lf, out);
		void *item = xcalloc(1, lf->item->size);

		wire_list_begin(&it, d, &l);
		while (wire_list_next(&it, item))
			wire_encode_item(&e, item);
		free(item);
	}
	wire_encode_end(&e);
	CHECK(b.len == WIRE_HEADER_SIZE + n && (n == 0 ||
	    memcmp(b.data + WIRE_HEADER_SIZE, p, n) == 0),
	    "%s: accepted payload of %zu bytes re-encodes differently (%zu)",
	    d->name, n, b.len - WIRE_HEADER_SIZE);
	buf_free(&b);
}

/* ---- 2. round trip ------------------------------------------------------ */

#define RANDOM_ROUNDS 8

/* One round trip of a generated sample, compared with the reference
 * encoding; exact says the payload must be exactly min/max encoded. */
static void
roundtrip_one(const struct sample *sm, const char *ctx, int exact_min,
	      int exact_max)
{
	const struct wire_opdesc *d = sm->d;
	uint32_t rid = (uint32_t)(d->opcode * 2654435761u) ^ sm->nitems;
	size_t plen;
	struct buf b, r;

	buf_init(&b);
	buf_init(&r);
	encode_sample(&b, sm, rid);
	check_frame(ctx, sm, b.data, b.len, rid);
	plen = b.len - WIRE_HEADER_SIZE;
	ref_payload(&r, sm, NULL);
	CHECK(r.len == plen && (plen == 0 || memcmp(r.data,
	    b.data + WIRE_HEADER_SIZE, plen) == 0), "%s: encoding differs from "
	    "the reference (%zu vs %zu bytes)", ctx, plen, r.len);
	CHECK(plen <= d->body.max_encoded, "%s: %zu bytes > max_encoded "
	    "%llu", ctx, plen, (unsigned long long)d->body.max_encoded);
	if (exact_min)
		ck_assert_uint_eq(plen, enc_bound(&d->body, 0));
	if (exact_max)
		ck_assert_uint_eq(plen, d->body.max_encoded);
	decode_and_compare(ctx, sm, b.data + WIRE_HEADER_SIZE, plen);

	/* Without a list, wire_encode and wire_encode_payload agree. */
	if (wire_list_field(&d->body) == NULL) {
		buf_reset(&r);
		wire_encode(&r, d->opcode, rid, sm->msg);
		ck_assert(r.len == b.len && memcmp(r.data, b.data, b.len) == 0);
		buf_reset(&r);
		wire_encode_payload(&r, &d->body, sm->msg);
		ck_assert(r.len == plen &&
		    memcmp(r.data, b.data + WIRE_HEADER_SIZE, plen) == 0);
	} else {
		/* payload-only begin/item/end */
		struct wire_enc e;
		unsigned i;

		buf_reset(&r);
		wire_payload_begin(&e, &r, &d->body, sm->msg);
		for (i = 0; i < sm->nitems; i++)
			wire_encode_item(&e, sm->items[i]);
		wire_encode_end(&e);
		ck_assert(r.len == plen &&
		    memcmp(r.data, b.data + WIRE_HEADER_SIZE, plen) == 0);
	}
	buf_free(&r);
	buf_free(&b);
}

START_TEST(test_roundtrip)
{
	const struct wire_opdesc *d = &wire_ops[_i];
	const struct wire_field *lf = wire_list_field(&d->body);
	struct sample sm;
	char ctx[96];
	int m, k;

	for (m = 0; m < NMODES; m++) {
		int rounds = m == MODE_RANDOM ? RANDOM_ROUNDS : 1;

		for (k = 0; k < rounds; k++) {
			struct gen g = { (enum mode)m, seed_of(d->opcode, (uint64_t)k),
			    0, 0, 0, 0 };

			snprintf(ctx, sizeof ctx, "%s %s #%d", d->name,
			    mode_name[m], k);
			gen_sample(&sm, d, &g);
			roundtrip_one(&sm, ctx, m == MODE_MIN,
			    m == MODE_MAX && (lf == NULL || sm.nitems == lf->max));
			sample_free(&sm);
		}
	}
	/* Lists with items that are not at the list's bounds: 1 and 2. */
	if (lf) {
		for (k = 1; k <= 2; k++) {
			struct gen g = { MODE_RANDOM,
			    seed_of(d->opcode, 100u + (unsigned)k), (unsigned)k,
			    (unsigned)k, 0, 0 };

			snprintf(ctx, sizeof ctx, "%s %d items", d->name, k);
			gen_sample(&sm, d, &g);
			roundtrip_one(&sm, ctx, 0, 0);
			sample_free(&sm);
		}
	}
}
END_TEST

/* ---- 3. strict prefixes ------------------------------------------------- */

/*
 * Every strict prefix of the frame fr[0..n) is INCOMPLETE for
 * wire_peek_header, and every strict prefix of its payload fails to decode
 * with BAD_FRAME. With every == 0 (large frames) the payload prefixes are
 * sampled: the first 256, the last 8, and evenly spaced ones between (as
 * many as about 8 MiB of copying allows, 16 to 256).
 */
static void
check_prefixes(const char *ctx, const struct wire_opdesc *d, const uint8_t *fr,
	       size_t n, int every)
{
	const uint8_t *pl = fr + WIRE_HEADER_SIZE;
	size_t plen = n - WIRE_HEADER_SIZE, k, step = 1, spread;
	struct wire_decode_error err;
	struct wire_header h;
	void *out = xcalloc(1, d->body.size);

	for (k = 0; k < n; k++) {
		uint8_t *c = k < 64 ? dup_exact(fr, k) : NULL;
		int rc = wire_peek_header(c ? c : fr, k,
		    wire_payload_limit(d), &h);

		CHECK(rc == WIRE_FRAME_INCOMPLETE, "%s: peek of %zu/%zu "
		    "bytes: %s", ctx, k, n, wire_frame_strerror(rc));
		free(c);
	}
	if (!every) {
		spread = (8u << 20) / (plen + 1);
		spread = spread < 16 ? 16 : spread > 256 ? 256 : spread;
		step = plen / spread + 1;
	}
	for (k = 0; k < plen; k++) {
		uint8_t *c;
		int rc;

		if (!(every || k < 256 || plen - k <= 8 || k % step == 0))
			continue;
		c = dup_exact(pl, k);
		memset(&err, 0, sizeof err);
		rc = wire_decode(d, c, k, out, &err);
		CHECK(rc == -1, "%s: prefix %zu/%zu decodes", ctx, k, plen);
		CHECK(err.code == WIRE_E_BAD_FRAME, "%s: prefix %zu/%zu: "
		    "%s, want BAD_FRAME (%s)", ctx, k, plen, ename(err.code),
		    err.text);
		free(c);
	}
	free(out);
}

/* Per mode: a frame small enough to try every prefix (strings as the
 * mode says, lists of at most 2 items, BYTES of at most 1 KiB), then the
 * mode's full-size frame, if different, with sampled prefixes. */
static void
prefixes_of(const struct wire_opdesc *d)
{
	struct sample sm;
	struct buf small, b;
	char ctx[96];
	int m;

	buf_init(&small);
	buf_init(&b);
	for (m = 0; m < NMODES; m++) {
		struct gen gs = { (enum mode)m, seed_of(d->opcode, 7), 2, 0, 0, 1024 };
		struct gen gf = { (enum mode)m, seed_of(d->opcode, 7), 0, 0, 0, 0 };

		gen_sample(&sm, d, &gs);
		buf_reset(&small);
		encode_sample(&small, &sm, 42);
		sample_free(&sm);
		snprintf(ctx, sizeof ctx, "%s %s", d->name, mode_name[m]);
		check_prefixes(ctx, d, small.data, small.len, 1);

		gen_sample(&sm, d, &gf);
		buf_reset(&b);
		encode_sample(&b, &sm, 42);
		sample_free(&sm);
		if (b.len == small.len && memcmp(b.data, small.data, b.len) == 0)
			continue;
		snprintf(ctx, sizeof ctx, "%s %s full", d->name, mode_name[m]);
		check_prefixes(ctx, d, b.data, b.len, b.len <= 10000);
	}
	buf_free(&b);
	buf_free(&small);
}

START_TEST(test_prefixes)
{
	prefixes_of(&wire_ops[_i]);
}
END_TEST

/* ---- 4. rejections ------------------------------------------------------ */

/* Encoding of a STR/BYTES field of length len whose bytes are fill (after
 * an optional lead sequence at the start, or at the end with at_end). */
static uint8_t *
mk_lenfield(enum wire_type t, uint64_t declared, size_t present,
	    const struct seq *lead, int at_end, size_t *outlen)
{
	size_t w = t == WT_STR ? 2 : 4, i;
	uint8_t *p = xcalloc(1, w + present);

	for (i = 0; i < w; i++)
		p[i] = (uint8_t)(declared >> (8 * (w - 1 - i)));
	for (i = 0; i < present; i++)
		p[w + i] = (uint8_t)('a' + i % 26);
	if (lead && lead->n <= present)
		memcpy(p + w + (at_end ? present - lead->n : 0), lead->b, lead->n);
	*outlen = w + present;
	return p;
}

/* Apply a STR/BYTES patch of the given shape and expect code/field. */
static void
reject_len(const struct sample *sm, const struct wire_field *f,
	   uint64_t declared, size_t present, const struct seq *lead,
	   int at_end, int stop, uint16_t code, const char *field,
	   const char *what)
{
	struct patch pt;
	char ctx[160];

	memset(&pt, 0, sizeof pt);
	pt.f = f;
	pt.stop = stop;
	pt.bytes = mk_lenfield(f->type, declared, present, lead, at_end, &pt.len);
	snprintf(ctx, sizeof ctx, "%s %s", f->name, what);
	expect_patch_fails(sm, &pt, code, field, ctx);
	free((void *)(uintptr_t)pt.bytes);
}

/* Break each limit of field f (of the body or of the first list item) by
 * one, and truncate it, expecting the exact error. */
static void
reject_field(const struct sample *sm, const struct wire_field *f)
{
	struct patch pt;
	uint8_t tmp[8];
	char what[160];
	size_t k, w;
	unsigned i;

	memset(&pt, 0, sizeof pt);
	pt.f = f;
	pt.bytes = tmp;
	switch (f->type) {
	case WT_STR:
	case WT_BYTES:
		w = f->type == WT_STR ? 2 : 4;
		if (f->max < type_max(f->type == WT_STR ? WT_U16 : WT_U32))
			reject_len(sm, f, f->max + 1, (size_t)f->max + 1, NULL, 0,
			    0, WIRE_E_TOO_LONG, f->name, "one over max");
		if (f->min > 0)
			reject_len(sm, f, f->min - 1, (size_t)f->min - 1, NULL, 0,
			    0, WIRE_E_BAD_FIELD, f->name, "one under min");
		/* length past the payload (nothing after the field) */
		k = f->min > 0 ? (size_t)f->min : 1;
		reject_len(sm, f, k, k - 1, NULL, 0, 1, WIRE_E_BAD_FRAME,
		    f->name, "one byte missing");
		reject_len(sm, f, type_max(w == 2 ? WT_U16 : WT_U32), 3, NULL, 0,
		    1, WIRE_E_BAD_FRAME, f->name, "huge length");
		/* the length itself truncated */
		for (k = 0; k < w; k++) {
			memset(tmp, 0, sizeof tmp);
			pt.len = k;
			pt.stop = 1;
			snprintf(what, sizeof what, "%s length cut at %zu", f->name, k);
			expect_patch_fails(sm, &pt, WIRE_E_BAD_FRAME, f->name, what);
		}
		if (f->type == WT_BYTES)
			break;
		for (i = 0; i < NBAD; i++) {
			const struct seq *s = &bad_utf8[i];
			size_t len = s->n > f->min ? s->n : (size_t)f->min;

			if (len > f->max)
				continue;
			snprintf(what, sizeof what, "%s at start", s->what);
			reject_len(sm, f, len, len, s, 0, 0, WIRE_E_BAD_FIELD,
			    f->name, what);
			snprintf(what, sizeof what, "%s at end", s->what);
			reject_len(sm, f, len, len, s, 1, 0, WIRE_E_BAD_FIELD,
			    f->name, what);
		}
		break;
	case WT_LIST:
		break;	/* reject_list */
	default:
		w = int_width(f->type);
		if (f->min > 0) {
			for (k = 0; k < w; k++)
				tmp[k] = (uint8_t)((f->min - 1) >> (8 * (w - 1 - k)));
			pt.len = w;
			snprintf(what, sizeof what, "%s = min - 1", f->name);
			expect_patch_fails(sm, &pt, WIRE_E_BAD_FIELD, f->name, what);
		}
		if (f->max < type_max(f->type)) {
			for (k = 0; k < w; k++)
				tmp[k] = (uint8_t)((f->max + 1) >> (8 * (w - 1 - k)));
			pt.len = w;
			snprintf(what, sizeof what, "%s = max + 1", f->name);
			expect_patch_fails(sm, &pt, WIRE_E_BAD_FIELD, f->name, what);
			/* all ones, the largest the width holds */
			memset(tmp, 0xFF, w);
			snprintf(what, sizeof what, "%s = all ones", f->name);
			expect_patch_fails(sm, &pt, WIRE_E_BAD_FIELD, f->name, what);
		}
		for (k = 0; k < w; k++) {
			memset(tmp, 0, sizeof tmp);
			pt.len = k;
			pt.stop = 1;
			snprintf(what, sizeof what, "%s cut at %zu", f->name, k);
			expect_patch_fails(sm, &pt, WIRE_E_BAD_FRAME, f->name, what);
		}
		break;
	}
}

/* Build a list field's encoding: count, then nitems copies of item (its
 * reference encoding). */
static uint8_t *
mk_list(uint64_t count, size_t nitems, const struct buf *item, size_t *len)
{
	size_t i;
	uint8_t *p = xcalloc(1, 2 + nitems * item->len);

	p[0] = (uint8_t)(count >> 8);
	p[1] = (uint8_t)count;
	for (i = 0; i < nitems; i++)
		memcpy(p + 2 + i * item->len, item->data, item->len);
	*len = 2 + nitems * item->len;
	return p;
}

/* Counts over max and under min, items missing, count truncated. */
static void
reject_list(const struct sample *sm, const struct wire_field *lf)
{
	struct patch pt;
	struct buf item;
	uint64_t n;

	ck_assert(sm->nitems >= 1);
	buf_init(&item);
	ref_fields(&item, lf->item, sm->items[0], NULL, NULL);
	memset(&pt, 0, sizeof pt);
	pt.f = lf;
	if (lf->max < 0xFFFF) {
		pt.bytes = mk_list(lf->max + 1, 0, &item, &pt.len);
		expect_patch_fails(sm, &pt, WIRE_E_TOO_LONG, lf->name,
		    "count max + 1, no items");
		free((void *)(uintptr_t)pt.bytes);
		pt.bytes = mk_list(lf->max + 1, (size_t)lf->max + 1, &item, &pt.len);
		expect_patch_fails(sm, &pt, WIRE_E_TOO_LONG, lf->name,
		    "max + 1 items");
		free((void *)(uintptr_t)pt.bytes);
	}
	pt.bytes = mk_list(0xFFFF, 1, &item, &pt.len);
	expect_patch_fails(sm, &pt, lf->max < 0xFFFF ? WIRE_E_TOO_LONG :
	    WIRE_E_BAD_FRAME, lf->max < 0xFFFF ? lf->name :
	    lf->item->fields[0].name, "count 0xFFFF");
	free((void *)(uintptr_t)pt.bytes);
	if (lf->min > 0) {
		pt.bytes = mk_list(lf->min - 1, (size_t)lf->min - 1, &item, &pt.len);
		expect_patch_fails(sm, &pt, WIRE_E_BAD_FIELD, lf->name,
		    "min - 1 items");
		free((void *)(uintptr_t)pt.bytes);
	}
	/* one item fewer than the count says */
	n = lf->min > 1 ? lf->min : 1;
	pt.bytes = mk_list(n, (size_t)n - 1, &item, &pt.len);
	expect_patch_fails(sm, &pt, WIRE_E_BAD_FRAME, lf->item->fields[0].name,
	    "an item missing");
	free((void *)(uintptr_t)pt.bytes);
	/* the last item cut short by one byte */
	pt.bytes = mk_list(n, (size_t)n, &item, &pt.len);
	pt.len--;
	expect_patch_fails(sm, &pt, WIRE_E_BAD_FRAME,
	    lf->item->fields[lf->item->nfields - 1].name, "last item cut");
	free((void *)(uintptr_t)pt.bytes);
	/* the count itself cut */
	pt.bytes = mk_list(n, 0, &item, &pt.len);
	pt.len = 1;
	pt.stop = 1;
	expect_patch_fails(sm, &pt, WIRE_E_BAD_FRAME, lf->name, "count cut");
	free((void *)(uintptr_t)pt.bytes);
	buf_free(&item);
}

START_TEST(test_reject_fields)
{
	const struct wire_opdesc *d = &wire_ops[_i];
	const struct wire_field *lf = wire_list_field(&d->body);
	struct gen g = { MODE_MIN, seed_of(d->opcode, 3), 0, 1, 0, 0 };
	struct sample sm;
	unsigned i;

	gen_sample(&sm, d, &g);
	for (i = 0; i < d->body.nfields; i++)
		reject_field(&sm, &d->body.fields[i]);
	if (lf) {
		for (i = 0; i < lf->item->nfields; i++)
			reject_field(&sm, &lf->item->fields[i]);
		reject_list(&sm, lf);
	}
	sample_free(&sm);
}
END_TEST

/* Trailing bytes and over-long payloads, for valid payloads of each mode. */
START_TEST(test_reject_payload)
{
	const struct wire_opdesc *d = &wire_ops[_i];
	struct sample sm;
	struct buf b;
	uint8_t *big;
	int m;

	buf_init(&b);
	for (m = 0; m < NMODES; m++) {
		struct gen g = { (enum mode)m, seed_of(d->opcode, 5), 4, 0, 0, 0 };

		gen_sample(&sm, d, &g);
		buf_reset(&b);
		ref_payload(&b, &sm, NULL);
		buf_put_u8(&b, 0);
		expect_fail(d, b.data, b.len, WIRE_E_BAD_FRAME, NULL,
		    "trailing zero byte");
		b.data[b.len - 1] = 0xFF;
		expect_fail(d, b.data, b.len, WIRE_E_BAD_FRAME, NULL,
		    "trailing 0xFF byte");
		buf_put_u8(&b, 1);
		expect_fail(d, b.data, b.len, WIRE_E_BAD_FRAME, NULL,
		    "two trailing bytes");
		sample_free(&sm);
	}
	buf_free(&b);
	/* One byte over the largest valid encoding (a multi-megabyte frame
	 * is not worth building for lists of huge items). */
	if (d->body.max_encoded < 8u * 1024 * 1024) {
		size_t n = (size_t)d->body.max_encoded + 1;

		big = xcalloc(1, n);
		expect_fail(d, big, n, WIRE_E_TOO_LONG, NULL, "max_encoded + 1");
		memset(big, 0xFF, n);
		expect_fail(d, big, n, WIRE_E_TOO_LONG, NULL,
		    "max_encoded + 1 of 0xFF");
		free(big);
	}
}
END_TEST

/* The reference payload of a min-mode sample of op with field fname's
 * encoding replaced by bytes[0..n); expect code. */
static void
reject_named(const char *op, const char *fname, const uint8_t *bytes, size_t n,
	     uint16_t code, const char *efield)
{
	const struct wire_opdesc *d = op_named(op);
	struct gen g = { MODE_MIN, 1, 0, 1, 0, 0 };
	struct sample sm;
	struct patch pt;
	char what[96];

	memset(&pt, 0, sizeof pt);
	pt.f = field_named(&d->body, fname);
	CHECK(pt.f != NULL, "%s has no field %s", op, fname);
	pt.bytes = bytes;
	pt.len = n;
	gen_sample(&sm, d, &g);
	snprintf(what, sizeof what, "%s.%s", op, fname);
	expect_patch_fails(&sm, &pt, code, efield, what);
	sample_free(&sm);
}

/* The examples named in the protocol notes, spelled out. */
START_TEST(test_reject_examples)
{
	static const uint8_t zero32[4] = { 0, 0, 0, 0 };
	static const uint8_t u32_101[4] = { 0, 0, 0, 101 };
	static const uint8_t u8_0[1] = { 0 }, u8_4[1] = { 4 };
	static const uint8_t count0[2] = { 0, 0 }, count101[2] = { 0, 101 };
	uint8_t tok[4 + 33], name[2 + 33];

	reject_named("READ", "max", zero32, 4, WIRE_E_BAD_FIELD, "max");
	reject_named("READ", "max", u32_101, 4, WIRE_E_BAD_FIELD, "max");
	reject_named("HELLO", "kind", u8_0, 1, WIRE_E_BAD_FIELD, "kind");
	reject_named("HELLO", "kind", u8_4, 1, WIRE_E_BAD_FIELD, "kind");
	/* RESUME.token is exactly 32 bytes */
	memset(tok, 0xAB, sizeof tok);
	tok[0] = tok[1] = tok[2] = 0;
	tok[3] = 31;
	reject_named("RESUME", "token", tok, 4 + 31, WIRE_E_BAD_FIELD, "token");
	tok[3] = 33;
	reject_named("RESUME", "token", tok, 4 + 33, WIRE_E_TOO_LONG, NULL);
	tok[3] = 32;
	reject_named("RESUME", "token", tok, 4 + 31, WIRE_E_BAD_FRAME, "token");
	/* REGISTER.username: 33 bytes is one too many */
	memset(name, 'u', sizeof name);
	name[0] = 0;
	name[1] = 33;
	reject_named("REGISTER", "username", name, sizeof name, WIRE_E_TOO_LONG,
	    "username");
	name[1] = 0;
	reject_named("REGISTER", "username", name, 2, WIRE_E_BAD_FIELD,
	    "username");
	/* MARK_READ.ids: 1..100 */
	reject_named("MARK_READ", "ids", count0, 2, WIRE_E_BAD_FIELD, "ids");
	reject_named("MARK_READ", "ids", count101, 2, WIRE_E_TOO_LONG, "ids");
}
END_TEST

/* ---- 5. wire_peek_header ------------------------------------------------ */

/* peek on an exact-size copy of p[0..n). */
static int
peek(const void *p, size_t n, uint32_t maxp, struct wire_header *h)
{
	uint8_t *c = dup_exact(p, n);
	int rc = wire_peek_header(c, n, maxp, h);

	free(c);
	return rc;
}

/* A 14-byte header. */
static void
mk_header(uint8_t *h, uint8_t version, uint16_t op, uint32_t rid, uint32_t len)
{
	h[0] = 0x43;
	h[1] = 0x44;
	h[2] = version;
	h[3] = 0;
	h[4] = (uint8_t)(op >> 8);
	h[5] = (uint8_t)op;
	h[6] = (uint8_t)(rid >> 24);
	h[7] = (uint8_t)(rid >> 16);
	h[8] = (uint8_t)(rid >> 8);
	h[9] = (uint8_t)rid;
	h[10] = (uint8_t)(len >> 24);
	h[11] = (uint8_t)(len >> 16);
	h[12] = (uint8_t)(len >> 8);
	h[13] = (uint8_t)len;
}

START_TEST(test_peek_header)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	const uint32_t lim[2] = { WIRE_MAX_PAYLOAD_CLIENT, WIRE_MAX_PAYLOAD_INTERNAL };
	struct wire_header h;
	uint8_t hdr[WIRE_HEADER_SIZE], *big;
	size_t k;
	int i, v;

	ck_assert_int_eq(peek("", 0, lim[0], &h), WIRE_FRAME_INCOMPLETE);
	ck_assert_int_eq(peek("C", 1, lim[0], &h), WIRE_FRAME_INCOMPLETE);
	ck_assert_int_eq(peek("CD", 2, lim[0], &h), WIRE_FRAME_INCOMPLETE);
	/* bad magic from the first wrong byte */
	ck_assert_int_eq(peek("\x00", 1, lim[0], &h), WIRE_FRAME_BAD_MAGIC);
	ck_assert_int_eq(peek("G", 1, lim[0], &h), WIRE_FRAME_BAD_MAGIC);
	ck_assert_int_eq(peek("\x44", 1, lim[0], &h), WIRE_FRAME_BAD_MAGIC);
	ck_assert_int_eq(peek("C\x43", 2, lim[0], &h), WIRE_FRAME_BAD_MAGIC);
	ck_assert_int_eq(peek("C\x00", 2, lim[0], &h), WIRE_FRAME_BAD_MAGIC);
	for (k = 1; k <= strlen(http); k++)
		ck_assert_int_eq(peek(http, k, lim[0], &h), WIRE_FRAME_BAD_MAGIC);
	ck_assert_int_eq(peek("\x16\x03\x01", 3, lim[0], &h), WIRE_FRAME_BAD_MAGIC);
	/* version: known as soon as the third byte is here */
	for (v = 0; v < 256; v++) {
		uint8_t b3[3] = { 0x43, 0x44, (uint8_t)v };
		int want = v >= WIRE_VERSION_MIN && v <= WIRE_VERSION_MAX ?
		    WIRE_FRAME_INCOMPLETE : WIRE_FRAME_BAD_VERSION;

		ck_assert_int_eq(peek(b3, 3, lim[0], &h), want);
		mk_header(hdr, (uint8_t)v, 1, 1, 0);
		ck_assert_int_eq(peek(hdr, 13, lim[0], &h), want);
		ck_assert_int_eq(peek(hdr, 14, lim[0], &h),
		    want == WIRE_FRAME_INCOMPLETE ? WIRE_FRAME_OK : want);
	}
	ck_assert_int_eq(peek("CD\x00", 3, lim[0], &h), WIRE_FRAME_BAD_VERSION);
	hdr[0] = 0x43; hdr[1] = 0x44; hdr[2] = WIRE_VERSION_MAX + 1;
	ck_assert_int_eq(peek(hdr, 3, lim[0], &h), WIRE_FRAME_BAD_VERSION);

	for (i = 0; i < 2; i++) {
		/* length over the limit: TOO_BIG with only the header here */
		mk_header(hdr, WIRE_VERSION_MAX, 0x0107, 0xA1B2C3D4, lim[i] + 1);
		memset(&h, 0, sizeof h);
		ck_assert_int_eq(peek(hdr, 14, lim[i], &h), WIRE_FRAME_TOO_BIG);
		ck_assert_uint_eq(h.length, lim[i] + 1);
		mk_header(hdr, WIRE_VERSION_MAX, 0x0107, 0xA1B2C3D4, UINT32_MAX);
		ck_assert_int_eq(peek(hdr, 14, lim[i], &h), WIRE_FRAME_TOO_BIG);
		for (k = 0; k < 14; k++)
			ck_assert_int_eq(peek(hdr, k, lim[i], &h),
			    WIRE_FRAME_INCOMPLETE);
		/* exactly the limit: incomplete until all of it is here */
		big = xcalloc(1, WIRE_HEADER_SIZE + lim[i]);
		mk_header(big, WIRE_VERSION_MAX, 0x0107, 0xA1B2C3D4, lim[i]);
		memset(&h, 0, sizeof h);
		ck_assert_int_eq(peek(big, 14, lim[i], &h), WIRE_FRAME_INCOMPLETE);
		/* the header is filled as soon as it is complete */
		ck_assert_uint_eq(h.magic, WIRE_MAGIC);
		ck_assert_uint_eq(h.version, WIRE_VERSION_MAX);
		ck_assert_uint_eq(h.opcode, 0x0107);
		ck_assert_uint_eq(h.request_id, 0xA1B2C3D4);
		ck_assert_uint_eq(h.length, lim[i]);
		ck_assert_int_eq(peek(big, 14 + lim[i] / 2, lim[i], &h),
		    WIRE_FRAME_INCOMPLETE);
		ck_assert_int_eq(peek(big, 13 + lim[i], lim[i], &h),
		    WIRE_FRAME_INCOMPLETE);
		ck_assert_int_eq(peek(big, 14 + lim[i], lim[i], &h), WIRE_FRAME_OK);
		free(big);
	}
	/* a huge limit does not overflow */
	mk_header(hdr, WIRE_VERSION_MAX, 3, 0, UINT32_MAX);
	ck_assert_int_eq(peek(hdr, 14, UINT32_MAX, &h), WIRE_FRAME_INCOMPLETE);
	/* flags are passed through; more bytes than the frame are fine */
	{
		uint8_t two[WIRE_HEADER_SIZE + 3];

		mk_header(two, WIRE_VERSION_MAX, 0xBEEF, 9, 2);
		two[3] = 0x80;
		two[14] = two[15] = two[16] = 0x43;
		ck_assert_int_eq(peek(two, sizeof two, 0, &h), WIRE_FRAME_TOO_BIG);
		ck_assert_int_eq(peek(two, sizeof two, 2, &h), WIRE_FRAME_OK);
		ck_assert_uint_eq(h.flags, 0x80);
		ck_assert_uint_eq(h.opcode, 0xBEEF);
		ck_assert_uint_eq(h.length, 2);
	}
	/* strerror knows every result */
	ck_assert_str_eq(wire_frame_strerror(WIRE_FRAME_OK), "ok");
	ck_assert_str_ne(wire_frame_strerror(WIRE_FRAME_BAD_MAGIC),
	    wire_frame_strerror(WIRE_FRAME_TOO_BIG));
	ck_assert_str_ne(wire_frame_strerror(WIRE_FRAME_BAD_VERSION),
	    wire_frame_strerror(WIRE_FRAME_INCOMPLETE));
	ck_assert_ptr_nonnull(wire_frame_strerror(-99));
}
END_TEST

/* What wire_peek_header must answer, from the header layout in wire.h. */
static int
ref_peek(const uint8_t *b, size_t n, uint32_t maxp)
{
	uint32_t len;

	if (n >= 1 && b[0] != 0x43)
		return WIRE_FRAME_BAD_MAGIC;
	if (n >= 2 && b[1] != 0x44)
		return WIRE_FRAME_BAD_MAGIC;
	if (n >= 3 && (b[2] < WIRE_VERSION_MIN || b[2] > WIRE_VERSION_MAX))
		return WIRE_FRAME_BAD_VERSION;
	if (n < WIRE_HEADER_SIZE)
		return WIRE_FRAME_INCOMPLETE;
	len = rd_be(b + 10, 4);
	if (len > maxp)
		return WIRE_FRAME_TOO_BIG;
	return n - WIRE_HEADER_SIZE < len ? WIRE_FRAME_INCOMPLETE : WIRE_FRAME_OK;
}

START_TEST(test_peek_random)
{
	uint64_t s = seed_of(0x5EED, 1);
	uint8_t raw[300];
	struct wire_header h;
	unsigned i, seen[5] = { 0 };

	for (i = 0; i < 20000; i++) {
		size_t n = (size_t)rng_range(&s, 0,
		    h_xorshift64(&s) % 8 ? 40 : 300);
		uint32_t maxp;
		int rc, want;

		fill_random(&s, raw, sizeof raw);
		if (h_xorshift64(&s) % 4) {
			raw[0] = 0x43;
			raw[1] = 0x44;
			if (h_xorshift64(&s) % 4)
				raw[2] = (uint8_t)rng_range(&s, WIRE_VERSION_MIN,
				    WIRE_VERSION_MAX);
			if (h_xorshift64(&s) % 2) {
				raw[10] = raw[11] = 0;
				raw[12] = 0;
				raw[13] = (uint8_t)rng_range(&s, 0, 64);
			}
		}
		switch (h_xorshift64(&s) % 5) {
		case 0:  maxp = 0; break;
		case 1:  maxp = 32; break;
		case 2:  maxp = WIRE_MAX_PAYLOAD_CLIENT; break;
		case 3:  maxp = UINT32_MAX; break;
		default: maxp = (uint32_t)h_xorshift64(&s) % 128; break;
		}
		memset(&h, 0, sizeof h);
		rc = peek(raw, n, maxp, &h);
		want = ref_peek(raw, n, maxp);
		CHECK(rc == want, "random header %u (%zu bytes): %d, want %d",
		    i, n, rc, want);
		if (n >= WIRE_HEADER_SIZE && (rc == WIRE_FRAME_OK ||
		    rc == WIRE_FRAME_INCOMPLETE || rc == WIRE_FRAME_TOO_BIG)) {
			CHECK(h.opcode == rd_be(raw + 4, 2) &&
			    h.request_id == rd_be(raw + 6, 4) &&
			    h.length == rd_be(raw + 10, 4),
			    "random header %u: fields not filled", i);
		}
		seen[rc + 3]++;
	}
	/* every outcome was exercised */
	for (i = 0; i < 5; i++)
		CHECK(seen[i] > 100, "outcome %d seen %u times",
		    (int)i - 3, seen[i]);
}
END_TEST

/* ---- 6. wire_utf8_valid ------------------------------------------------- */

/* wire_utf8_valid on an exact-size copy. */
static int
utf8_ok(const void *p, size_t n)
{
	uint8_t *c = dup_exact(p, n);
	int v = wire_utf8_valid(c, n);

	free(c);
	return v;
}

START_TEST(test_utf8_cases)
{
	uint8_t buf[64];
	unsigned i, c;

	for (i = 0; i < NGOOD; i++) {
		const struct seq *s = &good_utf8[i];

		CHECK(utf8_ok(s->b, s->n) == 1, "valid %s rejected", s->what);
		ck_assert_int_eq(ref_utf8_valid((const uint8_t *)s->b, s->n), 1);
		/* and surrounded by ASCII */
		buf[0] = 'x';
		memcpy(buf + 1, s->b, s->n);
		buf[1 + s->n] = 'y';
		CHECK(utf8_ok(buf, s->n + 2) == 1, "x%sy rejected", s->what);
	}
	for (i = 0; i < NBAD; i++) {
		const struct seq *s = &bad_utf8[i];

		CHECK(utf8_ok(s->b, s->n) == 0, "invalid %s accepted",
		    s->what);
		ck_assert_int_eq(ref_utf8_valid((const uint8_t *)s->b, s->n), 0);
		memcpy(buf, "ok \xC3\xA9 ", 6);
		memcpy(buf + 6, s->b, s->n);
		CHECK(utf8_ok(buf, s->n + 6) == 0, "...%s accepted", s->what);
		buf[6 + s->n] = 'z';
		CHECK(utf8_ok(buf, s->n + 7) == 0, "...%s.. accepted",
		    s->what);
	}
	/* every ASCII byte but NUL */
	for (c = 1; c < 0x80; c++) {
		buf[0] = (uint8_t)c;
		ck_assert_int_eq(utf8_ok(buf, 1), 1);
	}
	/* each boundary code point through the encoder */
	{
		static const uint32_t cps[] = { 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF,
		    0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF };

		for (i = 0; i < sizeof cps / sizeof cps[0]; i++) {
			size_t n = utf8_put(buf, cps[i]);

			CHECK(utf8_ok(buf, n) == 1, "U+%04X rejected", cps[i]);
			CHECK(utf8_ok(buf, n - 1) == (n == 1),
			    "U+%04X cut by one accepted", cps[i]);
		}
	}
	/* a zero length never looks at the pointer */
	ck_assert_int_eq(wire_utf8_valid((const uint8_t *)"", 0), 1);
}
END_TEST

/* Every 1-, 2- and 3-byte string with a lead byte >= 0xC0, and the
 * interesting 4-byte ones, against the reference validator. */
START_TEST(test_utf8_exhaustive)
{
	static const uint8_t tails[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
	    0x9F, 0xA0, 0xBF, 0xC0, 0xFF };
	const size_t nt = sizeof tails;
	uint8_t b[4];
	unsigned a, c, d, e;

	for (a = 0; a < 256; a++) {
		b[0] = (uint8_t)a;
		ck_assert_int_eq(wire_utf8_valid(b, 1), ref_utf8_valid(b, 1));
		for (c = 0; c < 256; c++) {
			b[1] = (uint8_t)c;
			CHECK(wire_utf8_valid(b, 2) == ref_utf8_valid(b, 2),
			    "%02X %02X", a, c);
		}
	}
	for (a = 0xC0; a < 256; a++)
		for (c = 0; c < 256; c++)
			for (d = 0; d < 256; d++) {
				b[0] = (uint8_t)a;
				b[1] = (uint8_t)c;
				b[2] = (uint8_t)d;
				if (wire_utf8_valid(b, 3) != ref_utf8_valid(b, 3))
					ck_abort_msg("%02X %02X %02X: %d", a, c, d,
					    wire_utf8_valid(b, 3));
			}
	for (a = 0xE0; a < 256; a++)
		for (c = 0; c < 256; c++)
			for (d = 0; d < nt; d++)
				for (e = 0; e < nt; e++) {
					b[0] = (uint8_t)a;
					b[1] = (uint8_t)c;
					b[2] = tails[d];
					b[3] = tails[e];
					if (wire_utf8_valid(b, 4) !=
					    ref_utf8_valid(b, 4))
						ck_abort_msg("%02X %02X %02X %02X",
						    a, c, tails[d], tails[e]);
				}
}
END_TEST

/* Random short strings, biased towards non-ASCII bytes. */
START_TEST(test_utf8_random)
{
	uint64_t s = seed_of(0x0718, 2);
	uint8_t b[16];
	unsigned i, valid = 0;

	for (i = 0; i < 200000; i++) {
		size_t n = (size_t)rng_range(&s, 0, sizeof b), k;
		int v;

		for (k = 0; k < n; k++) {
			uint64_t r = h_xorshift64(&s);

			b[k] = r % 3 == 0 ? (uint8_t)(0x80 | (r >> 8 & 0x3F)) :
			    r % 3 == 1 ? (uint8_t)(0xC0 | (r >> 8 & 0x3F)) :
			    (uint8_t)(r >> 8);
		}
		v = wire_utf8_valid(b, n);
		CHECK(v == ref_utf8_valid(b, n), "random string %u", i);
		valid += (unsigned)v;
	}
	ck_assert_uint_gt(valid, 1000);
}
END_TEST

/* ---- 7. table sanity ---------------------------------------------------- */

START_TEST(test_table_ops)
{
	static const uint16_t unknown[] = { 0x0000, 0x0005, 0x00FF, 0x0100,
	    0x017F, 0x01FF, 0x0300, 0x03FF, 0x0400, 0x8001, 0xFFFF };
	unsigned i, j;

	ck_assert_uint_gt(wire_nops, 0);
	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];

		ck_assert(d->name != NULL && d->name[0] != '\0');
		ck_assert(d->doc != NULL);
		ck_assert_str_eq(d->body.name, d->name);
		if (i > 0)
			CHECK(wire_ops[i - 1].opcode < d->opcode,
			    "%s (0x%04x) after %s (0x%04x)", d->name, d->opcode,
			    wire_ops[i - 1].name, wire_ops[i - 1].opcode);
		for (j = 0; j < i; j++) {
			CHECK(wire_ops[j].opcode != d->opcode,
			    "opcode 0x%04x twice", d->opcode);
			CHECK(strcmp(wire_ops[j].name, d->name) != 0,
			    "name %s twice", d->name);
		}
		ck_assert_ptr_eq(wire_op(d->opcode), d);
		ck_assert_str_eq(wire_op_name(d->opcode), d->name);
		/* number ranges, as wire.def lays them out */
		switch (d->port) {
		case WIRE_PORT_BOTH:
			CHECK(d->opcode < 0x0100, "%s", d->name);
			break;
		case WIRE_PORT_CLIENT:
			if (d->dir == WIRE_DIR_REQUEST)
				CHECK(d->opcode > 0x0100 && d->opcode < 0x0180,
				    "%s", d->name);
			else if (d->dir == WIRE_DIR_RESPONSE)
				CHECK(d->opcode >= 0x0180 && d->opcode < 0x01C0,
				    "%s", d->name);
			else
				CHECK(d->dir == WIRE_DIR_PUSH &&
				    d->opcode >= 0x01C0 && d->opcode < 0x0200,
				    "%s", d->name);
			break;
		case WIRE_PORT_INTERNAL:
			CHECK(d->opcode >> 8 == 2 && d->dir == WIRE_DIR_PEER,
			    "%s", d->name);
			break;
		case WIRE_PORT_RECORD:
			CHECK(d->opcode >> 8 == 3 && d->dir == WIRE_DIR_LOG,
			    "%s", d->name);
			break;
		default:
			ck_abort_msg("%s: port %d", d->name, (int)d->port);
		}
		CHECK((d->flags & ~(unsigned)(WIRE_F_AUTH | WIRE_F_MUTATES |
		    WIRE_F_ANY)) == 0, "%s: unknown flags", d->name);
	}
	for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		char want[8];

		CHECK(wire_op(unknown[i]) == NULL, "0x%04x found",
		    unknown[i]);
		snprintf(want, sizeof want, "0x%04x", unknown[i]);
		ck_assert_str_eq(wire_op_name(unknown[i]), want);
	}
}
END_TEST

/* Per-struct checks shared by op bodies and items. */
static void
check_struct(const struct wire_struct *s, int is_item)
{
	size_t end = 0;
	unsigned i, j;

	ck_assert(s->name != NULL);
	ck_assert(s->fields != NULL);
	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];
		size_t msize;

		CHECK(f->name && f->name[0], "%s: field %u has no name",
		    s->name, i);
		CHECK(f->doc != NULL, "%s.%s: no doc", s->name, f->name);
		for (j = 0; j < i; j++)
			CHECK(strcmp(s->fields[j].name, f->name) != 0,
			    "%s.%s twice", s->name, f->name);
		CHECK(f->min <= f->max, "%s.%s: min > max", s->name,
		    f->name);
		switch (f->type) {
		case WT_STR:
			CHECK(f->max <= 0xFFFF, "%s.%s", s->name, f->name);
			msize = (size_t)f->max + 1;
			break;
		case WT_BYTES:
			CHECK(f->max <= 0xFFFFFFFFu, "%s.%s", s->name,
			    f->name);
			msize = sizeof(struct wire_bytes);
			break;
		case WT_LIST:
			CHECK(!is_item, "item %s has LIST %s", s->name,
			    f->name);
			CHECK(i == s->nfields - 1, "%s.%s: LIST not last",
			    s->name, f->name);
			CHECK(f->max <= 0xFFFF && f->max > 0, "%s.%s",
			    s->name, f->name);
			CHECK(f->item >= wire_items &&
			    f->item < wire_items + wire_nitems, "%s.%s: item",
			    s->name, f->name);
			msize = sizeof(struct wire_list);
			break;
		default:
			CHECK(f->max <= type_max(f->type), "%s.%s: max "
			    "does not fit the type", s->name, f->name);
			msize = int_width(f->type);
			break;
		}
		if (f->type != WT_LIST)
			CHECK(f->item == NULL, "%s.%s", s->name, f->name);
		/* members in order, inside the struct */
		CHECK(f->offset >= end, "%s.%s: offset", s->name, f->name);
		end = f->offset + msize;
		CHECK(end <= s->size, "%s.%s past the struct", s->name,
		    f->name);
	}
	CHECK(s->max_encoded == enc_bound(s, 1), "%s: max_encoded %llu, "
	    "fields say %llu", s->name, (unsigned long long)s->max_encoded,
	    (unsigned long long)enc_bound(s, 1));
}

START_TEST(test_table_fields)
{
	unsigned i, j;

	ck_assert_uint_gt(wire_nitems, 0);
	for (i = 0; i < wire_nitems; i++) {
		ck_assert_uint_gt(wire_items[i].nfields, 0);
		check_struct(&wire_items[i], 1);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(wire_items[j].name, wire_items[i].name);
	}
	for (i = 0; i < wire_nops; i++)
		check_struct(&wire_ops[i].body, 0);
}
END_TEST

START_TEST(test_table_mutates)
{
	unsigned i, n = 0;

	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];
		const struct wire_field *f = d->body.fields;

		if (!(d->flags & WIRE_F_MUTATES))
			continue;
		n++;
		CHECK(d->port == WIRE_PORT_CLIENT &&
		    d->dir == WIRE_DIR_REQUEST, "%s mutates but is not a client "
		    "request", d->name);
		CHECK(d->body.nfields >= 2 &&
		    strcmp(f[0].name, "client_id") == 0 && f[0].type == WT_U64 &&
		    strcmp(f[1].name, "seq") == 0 && f[1].type == WT_U64,
		    "%s: mutating request must start with client_id, seq (U64)",
		    d->name);
		CHECK(f[0].min >= 1 && f[1].min >= 1, "%s: client_id and "
		    "seq are never 0", d->name);
	}
	ck_assert_uint_gt(n, 0);
}
END_TEST

/* Field of an item struct by item and field name; fails when absent. */
static const struct wire_field *
item_field(const char *item, const char *name)
{
	unsigned i;

	for (i = 0; i < wire_nitems; i++)
		if (strcmp(wire_items[i].name, item) == 0) {
			const struct wire_field *f =
			    field_named(&wire_items[i], name);

			CHECK(f != NULL, "no %s.%s", item, name);
			return f;
		}
	ck_abort_msg("no item %s", item);
	return NULL;
}

START_TEST(test_table_limits)
{
	const struct wire_field *rpayload = item_field("RECORD", "payload");
	const struct wire_field *rreply = item_field("RECORD", "reply");
	const struct wire_field *rtype = item_field("RECORD", "type");
	unsigned i;

	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];
		const struct wire_field *lf = wire_list_field(&d->body);
		uint64_t one = d->body.max_encoded;
		size_t limit = wire_payload_limit(d);

		/* a client request never exceeds the client frame limits */
		if (d->port == WIRE_PORT_CLIENT && d->dir == WIRE_DIR_REQUEST)
			CHECK(d->body.max_encoded <= WIRE_MAX_PAYLOAD_CLIENT &&
			    d->body.max_encoded <= WIRE_MAX_REQUEST,
			    "%s: %llu bytes", d->name,
			    (unsigned long long)d->body.max_encoded);
		/* Outside the internal port a message always fits whole (a
		 * full page of 100 messages included). On the internal port
		 * a sender cuts long lists (APPEND) by size, so at least one
		 * maximal item, or the minimum of items, must fit. */
		if (d->port != WIRE_PORT_INTERNAL) {
			CHECK(one <= limit, "%s: %llu bytes do not fit a "
			    "frame of %zu", d->name, (unsigned long long)one,
			    limit);
		} else if (lf) {
			one -= lf->max * lf->item->max_encoded;
			CHECK(one + (lf->min > 1 ? lf->min : 1) *
			    lf->item->max_encoded <= limit,
			    "%s: one maximal item does not fit a frame", d->name);
		} else {
			CHECK(one <= limit, "%s: %llu bytes do not "
			    "fit a frame", d->name, (unsigned long long)one);
		}
		/* records fit RECORD.payload and RECORD.type */
		if (d->dir == WIRE_DIR_LOG) {
			CHECK(d->body.max_encoded <= rpayload->max,
			    "%s: %llu bytes > RECORD.payload", d->name,
			    (unsigned long long)d->body.max_encoded);
			CHECK(d->opcode >= rtype->min &&
			    d->opcode <= rtype->max, "%s: opcode outside "
			    "RECORD.type", d->name);
		}
		/* any reply to a (mutating) request can be stored in RECORD.reply */
		if (d->dir == WIRE_DIR_RESPONSE || d->opcode == WIRE_OP_ERROR)
			CHECK(d->body.max_encoded <= rreply->max,
			    "%s: %llu bytes > RECORD.reply", d->name,
			    (unsigned long long)d->body.max_encoded);
	}
}
END_TEST

START_TEST(test_table_errors)
{
	unsigned i, j;

	ck_assert_uint_gt(wire_nerrors, 0);
	for (i = 0; i < wire_nerrors; i++) {
		const struct wire_errdesc *e = &wire_errors[i];

		ck_assert(e->name && e->name[0] && e->doc);
		ck_assert_uint_ne(e->code, 0);
		for (j = 0; j < i; j++) {
			CHECK(wire_errors[j].code != e->code, "code %u twice",
			    e->code);
			CHECK(strcmp(wire_errors[j].name, e->name) != 0,
			    "%s twice", e->name);
		}
		ck_assert_str_eq(wire_err_name(e->code), e->name);
	}
	ck_assert_str_eq(wire_err_name(0), "E0");
	ck_assert_str_eq(wire_err_name(9999), "E9999");
	ck_assert_str_eq(wire_err_name(WIRE_E_BAD_FRAME), "BAD_FRAME");
	ck_assert_str_eq(wire_err_name(WIRE_E_TOO_LONG), "TOO_LONG");
	ck_assert_str_eq(wire_err_name(WIRE_E_BAD_FIELD), "BAD_FIELD");
}
END_TEST

/* ---- 8. wire_encode_error ----------------------------------------------- */

/* Decode the single ERROR frame in b; checks the header on the way. */
static void
decode_error_frame(const struct buf *b, uint32_t rid, struct wire_ERROR *m)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_ERROR);
	struct wire_decode_error err;
	struct wire_header h;

	ck_assert_int_eq(wire_peek_header(b->data, b->len,
	    WIRE_MAX_PAYLOAD_CLIENT, &h), WIRE_FRAME_OK);
	ck_assert_uint_eq(h.opcode, WIRE_OP_ERROR);
	ck_assert_uint_eq(h.request_id, rid);
	ck_assert_uint_eq(WIRE_HEADER_SIZE + (size_t)h.length, b->len);
	CHECK(wire_decode(d, b->data + WIRE_HEADER_SIZE, h.length, m,
	    &err) == 0, "ERROR frame does not decode: %s", err.text);
}

START_TEST(test_encode_error)
{
	static const char *const chars[] = { "\xC3\xA9", "\xE2\x82\xAC",
	    "\xF0\x9F\x98\x80" };
	struct wire_ERROR m;
	char s[600];
	struct buf b;
	size_t i, lead, n, len;

	buf_init(&b);
	wire_encode_error(&b, 0xDEADBEEF, WIRE_E_NO_SUCH_USER, WIRE_OP_LOGIN,
	    "no user %s (%d)", "bob", 7);
	decode_error_frame(&b, 0xDEADBEEF, &m);
	ck_assert_uint_eq(m.code, WIRE_E_NO_SUCH_USER);
	ck_assert_uint_eq(m.about_op, WIRE_OP_LOGIN);
	ck_assert_str_eq(m.text, "no user bob (7)");

	buf_reset(&b);
	wire_encode_error(&b, 0, WIRE_E_BAD_FRAME, 0, "%s", "");
	decode_error_frame(&b, 0, &m);
	ck_assert_uint_eq(m.about_op, 0);
	ck_assert_str_eq(m.text, "");

	/* exactly the limit, and one over, in ASCII */
	memset(s, 'a', CHAT_MAX_ERRTEXT + 1);
	for (n = CHAT_MAX_ERRTEXT; n <= CHAT_MAX_ERRTEXT + 1; n++) {
		s[n] = '\0';
		buf_reset(&b);
		wire_encode_error(&b, 1, 0xFFFF, 0xFFFF, "%s", s);
		decode_error_frame(&b, 1, &m);
		ck_assert_uint_eq(m.code, 0xFFFF);
		ck_assert_uint_eq(strlen(m.text), CHAT_MAX_ERRTEXT);
		s[n] = 'a';
	}

	/* long multi-byte text: cut at every position inside a character */
	for (i = 0; i < sizeof chars / sizeof chars[0]; i++) {
		size_t cl = strlen(chars[i]);

		for (lead = 0; lead < cl; lead++) {
			memset(s, 'x', lead);
			for (n = lead; n + cl < sizeof s; n += cl)
				memcpy(s + n, chars[i], cl);
			s[n] = '\0';
			buf_reset(&b);
			wire_encode_error(&b, 5, WIRE_E_BAD_NAME, WIRE_OP_REGISTER,
			    "%s", s);
			decode_error_frame(&b, 5, &m);
			len = strlen(m.text);
			CHECK(len <= CHAT_MAX_ERRTEXT &&
			    len > CHAT_MAX_ERRTEXT - cl, "cut to %zu bytes", len);
			ck_assert((len - lead) % cl == 0);
			ck_assert(memcmp(m.text, s, len) == 0);
			ck_assert(wire_utf8_valid((const uint8_t *)m.text, len));
		}
	}

	/* invalid bytes from a peer in the text: still a valid frame */
	buf_reset(&b);
	wire_encode_error(&b, 2, WIRE_E_BAD_FIELD, 0, "bad name '%s'",
	    "ok\xFF\xC0\x80");
	decode_error_frame(&b, 2, &m);
	ck_assert(wire_utf8_valid((const uint8_t *)m.text, strlen(m.text)));
	ck_assert(strncmp(m.text, "bad name 'ok", strlen(m.text)) == 0);
	buf_free(&b);
}
END_TEST

/* ---- 9. random and mutated payloads ------------------------------------- */

struct pooled {
	const struct wire_opdesc *d;
	uint8_t *p;
	size_t n;
};

/* Valid payloads of every opcode, small enough to mutate quickly. */
static struct pooled *
make_pool(unsigned *np)
{
	struct pooled *pool = xcalloc((size_t)wire_nops * 4, sizeof *pool);
	unsigned i, k, n = 0;

	for (i = 0; i < wire_nops; i++) {
		for (k = 0; k < 4; k++) {
			struct gen g = { k == 0 ? MODE_MIN : k == 1 ? MODE_MAX :
			    MODE_RANDOM, seed_of(wire_ops[i].opcode, 50 + k),
			    k == 1 ? 2 : 4, k == 0 ? 1 : 0, k == 1 ? 0 : 48, 64 };
			struct sample sm;
			struct buf b;

			gen_sample(&sm, &wire_ops[i], &g);
			buf_init(&b);
			ref_payload(&b, &sm, NULL);
			pool[n].d = &wire_ops[i];
			pool[n].p = dup_exact(b.data, b.len);
			pool[n].n = b.len;
			n++;
			buf_free(&b);
			sample_free(&sm);
		}
	}
	*np = n;
	return pool;
}

START_TEST(test_random_payloads)
{
	uint64_t s = seed_of(0xF022, 9);
	unsigned npool, i, accepted = 0, mutated_ok = 0;
	struct pooled *pool = make_pool(&npool);

	for (i = 0; i < npool; i++) {
		void *out = xcalloc(1, pool[i].d->body.size);

		ck_assert_int_eq(wire_decode(pool[i].d, pool[i].p, pool[i].n, out,
		    NULL), 0);
		check_reencode(pool[i].d, out, pool[i].p, pool[i].n);
		free(out);
	}
	for (i = 0; i < 50000; i++) {
		const struct wire_opdesc *d;
		struct wire_decode_error err;
		uint8_t tmp[16384], *p;
		size_t n, k, flips;
		int mutated = 0, rc;
		void *out;

		if (h_xorshift64(&s) % 5 < 2) {
			n = (size_t)rng_range(&s, 0, 300);
			fill_random(&s, tmp, n);
			d = &wire_ops[h_xorshift64(&s) % wire_nops];
		} else {
			const struct pooled *pe =
			    &pool[h_xorshift64(&s) % npool];

			CHECK(pe->n + 3 <= sizeof tmp, "pool entry too big");
			memcpy(tmp, pe->p, pe->n);
			n = pe->n;
			mutated = 1;
			switch (h_xorshift64(&s) % 4) {
			case 0:		/* truncate */
				if (n > 0)
					n = (size_t)rng_range(&s, 0, n - 1);
				break;
			case 1:		/* extend */
				k = (size_t)rng_range(&s, 1, 3);
				fill_random(&s, tmp + n, k);
				n += k;
				break;
			default:	/* flip 1-3 bytes */
				flips = (size_t)rng_range(&s, 1, 3);
				for (k = 0; k < flips && n > 0; k++) {
					size_t at = (size_t)rng_range(&s, 0, n - 1);

					if (h_xorshift64(&s) % 2)
						tmp[at] ^= (uint8_t)(1u <<
						    h_xorshift64(&s) % 8);
					else
						tmp[at] =
						    (uint8_t)h_xorshift64(&s);
				}
				break;
			}
			d = h_xorshift64(&s) % 10 ? pe->d :
			    &wire_ops[h_xorshift64(&s) % wire_nops];
		}
		p = dup_exact(tmp, n);
		out = xcalloc(1, d->body.size);
		memset(&err, 0, sizeof err);
		rc = wire_decode(d, p, n, out, &err);
		CHECK(rc == 0 || rc == -1, "rc %d", rc);
		if (rc == 0) {
			check_reencode(d, out, p, n);
			accepted++;
			mutated_ok += (unsigned)mutated;
		} else {
			CHECK(err.code == WIRE_E_BAD_FRAME ||
			    err.code == WIRE_E_TOO_LONG ||
			    err.code == WIRE_E_BAD_FIELD, "error code %u", err.code);
			CHECK(memchr(err.text, '\0', sizeof err.text) != NULL,
			    "error text not terminated");
		}
		free(out);
		free(p);
	}
	/* the acceptance path was exercised, not only rejections */
	ck_assert_uint_gt(mutated_ok, 1000);
	ck_assert_uint_gt(accepted, mutated_ok);
	for (i = 0; i < npool; i++)
		free(pool[i].p);
	free(pool);
}
END_TEST

/* ---- 10. lists ---------------------------------------------------------- */

START_TEST(test_list_iteration)
{
	unsigned i, n, k, lists = 0;

	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];
		const struct wire_field *lf = wire_list_field(&d->body);
		struct wire_list_iter it;
		struct wire_list l;
		void *out, *item;
		struct buf b;

		if (lf == NULL) {
			/* no list: iteration over anything yields nothing */
			uint8_t one[8] = { 0 }, scratch[8];

			l.ptr = one;
			l.len = sizeof one;
			l.count = 1;
			wire_list_begin(&it, d, &l);
			ck_assert_int_eq(wire_list_next(&it, scratch), 0);
			continue;
		}
		lists++;
		/* the minimum count (0 for an empty list), then 1 and 2 more */
		for (n = (unsigned)lf->min; n <= lf->min + 2 && n <= lf->max; n++) {
			struct gen g = { MODE_MIN, seed_of(d->opcode, n), 0, n, 0, 0 };
			struct sample sm;

			gen_sample(&sm, d, &g);
			ck_assert_uint_eq(sm.nitems, n);
			buf_init(&b);
			encode_sample(&b, &sm, 1);
			out = xcalloc(1, d->body.size);
			ck_assert_int_eq(wire_decode(d, b.data + WIRE_HEADER_SIZE,
			    b.len - WIRE_HEADER_SIZE, out, NULL), 0);
			l = list_at(lf, out);
			ck_assert_uint_eq(l.count, n);
			if (n == 0)
				ck_assert_uint_eq(l.len, 0);
			item = xcalloc(1, lf->item->size);
			wire_list_begin(&it, d, &l);
			for (k = 0; wire_list_next(&it, item); k++)
				ck_assert_uint_lt(k, n);
			ck_assert_uint_eq(k, n);
			for (k = 0; k < 3; k++)
				ck_assert_int_eq(wire_list_next(&it, item), 0);
			free(item);
			free(out);
			buf_free(&b);
			sample_free(&sm);
		}
	}
	ck_assert_uint_gt(lists, 0);
}
END_TEST

/* ---- encoding into a partly consumed buffer ----------------------------- */

/*
 * Connection output buffers have a consumed prefix while frames are
 * appended. Encode frames of every opcode behind one (so that the buffer
 * must grow mid-frame) and read them back as a stream.
 */
START_TEST(test_encode_after_consume)
{
	unsigned i, j;

	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];
		struct gen g = { MODE_MAX, seed_of(d->opcode, 11), 3, 0, 0, 512 };
		struct sample sm;
		struct wire_header h;
		struct buf b;
		uint8_t junk[200];

		gen_sample(&sm, d, &g);
		buf_init(&b);
		memset(junk, 0x43, sizeof junk);
		buf_append(&b, junk, sizeof junk);
		buf_consume(&b, sizeof junk - 10);
		for (j = 0; j < 3; j++)
			encode_sample(&b, &sm, j);
		buf_consume(&b, 10);
		for (j = 0; j < 3; j++) {
			char ctx[64];

			snprintf(ctx, sizeof ctx, "%s frame %u after a consumed "
			    "prefix", d->name, j);
			CHECK(wire_peek_header(buf_head(&b), buf_pending(&b),
			    UINT32_MAX, &h) == WIRE_FRAME_OK, "%s: no frame", ctx);
			check_frame(ctx, &sm, buf_head(&b),
			    WIRE_HEADER_SIZE + (size_t)h.length, j);
			decode_and_compare(ctx, &sm, buf_head(&b) + WIRE_HEADER_SIZE,
			    h.length);
			buf_consume(&b, WIRE_HEADER_SIZE + (size_t)h.length);
		}
		ck_assert_uint_eq(buf_pending(&b), 0);
		buf_free(&b);
		sample_free(&sm);
	}
}
END_TEST

/* ---- wire_encode_set ----------------------------------------------------- */

/*
 * Overwrite each leading fixed-width field of every opcode after the fact
 * (as a "more" flag or a total is set once the list is written), in a
 * frame and in a bare payload, behind a consumed prefix; the result must
 * decode to the message with just that field changed.
 */
START_TEST(test_encode_set)
{
	unsigned i, j, set = 0;

	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];
		struct gen g = { MODE_RANDOM, seed_of(d->opcode, 21), 3, 1, 16, 16 };
		struct sample sm;

		gen_sample(&sm, d, &g);
		for (j = 0; j < d->body.nfields && int_width(d->body.fields[j].type);
		    j++) {
			const struct wire_field *f = &d->body.fields[j];
			uint64_t old = get_int(f, sm.msg), v;
			int frame;

			if (f->min == f->max)
				continue;
			v = rng_range(&g.rng, f->min, f->max);
			if (v == old)
				v = old == f->max ? f->min : f->max;
			set_int(f, sm.msg, f->min);	/* encoded, then replaced */
			for (frame = 0; frame <= 1; frame++) {
				struct wire_enc e;
				struct buf b;
				uint8_t junk[100];
				unsigned k;
				size_t hl = frame ? WIRE_HEADER_SIZE : 0;
				char ctx[96];

				buf_init(&b);
				memset(junk, 0xEE, sizeof junk);
				buf_append(&b, junk, sizeof junk);
				buf_consume(&b, sizeof junk - 10);
				if (frame)
					wire_encode_begin(&e, &b, d->opcode, 3, sm.msg);
				else
					wire_payload_begin(&e, &b, &d->body, sm.msg);
				if (j % 2)	/* before or after the items */
					wire_encode_set(&e, f->name, v);
				for (k = 0; k < sm.nitems; k++)
					wire_encode_item(&e, sm.items[k]);
				if (j % 2 == 0)
					wire_encode_set(&e, f->name, v);
				wire_encode_end(&e);
				set_int(f, sm.msg, v);
				snprintf(ctx, sizeof ctx, "%s: set %s%s", d->name,
				    f->name, frame ? "" : " (payload)");
				CHECK(buf_pending(&b) >= 10 + hl, "%s: short", ctx);
				if (frame)
					check_frame(ctx, &sm, buf_head(&b) + 10,
					    buf_pending(&b) - 10, 3);
				decode_and_compare(ctx, &sm, buf_head(&b) + 10 + hl,
				    buf_pending(&b) - 10 - hl);
				set_int(f, sm.msg, f->min);
				buf_free(&b);
				set++;
			}
			set_int(f, sm.msg, old);
		}
		sample_free(&sm);
	}
	ck_assert_uint_gt(set, 0);
}
END_TEST

/* ---- encoder contract violations abort ------------------------------------ */

/* A min-mode message of the named opcode (no list items); returns its
 * struct, freed by the child's exit. */
static void *
min_msg(const char *op, struct sample *sm)
{
	struct gen g = { MODE_MIN, 1, 0, 0, 0, 0 };

	gen_sample(sm, op_named(op), &g);
	return sm->msg;
}

/*
 * Each case breaks the encoder's contract once and must abort (SIGABRT);
 * the "wire: BUG" message goes to /dev/null. Run only in fork mode.
 */
START_TEST(test_encode_bugs)
{
	const struct wire_opdesc *mr = op_named("MARK_READ");
	const struct wire_field *lf = wire_list_field(&mr->body);
	struct sample sm;
	struct wire_enc e;
	struct buf b;
	void *m, *item;
	unsigned k;

	ck_assert(freopen("/dev/null", "w", stderr) != NULL);
	buf_init(&b);
	switch (_i) {
	case 0:		/* integer out of range */
		m = min_msg("HELLO", &sm);
		set_int(field_named(&sm.d->body, "kind"), m, 0);
		wire_encode(&b, sm.d->opcode, 1, m);
		break;
	case 1:		/* string over its max (no NUL within max + 1) */
		m = min_msg("REGISTER", &sm);
		memset((char *)m + field_named(&sm.d->body, "username")->offset,
		    'u', CHAT_MAX_USERNAME + 1);
		wire_encode(&b, sm.d->opcode, 1, m);
		break;
	case 2:		/* string under its min */
		m = min_msg("REGISTER", &sm);
		((char *)m)[field_named(&sm.d->body, "password")->offset] = '\0';
		wire_encode(&b, sm.d->opcode, 1, m);
		break;
	case 3:		/* BYTES of the wrong length */
		m = min_msg("RESUME", &sm);
		{
			struct wire_bytes bad = { (const uint8_t *)"short", 5 };

			memcpy((char *)m + sm.d->body.fields[0].offset, &bad,
			    sizeof bad);
		}
		wire_encode(&b, sm.d->opcode, 1, m);
		break;
	case 4:		/* too many list items */
		m = min_msg("MARK_READ", &sm);
		item = xcalloc(1, lf->item->size);
		set_int(&lf->item->fields[0], item, 1);
		wire_encode_begin(&e, &b, mr->opcode, 1, m);
		for (k = 0; k <= lf->max; k++)
			wire_encode_item(&e, item);
		break;
	case 5:		/* too few list items */
		m = min_msg("MARK_READ", &sm);
		wire_encode(&b, mr->opcode, 1, m);
		break;
	case 6:		/* an item for a message without a list */
		m = min_msg("PING", &sm);
		wire_encode_begin(&e, &b, sm.d->opcode, 1, m);
		wire_encode_item(&e, m);
		break;
	case 7:		/* set a field behind a variable-width one */
		m = min_msg("SEND", &sm);
		wire_encode_begin(&e, &b, sm.d->opcode, 1, m);
		wire_encode_set(&e, "body", 1);
		break;
	case 8:		/* set a field out of its range */
		m = min_msg("MESSAGES", &sm);
		wire_encode_begin(&e, &b, sm.d->opcode, 1, m);
		wire_encode_set(&e, "more", 2);
		break;
	case 9:		/* set a field that does not exist */
		m = min_msg("PING", &sm);
		wire_encode_begin(&e, &b, sm.d->opcode, 1, m);
		wire_encode_set(&e, "no_such_field", 1);
		break;
	default:	/* an unknown opcode */
		m = min_msg("PING", &sm);
		wire_encode(&b, 0x0005, 1, m);
		break;
	}
	ck_abort_msg("case %d did not abort", _i);
}
END_TEST
#define N_ENCODE_BUGS 11

/* ---- suite ---------------------------------------------------------------- */

static Suite *
wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = h_tcase(s, "table", 0);
	tcase_add_test(tc, test_table_ops);
	tcase_add_test(tc, test_table_fields);
	tcase_add_test(tc, test_table_mutates);
	tcase_add_test(tc, test_table_limits);
	tcase_add_test(tc, test_table_errors);

	tc = h_tcase(s, "codec", 60);
	tcase_add_loop_test(tc, test_roundtrip, 0, (int)wire_nops);
	tcase_add_loop_test(tc, test_prefixes, 0, (int)wire_nops);
	tcase_add_loop_test(tc, test_reject_fields, 0, (int)wire_nops);
	tcase_add_loop_test(tc, test_reject_payload, 0, (int)wire_nops);
	tcase_add_test(tc, test_reject_examples);
	tcase_add_test(tc, test_list_iteration);
	tcase_add_test(tc, test_encode_after_consume);
	tcase_add_test(tc, test_encode_set);
	tcase_add_test(tc, test_encode_error);

	tc = h_tcase(s, "framing", 60);
	tcase_add_test(tc, test_peek_header);
	tcase_add_test(tc, test_peek_random);

	tc = h_tcase(s, "utf8", 60);
	tcase_add_test(tc, test_utf8_cases);
	tcase_add_test(tc, test_utf8_exhaustive);
	tcase_add_test(tc, test_utf8_random);

	tc = h_tcase(s, "random", 60);
	tcase_add_test(tc, test_random_payloads);
	return s;
}

int
main(void)
{
	Suite *s = wire_suite();
	SRunner *sr = srunner_create(s);

	/* Tests that expect abort() need a child process to die in. */
	if (srunner_fork_status(sr) != CK_NOFORK)
		tcase_add_loop_test_raise_signal(h_tcase(s, "encode_bugs", 0),
		    test_encode_bugs, SIGABRT, 0, N_ENCODE_BUGS);
	return h_run_srunner(sr);
}
