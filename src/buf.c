/*
 * buf.c — growable byte buffer and big-endian helpers. See buf.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"

void
buf_init(struct buf *b)
{
	memset(b, 0, sizeof *b);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void
buf_reset(struct buf *b)
{
	b->start = b->len = 0;
}

void
buf_compact(struct buf *b)
{
	size_t n = buf_pending(b);

	if (b->start == 0)
		return;
	if (n > 0)
		memmove(b->data, b->data + b->start, n);
	b->start = 0;
	b->len = n;
}

uint8_t *
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	/* Reuse the consumed prefix before growing. */
	if (b->cap - b->len < n && b->start > 0)
		buf_compact(b);
	if (b->cap - b->len >= n)
		return b->data + b->len;
	if (n > SIZE_MAX / 2 - b->len) {
		fprintf(stderr, "buf: size overflow\n");
		abort();
	}
	need = b->len + n;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL) {
		fprintf(stderr, "buf: out of memory (%zu bytes)\n", cap);
		abort();
	}
	b->data = p;
	b->cap = cap;
	return b->data + b->len;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(buf_reserve(b, n), p, n);
	b->len += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > buf_pending(b))
		n = buf_pending(b);
	b->start += n;
	if (b->start == b->len)
		b->start = b->len = 0;
	else if (b->start > 65536 && b->start > b->len / 2)
		buf_compact(b);
}

void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

uint16_t
get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

uint64_t
get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

void
buf_put_u8(struct buf *b, uint8_t v)
{
	buf_append(b, &v, 1);
}

void
buf_put_u16(struct buf *b, uint16_t v)
{
	put_be16(buf_reserve(b, 2), v);
	b->len += 2;
}

void
buf_put_u32(struct buf *b, uint32_t v)
{
	put_be32(buf_reserve(b, 4), v);
	b->len += 4;
}

void
buf_put_u64(struct buf *b, uint64_t v)
{
	put_be64(buf_reserve(b, 8), v);
	b->len += 8;
}
