/*
 * wire.c — the descriptor tables expanded from wire/wire.def, and the one
 * generic codec that every opcode goes through.
 *
 * Decoding is driven by descriptors: for each field, check that its bytes
 * are in the buffer, check its length/count/value against the table's
 * limits, then store it at the field's offset in the caller's struct. A
 * length is compared with what is left in the buffer *before* anything is
 * read or copied, so no peer can make us read past the frame or allocate
 * anything (decoding allocates nothing at all). Trailing bytes after the
 * last field are an error too: a frame means exactly one thing.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wire.h"

/* ---- descriptor tables ------------------------------------------------ */

enum {
#define ITEM_INDEX(NAME, doc) WIRE_ITEMIDX_##NAME,
	WIRE_ITEMS(ITEM_INDEX)
	WIRE_NITEMS
};

#define ITEMREF_U8(sub)    NULL
#define ITEMREF_U16(sub)   NULL
#define ITEMREF_U32(sub)   NULL
#define ITEMREF_U64(sub)   NULL
#define ITEMREF_STR(sub)   NULL
#define ITEMREF_BYTES(sub) NULL
#define ITEMREF_LIST(sub)  &wire_items[WIRE_ITEMIDX_##sub]

#define FIELD_DESC(S, T, n, lo, hi, sub, doc) \
	{ WT_##T, #n, (lo), (hi), offsetof(S, n), ITEMREF_##T(sub), doc },

/* Largest encoding of a field, as a constant expression. */
#define MAXSZ_U8(hi, sub)    1
#define MAXSZ_U16(hi, sub)   2
#define MAXSZ_U32(hi, sub)   4
#define MAXSZ_U64(hi, sub)   8
#define MAXSZ_STR(hi, sub)   (2 + (uint64_t)(hi))
#define MAXSZ_BYTES(hi, sub) (4 + (uint64_t)(hi))
#define MAXSZ_LIST(hi, sub)  (2 + (uint64_t)(hi) * \
				(0 WIRE_ITEM_##sub(ITEM_MAXSZ, _)))
#define ITEM_MAXSZ(S, T, n, lo, hi, sub, doc) + MAXSZ_##T(hi, sub)
#define FIELD_MAXSZ(S, T, n, lo, hi, sub, doc) + MAXSZ_##T(hi, sub)

/* Fields with no entries still need an array; the sentinel is not counted. */
#define ITEM_FIELDS(NAME, doc) \
	static const struct wire_field item_fields_##NAME[] = { \
		WIRE_ITEM_##NAME(FIELD_DESC, struct wire_item_##NAME) \
		{ WT_U8, NULL, 0, 0, 0, NULL, NULL } };
WIRE_ITEMS(ITEM_FIELDS)

#define OP_FIELDS(NAME, num, port, dir, flags, doc) \
	static const struct wire_field op_fields_##NAME[] = { \
		WIRE_FIELDS_##NAME(FIELD_DESC, struct wire_##NAME) \
		{ WT_U8, NULL, 0, 0, 0, NULL, NULL } };
WIRE_OPS(OP_FIELDS)

#define NFIELDS(arr) (unsigned)(sizeof(arr) / sizeof((arr)[0]) - 1)

const struct wire_struct wire_items[] = {
#define ITEM_STRUCT(NAME, doc) \
	{ #NAME, item_fields_##NAME, NFIELDS(item_fields_##NAME), \
	  sizeof(struct wire_item_##NAME), \
	  0 WIRE_ITEM_##NAME(FIELD_MAXSZ, _) },
	WIRE_ITEMS(ITEM_STRUCT)
};
const unsigned wire_nitems = WIRE_NITEMS;

const struct wire_opdesc wire_ops[] = {
#define OP_DESC(NAME, num, port, dir, flags, doc) \
	{ num, #NAME, port, dir, flags, doc, \
	  { #NAME, op_fields_##NAME, NFIELDS(op_fields_##NAME), \
	    sizeof(struct wire_##NAME), \
	    0 WIRE_FIELDS_##NAME(FIELD_MAXSZ, _) } },
	WIRE_OPS(OP_DESC)
};
const unsigned wire_nops = sizeof(wire_ops) / sizeof(wire_ops[0]);

const struct wire_errdesc wire_errors[] = {
#define ERR_DESC(NAME, num, doc) { num, #NAME, doc },
	WIRE_ERRORS(ERR_DESC)
};
const unsigned wire_nerrors = sizeof(wire_errors) / sizeof(wire_errors[0]);

/* Scratch space big enough for any list item while validating a list. */
union wire_any_item {
#define ITEM_UNION(NAME, doc) struct wire_item_##NAME NAME;
	WIRE_ITEMS(ITEM_UNION)
};

/* The table is in increasing opcode order (checked by tests/check_wire.c),
 * so a binary search finds an opcode; no lazily built index, so no data
 * race with the hashing thread either. */
const struct wire_opdesc *
wire_op(uint16_t opcode)
{
	unsigned lo = 0, hi = wire_nops;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (wire_ops[mid].opcode == opcode)
			return &wire_ops[mid];
		if (wire_ops[mid].opcode < opcode)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *
wire_op_name(uint16_t opcode)
{
	static char unknown[16];
	const struct wire_opdesc *d = wire_op(opcode);

	if (d)
		return d->name;
	snprintf(unknown, sizeof unknown, "0x%04x", opcode);
	return unknown;
}

const char *
wire_err_name(uint16_t code)
{
	static char unknown[16];
	unsigned i;

	for (i = 0; i < wire_nerrors; i++)
		if (wire_errors[i].code == code)
			return wire_errors[i].name;
	snprintf(unknown, sizeof unknown, "E%u", code);
	return unknown;
}

/* ---- framing ---------------------------------------------------------- */

int
wire_peek_header(const uint8_t *buf, size_t len, uint32_t max_payload,
		 struct wire_header *h)
{
	/* Check magic as soon as its bytes are here, so a stranger speaking
	 * another protocol is dropped on its first bytes. */
	if (len >= 1 && buf[0] != (WIRE_MAGIC >> 8))
		return WIRE_FRAME_BAD_MAGIC;
	if (len >= 2 && get_be16(buf) != WIRE_MAGIC)
		return WIRE_FRAME_BAD_MAGIC;
	if (len >= 3 && (buf[2] < WIRE_VERSION_MIN || buf[2] > WIRE_VERSION_MAX))
		return WIRE_FRAME_BAD_VERSION;
	if (len < WIRE_HEADER_SIZE)
		return WIRE_FRAME_INCOMPLETE;
	h->magic = get_be16(buf);
	h->version = buf[2];
	h->flags = buf[3];
	h->opcode = get_be16(buf + 4);
	h->request_id = get_be32(buf + 6);
	h->length = get_be32(buf + 10);
	if (h->length > max_payload)
		return WIRE_FRAME_TOO_BIG;
	if (len - WIRE_HEADER_SIZE < h->length)
		return WIRE_FRAME_INCOMPLETE;
	return WIRE_FRAME_OK;
}

const char *
wire_frame_strerror(int rc)
{
	switch (rc) {
	case WIRE_FRAME_OK:		return "ok";
	case WIRE_FRAME_INCOMPLETE:	return "incomplete frame";
	case WIRE_FRAME_BAD_MAGIC:	return "bad magic";
	case WIRE_FRAME_TOO_BIG:	return "frame too large";
	case WIRE_FRAME_BAD_VERSION:	return "unsupported protocol version";
	}
	return "framing error";
}

unsigned
wire_version_choose(unsigned their_min, unsigned their_max)
{
	unsigned lo = their_min > WIRE_VERSION_MIN ? their_min : WIRE_VERSION_MIN;
	unsigned hi = their_max < WIRE_VERSION_MAX ? their_max : WIRE_VERSION_MAX;

	return lo <= hi ? hi : 0;
}

const char *
wire_role_name(unsigned role)
{
	static const char *const names[] = { "starting", "primary", "backup",
	    "electing", "waiting" };

	return role < sizeof names / sizeof names[0] ? names[role] : "unknown";
}

/* ---- UTF-8 ------------------------------------------------------------ */

int
wire_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		uint32_t cp;
		size_t need, k;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;	/* continuation byte, C0/C1, F5+ */
		}
		if (n - i - 1 < need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;	/* overlong, too large, surrogate */
		i += need + 1;
	}
	return 1;
}

/* ---- decoding --------------------------------------------------------- */

static int fail(struct wire_decode_error *err, uint16_t code,
		const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
fail(struct wire_decode_error *err, uint16_t code, const char *field,
     const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		err->field = field;
		va_start(ap, fmt);
		vsnprintf(err->text, sizeof err->text, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Read a STR or BYTES length prefix of `width` bytes at *pp and check it
 * against the bytes left and the field's limits; advances *pp past the
 * prefix. 0, or -1 with err filled. */
static int
read_len(const struct wire_field *f, const uint8_t **pp, const uint8_t *end,
	 size_t width, uint64_t *n, struct wire_decode_error *err)
{
	const uint8_t *p = *pp;

	if ((size_t)(end - p) < width)
		return fail(err, WIRE_E_BAD_FRAME, f->name, "truncated at %s",
		    f->name);
	*n = width == 2 ? get_be16(p) : get_be32(p);
	p += width;
	if (*n > (size_t)(end - p))
		return fail(err, WIRE_E_BAD_FRAME, f->name,
		    "%s length past the frame", f->name);
	if (*n > f->max)
		return fail(err, WIRE_E_TOO_LONG, f->name,
		    "%s too long (max %llu bytes)", f->name,
		    (unsigned long long)f->max);
	if (*n < f->min)
		return fail(err, WIRE_E_BAD_FIELD, f->name,
		    "%s too short (min %llu)", f->name,
		    (unsigned long long)f->min);
	*pp = p;
	return 0;
}

/* Decode the fields of s from [*pp, end) into out; advances *pp. */
static int
decode_fields(const struct wire_struct *s, const uint8_t **pp,
	      const uint8_t *end, void *out, struct wire_decode_error *err)
{
	const uint8_t *p = *pp;
	unsigned i;

	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];
		unsigned char *dst = (unsigned char *)out + f->offset;
		size_t left = (size_t)(end - p);
		uint64_t v = 0, n;

		switch (f->type) {
		case WT_U8: case WT_U16: case WT_U32: case WT_U64: {
			size_t w = f->type == WT_U8 ? 1 : f->type == WT_U16 ? 2 :
			    f->type == WT_U32 ? 4 : 8;
			if (left < w)
				return fail(err, WIRE_E_BAD_FRAME, f->name,
				    "truncated at %s", f->name);
			v = w == 1 ? p[0] : w == 2 ? get_be16(p) :
			    w == 4 ? get_be32(p) : get_be64(p);
			if (v < f->min || v > f->max)
				return fail(err, WIRE_E_BAD_FIELD, f->name,
				    "%s out of range (%llu-%llu)", f->name,
				    (unsigned long long)f->min,
				    (unsigned long long)f->max);
			if (w == 1)
				*(uint8_t *)dst = (uint8_t)v;
			else if (w == 2)
				*(uint16_t *)(void *)dst = (uint16_t)v;
			else if (w == 4)
				*(uint32_t *)(void *)dst = (uint32_t)v;
			else
				*(uint64_t *)(void *)dst = v;
			p += w;
			break;
		}
		case WT_STR:
			if (read_len(f, &p, end, 2, &n, err) < 0)
				return -1;
			if (!wire_utf8_valid(p, n))
				return fail(err, WIRE_E_BAD_FIELD, f->name,
				    "%s is not valid UTF-8 text", f->name);
			memcpy(dst, p, n);
			dst[n] = '\0';
			p += n;
			break;
		case WT_BYTES: {
			struct wire_bytes *b = (struct wire_bytes *)(void *)dst;
			if (read_len(f, &p, end, 4, &n, err) < 0)
				return -1;
			b->ptr = p;
			b->len = (uint32_t)n;
			p += n;
			break;
		}
		case WT_LIST: {
			struct wire_list *l = (struct wire_list *)(void *)dst;
			union wire_any_item scratch;
			uint16_t k;

			if (left < 2)
				return fail(err, WIRE_E_BAD_FRAME, f->name,
				    "truncated at %s", f->name);
			n = get_be16(p);
			p += 2;
			if (n > f->max)
				return fail(err, WIRE_E_TOO_LONG, f->name,
				    "%s has too many items (max %llu)", f->name,
				    (unsigned long long)f->max);
			if (n < f->min)
				return fail(err, WIRE_E_BAD_FIELD, f->name,
				    "%s needs at least %llu items", f->name,
				    (unsigned long long)f->min);
			l->ptr = p;
			l->count = (uint16_t)n;
			/* Validate every item now so iteration cannot fail. */
			for (k = 0; k < n; k++)
				if (decode_fields(f->item, &p, end, &scratch,
				    err) < 0)
					return -1;
			l->len = (uint32_t)(p - l->ptr);
			break;
		}
		}
	}
	*pp = p;
	return 0;
}

int
wire_decode_struct(const struct wire_struct *s, const uint8_t *payload,
		   size_t len, void *out, struct wire_decode_error *err)
{
	const uint8_t *p = payload, *end = payload + len;

	if (len > s->max_encoded)
		return fail(err, WIRE_E_TOO_LONG, NULL,
		    "%s payload too long (%zu > %llu bytes)", s->name, len,
		    (unsigned long long)s->max_encoded);
	memset(out, 0, s->size);
	if (decode_fields(s, &p, end, out, err) < 0)
		return -1;
	if (p != end)
		return fail(err, WIRE_E_BAD_FRAME, NULL,
		    "%zu unexpected bytes after the last field of %s",
		    (size_t)(end - p), s->name);
	return 0;
}

int
wire_decode(const struct wire_opdesc *d, const uint8_t *payload, size_t len,
	    void *out, struct wire_decode_error *err)
{
	return wire_decode_struct(&d->body, payload, len, out, err);
}

const struct wire_field *
wire_list_field(const struct wire_struct *s)
{
	if (s->nfields > 0 && s->fields[s->nfields - 1].type == WT_LIST)
		return &s->fields[s->nfields - 1];
	return NULL;
}

size_t
wire_payload_limit(const struct wire_opdesc *d)
{
	switch (d->port) {
	case WIRE_PORT_CLIENT:
		return d->dir == WIRE_DIR_REQUEST ? WIRE_MAX_REQUEST :
		    WIRE_MAX_PAYLOAD_CLIENT;
	case WIRE_PORT_INTERNAL:
		return WIRE_MAX_PAYLOAD_INTERNAL;
	case WIRE_PORT_RECORD:
		return WIRE_MAX_RECORD;
	default:
		return WIRE_MAX_REQUEST;
	}
}

void
wire_list_begin(struct wire_list_iter *it, const struct wire_opdesc *d,
		const struct wire_list *l)
{
	const struct wire_field *f = wire_list_field(&d->body);

	it->item = f ? f->item : NULL;
	it->p = l->ptr;
	it->end = l->ptr + l->len;
	it->left = f ? l->count : 0;
}

int
wire_list_next(struct wire_list_iter *it, void *out)
{
	if (it->left == 0)
		return 0;
	memset(out, 0, it->item->size);
	if (decode_fields(it->item, &it->p, it->end, out, NULL) < 0)
		return 0;	/* cannot happen for a list wire_decode passed */
	it->left--;
	return 1;
}

/* ---- encoding --------------------------------------------------------- */

static void
encode_bug(const struct wire_struct *s, const struct wire_field *f,
	   const char *what)
{
	fprintf(stderr, "wire: BUG: encoding %s.%s: %s\n", s->name, f->name,
	    what);
	abort();
}

/*
 * Positions inside a frame being encoded are kept relative to the buffer's
 * read cursor (b->start): appending may compact the buffer, which moves
 * the bytes and the cursor together but keeps those offsets valid.
 */
static size_t
rel_pos(const struct buf *b)
{
	return b->len - b->start;
}

static uint8_t *
at_rel(const struct buf *b, size_t rel)
{
	return b->data + b->start + rel;
}

/* Append the fields of s; returns the relative position of the list
 * count (meaningful only when s has a list: see wire_list_field()). */
static size_t
encode_fields(struct buf *out, const struct wire_struct *s, const void *msg)
{
	size_t count_pos = 0;
	unsigned i;

	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];
		const unsigned char *src = (const unsigned char *)msg + f->offset;
		uint64_t v;
		size_t n;

		switch (f->type) {
		case WT_U8:
			v = *(const uint8_t *)src;
			goto check_int;
		case WT_U16:
			v = *(const uint16_t *)(const void *)src;
			goto check_int;
		case WT_U32:
			v = *(const uint32_t *)(const void *)src;
			goto check_int;
		case WT_U64:
			v = *(const uint64_t *)(const void *)src;
		check_int:
			if (v < f->min || v > f->max)
				encode_bug(s, f, "value out of range");
			if (f->type == WT_U8)
				buf_put_u8(out, (uint8_t)v);
			else if (f->type == WT_U16)
				buf_put_u16(out, (uint16_t)v);
			else if (f->type == WT_U32)
				buf_put_u32(out, (uint32_t)v);
			else
				buf_put_u64(out, v);
			break;
		case WT_STR:
			n = strnlen((const char *)src, f->max + 1);
			if (n > f->max || n < f->min)
				encode_bug(s, f, "string length out of range");
			buf_put_u16(out, (uint16_t)n);
			buf_append(out, src, n);
			break;
		case WT_BYTES: {
			const struct wire_bytes *b =
			    (const struct wire_bytes *)(const void *)src;
			if (b->len > f->max || b->len < f->min)
				encode_bug(s, f, "byte length out of range");
			buf_put_u32(out, b->len);
			buf_append(out, b->ptr, b->len);
			break;
		}
		case WT_LIST:
			count_pos = rel_pos(out);
			buf_put_u16(out, 0);
			break;
		}
	}
	return count_pos;
}

static void
enc_start(struct wire_enc *e, struct buf *out, const struct wire_struct *s,
	  const void *msg)
{
	e->out = out;
	e->body = s;
	e->count = 0;
	e->count_pos = encode_fields(out, s, msg);
}

void
wire_encode_begin(struct wire_enc *e, struct buf *out, uint16_t op,
		  uint32_t request_id, const void *msg)
{
	const struct wire_opdesc *d = wire_op(op);
	uint8_t *h;

	if (d == NULL) {
		fprintf(stderr, "wire: BUG: encoding unknown opcode 0x%04x\n", op);
		abort();
	}
	h = buf_reserve(out, WIRE_HEADER_SIZE);
	e->start = rel_pos(out);	/* after the reserve: it may compact */
	e->has_header = 1;
	put_be16(h, WIRE_MAGIC);
	h[2] = WIRE_VERSION_MAX;
	h[3] = 0;
	put_be16(h + 4, op);
	put_be32(h + 6, request_id);
	put_be32(h + 10, 0);
	out->len += WIRE_HEADER_SIZE;
	enc_start(e, out, &d->body, msg);
}

void
wire_payload_begin(struct wire_enc *e, struct buf *out,
		   const struct wire_struct *s, const void *msg)
{
	e->start = rel_pos(out);
	e->has_header = 0;
	enc_start(e, out, s, msg);
}

void
wire_encode_item(struct wire_enc *e, const void *item)
{
	const struct wire_field *f = wire_list_field(e->body);

	if (f == NULL) {
		fprintf(stderr, "wire: BUG: %s has no list to add items to\n",
		    e->body->name);
		abort();
	}
	if (e->count >= f->max)
		encode_bug(e->body, f, "too many list items");
	encode_fields(e->out, f->item, item);
	e->count++;
}

size_t
wire_enc_size(const struct wire_enc *e)
{
	return rel_pos(e->out) - e->start;
}

void
wire_encode_end(struct wire_enc *e)
{
	const struct wire_field *f = wire_list_field(e->body);

	if (f) {
		if (e->count < f->min)
			encode_bug(e->body, f, "too few list items");
		put_be16(at_rel(e->out, e->count_pos), e->count);
	}
	if (e->has_header)
		put_be32(at_rel(e->out, e->start) + 10,
		    (uint32_t)(rel_pos(e->out) - e->start - WIRE_HEADER_SIZE));
}

void
wire_encode_set(struct wire_enc *e, const char *field, uint64_t v)
{
	size_t off = e->start + (e->has_header ? WIRE_HEADER_SIZE : 0);
	uint8_t *base = at_rel(e->out, 0);
	unsigned i;

	for (i = 0; i < e->body->nfields; i++) {
		const struct wire_field *f = &e->body->fields[i];
		size_t w = f->type == WT_U8 ? 1 : f->type == WT_U16 ? 2 :
		    f->type == WT_U32 ? 4 : f->type == WT_U64 ? 8 : 0;

		if (w == 0)
			encode_bug(e->body, f, "variable-width field before "
			    "the one to set");
		if (strcmp(f->name, field) != 0) {
			off += w;
			continue;
		}
		if (v < f->min || v > f->max)
			encode_bug(e->body, f, "value out of range");
		if (w == 1)
			base[off] = (uint8_t)v;
		else if (w == 2)
			put_be16(base + off, (uint16_t)v);
		else if (w == 4)
			put_be32(base + off, (uint32_t)v);
		else
			put_be64(base + off, v);
		return;
	}
	fprintf(stderr, "wire: BUG: %s has no field %s\n", e->body->name, field);
	abort();
}

void
wire_encode(struct buf *out, uint16_t op, uint32_t request_id, const void *msg)
{
	struct wire_enc e;

	wire_encode_begin(&e, out, op, request_id, msg);
	wire_encode_end(&e);
}

void
wire_encode_payload(struct buf *out, const struct wire_struct *s,
		    const void *msg)
{
	struct wire_enc e;

	wire_payload_begin(&e, out, s, msg);
	wire_encode_end(&e);
}

void
wire_error_vfill(struct wire_ERROR *m, uint16_t code, uint16_t about_op,
		 const char *fmt, va_list ap)
{
	size_t n;

	memset(m, 0, sizeof *m);
	m->code = code;
	m->about_op = about_op;
	vsnprintf(m->text, sizeof m->text, fmt, ap);
	/* vsnprintf may cut a multi-byte character in half; trim to valid. */
	n = strlen(m->text);
	while (n > 0 && !wire_utf8_valid((const uint8_t *)m->text, n))
		m->text[--n] = '\0';
}

void
wire_encode_error(struct buf *out, uint32_t request_id, uint16_t code,
		  uint16_t about_op, const char *fmt, ...)
{
	struct wire_ERROR m;
	va_list ap;

	va_start(ap, fmt);
	wire_error_vfill(&m, code, about_op, fmt, ap);
	va_end(ap);
	wire_encode(out, WIRE_OP_ERROR, request_id, &m);
}

void
wire_frame_append(struct buf *out, uint16_t op, uint32_t request_id,
		  const uint8_t *payload, size_t len)
{
	uint8_t *h = buf_reserve(out, WIRE_HEADER_SIZE + len);

	put_be16(h, WIRE_MAGIC);
	h[2] = WIRE_VERSION_MAX;
	h[3] = 0;
	put_be16(h + 4, op);
	put_be32(h + 6, request_id);
	put_be32(h + 10, (uint32_t)len);
	if (len)
		memcpy(h + WIRE_HEADER_SIZE, payload, len);
	out->len += WIRE_HEADER_SIZE + len;
}
