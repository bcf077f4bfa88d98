/*
 * buf.h — a growable byte buffer with a read cursor.
 *
 * Used for connection input and output and for encoding frames. Bytes are
 * appended at the end and consumed from the front; buf_compact() moves the
 * unread part to the start when the consumed prefix grows large, so a
 * long-lived connection does not keep growing its allocation.
 *
 * Allocation failure is fatal (abort): a replica that cannot allocate a few
 * kilobytes cannot keep any of its promises, and every caller bounds what it
 * appends (frame limits, output caps) before calling here.
 */
#ifndef CHATD_BUF_H
#define CHATD_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t   start;		/* first unread byte */
	size_t   len;		/* end of valid bytes (>= start) */
	size_t   cap;
};

void     buf_init(struct buf *b);
void     buf_free(struct buf *b);
/* Make room for n more bytes at the end; returns a pointer to them. */
uint8_t *buf_reserve(struct buf *b, size_t n);
void     buf_append(struct buf *b, const void *p, size_t n);
/* Bytes waiting to be read. */
static inline size_t   buf_pending(const struct buf *b) { return b->len - b->start; }
static inline uint8_t *buf_head(const struct buf *b) { return b->data + b->start; }
/* Drop n bytes from the front (n <= buf_pending). */
void     buf_consume(struct buf *b, size_t n);
/* Move unread bytes to offset 0. */
void     buf_compact(struct buf *b);
void     buf_reset(struct buf *b);

/* Big-endian writers that append to the buffer. */
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);

/* Big-endian stores at a fixed position (for patching lengths). */
void put_be16(uint8_t *p, uint16_t v);
void put_be32(uint8_t *p, uint32_t v);
void put_be64(uint8_t *p, uint64_t v);
uint16_t get_be16(const uint8_t *p);
uint32_t get_be32(const uint8_t *p);
uint64_t get_be64(const uint8_t *p);

#endif
