/*
 * fuzz_util.c — helpers shared by the harnesses (see fuzz.h): failure
 * reporting, exact-size copies, the decode/re-encode round trip and the
 * frame stream walker used by fuzz_client_frames and fuzz_internal_frames.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "wire.h"

void
fz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FUZZ PROPERTY FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

void *
fz_malloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL && n == 0)
		p = malloc(1);
	if (p == NULL)
		fz_fail("out of memory (%zu bytes)", n);
	return p;
}

uint8_t *
fz_dup(const void *p, size_t n)
{
	uint8_t *q = fz_malloc(n);

	if (n > 0)
		memcpy(q, p, n);
	return q;
}

const struct wire_struct *
fz_item(const char *name)
{
	unsigned i;

	for (i = 0; i < wire_nitems; i++)
		if (strcmp(wire_items[i].name, name) == 0)
			return &wire_items[i];
	fz_fail("no list item %s in wire_items[]", name);
}

/* Is name (by pointer) the name of a field of s or of its list item? */
static int
is_field_name(const struct wire_struct *s, const char *name)
{
	const struct wire_field *lf = wire_list_field(s);
	unsigned i;

	for (i = 0; i < s->nfields; i++)
		if (s->fields[i].name == name)
			return 1;
	if (lf)
		for (i = 0; i < lf->item->nfields; i++)
			if (lf->item->fields[i].name == name)
				return 1;
	return 0;
}

/* A failed decode: the error must be one the server can send back. */
static void
check_error(const struct wire_opdesc *d, const struct wire_header *h,
	    const struct wire_decode_error *err)
{
	struct wire_ERROR e;
	struct wire_decode_error err2;
	struct buf b;
	struct wire_header eh;
	size_t n = strnlen(err->text, sizeof err->text);

	if (err->code != WIRE_E_BAD_FRAME && err->code != WIRE_E_BAD_FIELD &&
	    err->code != WIRE_E_TOO_LONG)
		fz_fail("%s: decode error code %u is not a decode error",
		    d->name, err->code);
	if (n == 0 || n == sizeof err->text)
		fz_fail("%s: decode error text empty or unterminated",
		    d->name);
	n = strlen(wire_err_name(err->code));
	if (n == 0 || wire_err_name(err->code)[0] == 'E')
		fz_fail("%s: error %u has no name", d->name, err->code);
	if (err->field != NULL && !is_field_name(&d->body, err->field))
		fz_fail("%s: decode error names unknown field %s", d->name,
		    err->field);
	/* What the server does with it (client_error): an ERROR frame,
	 * which must decode again. */
	buf_init(&b);
	wire_encode_error(&b, h ? h->request_id : 0, err->code, d->opcode,
	    "%s", err->text);
	if (wire_peek_header(buf_head(&b), buf_pending(&b),
	    WIRE_MAX_PAYLOAD_INTERNAL, &eh) != WIRE_FRAME_OK ||
	    eh.opcode != WIRE_OP_ERROR ||
	    wire_decode(wire_op(WIRE_OP_ERROR), buf_head(&b) +
	    WIRE_HEADER_SIZE, eh.length, &e, &err2) != 0)
		fz_fail("%s: ERROR frame for \"%s\" does not decode",
		    d->name, err->text);
	if (e.code != err->code || e.about_op != d->opcode)
		fz_fail("%s: ERROR frame changed code/about_op", d->name);
	buf_free(&b);
}

/* Decode a strict prefix payload[0..k): must fail. */
static void
check_prefix(const struct wire_opdesc *d, const uint8_t *payload, size_t k,
	     size_t len, void *msg)
{
	struct wire_decode_error err;
	uint8_t *cut = fz_dup(payload, k);

	if (wire_decode(d, cut, k, msg, &err) == 0)
		fz_fail("%s: a %zu-byte prefix of a valid %zu-byte payload "
		    "decodes too", d->name, k, len);
	free(cut);
}

int
fz_roundtrip(const struct wire_opdesc *d, const struct wire_header *h,
	     const uint8_t *payload, size_t len, fz_item_fn *item_fn,
	     void *ud)
{
	const struct wire_struct *s = &d->body;
	const struct wire_field *lf = wire_list_field(s);
	struct wire_decode_error err;
	struct wire_enc e;
	struct buf b;
	uint8_t *in = fz_dup(payload, len);
	void *msg = fz_malloc(s->size);
	size_t off = h ? WIRE_HEADER_SIZE : 0, got;
	int rc;

	memset(&err, 0xA5, sizeof err);
	rc = wire_decode(d, in, len, msg, &err);
	if (rc != 0 && rc != -1)
		fz_fail("%s: wire_decode returned %d", d->name, rc);
	if (rc < 0) {
		check_error(d, h, &err);
		free(msg);
		free(in);
		return 0;
	}

	buf_init(&b);
	if (h)
		wire_encode_begin(&e, &b, d->opcode, h->request_id, msg);
	else
		wire_payload_begin(&e, &b, s, msg);
	if (lf) {
		const struct wire_list *l = (const struct wire_list *)
		    (const void *)((const char *)msg + lf->offset);
		struct wire_list_iter it;
		void *item = fz_malloc(lf->item->size);
		unsigned n = 0;

		wire_list_begin(&it, d, l);
		while (wire_list_next(&it, item)) {
			n++;
			if (item_fn)
				item_fn(ud, lf->item, item);
			wire_encode_item(&e, item);
		}
		if (n != l->count || it.p != it.end)
			fz_fail("%s: list iteration gave %u of %u items, "
			    "%td bytes left", d->name, n, l->count,
			    it.end - it.p);
		free(item);
	}
	/* wire_encode_set (how the server patches "more" and totals) on
	 * each leading fixed-width field, with its own value: no change. */
	{
		unsigned i;

		for (i = 0; i < s->nfields; i++) {
			const struct wire_field *f = &s->fields[i];
			const unsigned char *v = (const unsigned char *)msg +
			    f->offset;

			if (f->type == WT_U8)
				wire_encode_set(&e, f->name, *v);
			else if (f->type == WT_U16)
				wire_encode_set(&e, f->name,
				    *(const uint16_t *)(const void *)v);
			else if (f->type == WT_U32)
				wire_encode_set(&e, f->name,
				    *(const uint32_t *)(const void *)v);
			else if (f->type == WT_U64)
				wire_encode_set(&e, f->name,
				    *(const uint64_t *)(const void *)v);
			else
				break;
		}
	}
	wire_encode_end(&e);

	got = buf_pending(&b);
	if (wire_enc_size(&e) != got)
		fz_fail("%s: wire_enc_size %zu != %zu bytes written",
		    d->name, wire_enc_size(&e), got);
	/* (An empty payload leaves b unallocated: no buf_head(), NULL + 0.) */
	if (got != off + len || (len > 0 &&
	    memcmp(buf_head(&b) + off, payload, len) != 0))
		fz_fail("%s: re-encoding a decoded %zu-byte payload gives "
		    "%zu different bytes", d->name, len, got - off);
	if (h) {
		const uint8_t *o = buf_head(&b);

		struct buf f;

		if (get_be16(o) != WIRE_MAGIC || o[2] != WIRE_VERSION_MAX ||
		    o[3] != 0 || get_be16(o + 4) != h->opcode ||
		    get_be32(o + 6) != h->request_id ||
		    get_be32(o + 10) != h->length)
			fz_fail("%s: re-encoded header differs", d->name);
		/* The same frame from the payload (wire_frame_append). */
		buf_init(&f);
		wire_frame_append(&f, h->opcode, h->request_id, in, len);
		if (buf_pending(&f) != got || memcmp(buf_head(&f), o, got) != 0)
			fz_fail("%s: wire_frame_append differs", d->name);
		buf_free(&f);
	}
	buf_free(&b);

	/* A frame means exactly one thing: no strict prefix decodes. */
	if (len > 0) {
		check_prefix(d, in, len - 1, len, msg);
		if (len / 2 != len - 1)
			check_prefix(d, in, len / 2, len, msg);
	}
	free(msg);
	free(in);
	return 1;
}

/* wire_peek_header on an exact-size copy of the first k bytes. */
static int
peek_prefix(const uint8_t *p, size_t k, uint32_t max, struct wire_header *h)
{
	uint8_t *cut = fz_dup(p, k);
	int rc = wire_peek_header(cut, k, max, h);

	free(cut);
	return rc;
}

size_t
fz_frames(const uint8_t *data, size_t size, uint32_t max_payload,
	  fz_port_fn *port_ok, fz_item_fn *item_fn, void *ud)
{
	static const size_t cuts[] = { 0, 1, 2, 3, 4, 13 };
	size_t off = 0, nframes = 0, i;

	while (off < size) {
		const uint8_t *p = data + off;
		size_t left = size - off, flen;
		struct wire_header h, h2;
		const struct wire_opdesc *d;
		int rc;

		memset(&h, 0, sizeof h);
		rc = wire_peek_header(p, left, max_payload, &h);
		if (wire_frame_strerror(rc)[0] == '\0')
			fz_fail("peek_header: no text for %d", rc);
		if (rc < 0) {
			/* Errors show within the header: the same verdict
			 * from its first bytes alone. */
			int rc2 = peek_prefix(p, left < WIRE_HEADER_SIZE ?
			    left : WIRE_HEADER_SIZE, max_payload, &h2);
			if (rc2 != rc)
				fz_fail("peek_header: %d on the stream, %d on "
				    "its header", rc, rc2);
			if (rc != WIRE_FRAME_BAD_MAGIC &&
			    rc != WIRE_FRAME_TOO_BIG &&
			    rc != WIRE_FRAME_BAD_VERSION)
				fz_fail("peek_header: unknown result %d", rc);
			if (rc == WIRE_FRAME_TOO_BIG &&
			    h.length <= max_payload)
				fz_fail("peek_header: TOO_BIG for %u <= %u",
				    h.length, max_payload);
			break;
		}
		if (rc == WIRE_FRAME_INCOMPLETE) {
			if (left >= WIRE_HEADER_SIZE &&
			    (h.length > max_payload ||
			    (size_t)h.length <= left - WIRE_HEADER_SIZE))
				fz_fail("peek_header: INCOMPLETE with "
				    "length %u and %zu bytes", h.length, left);
			break;
		}
		if (rc != WIRE_FRAME_OK)
			fz_fail("peek_header: unknown result %d", rc);
		flen = WIRE_HEADER_SIZE + (size_t)h.length;
		if (h.length > max_payload || flen > left ||
		    h.magic != WIRE_MAGIC || h.version < WIRE_VERSION_MIN ||
		    h.version > WIRE_VERSION_MAX ||
		    h.opcode != get_be16(p + 4) ||
		    h.request_id != get_be32(p + 6))
			fz_fail("peek_header: OK with a header that does not "
			    "match the bytes");
		/* Every strict prefix of a whole frame is INCOMPLETE. */
		for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
			if (peek_prefix(p, cuts[i], max_payload, &h2) !=
			    WIRE_FRAME_INCOMPLETE)
				fz_fail("peek_header: %zu-byte prefix of a "
				    "frame is not INCOMPLETE", cuts[i]);
		if (wire_peek_header(p, flen - 1, max_payload, &h2) !=
		    WIRE_FRAME_INCOMPLETE)
			fz_fail("peek_header: frame minus one byte is not "
			    "INCOMPLETE");

		d = wire_op(h.opcode);
		if (d != NULL && d->opcode != h.opcode)
			fz_fail("wire_op(0x%04x) gave %s", h.opcode, d->name);
		if (d != NULL && port_ok(d))
			fz_roundtrip(d, &h, p + WIRE_HEADER_SIZE, h.length,
			    item_fn, ud);
		nframes++;
		off += flen;
	}
	return nframes;
}
