/*
 * wire.h — the chatd wire protocol: frame header, opcode table, codec.
 *
 * Every opcode, its fields and their limits are defined once, in
 * wire/wire.def. This header expands that table into:
 *   - enum wire_opcode (WIRE_OP_<NAME> = number),
 *   - one C struct per opcode, struct wire_<NAME>, whose members are the
 *     opcode's fields in order,
 *   - enum wire_errcode (WIRE_E_<NAME>),
 * and wire.c expands it into the descriptor tables the generic codec, the
 * log names, the fuzzer and the protocol documentation are driven by.
 *
 * Frame: a 14-byte big-endian header followed by the payload.
 *   offset 0  u16 magic        0x4344 ("CD")
 *   offset 2  u8  version      protocol version of this frame
 *   offset 3  u8  flags        0 (reserved; see PROTOCOL.md)
 *   offset 4  u16 opcode
 *   offset 6  u32 request_id   echoed by the response; 0 for pushes
 *   offset 10 u32 length       payload bytes that follow
 *
 * Field encodings (all integers big-endian):
 *   U8/U16/U32/U64  fixed width
 *   STR             u16 byte length, then that many bytes of UTF-8 with
 *                   no NUL; decoded into a NUL-terminated char array
 *   BYTES           u32 byte length, then the bytes (decoded as a pointer
 *                   into the frame, valid while the frame is)
 *   LIST            u16 item count, then the items, each encoded as the
 *                   fields of its item type; a LIST is always the last
 *                   field of its message
 */
#ifndef CHATD_WIRE_H
#define CHATD_WIRE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

#define WIRE_MAGIC          0x4344u
#define WIRE_VERSION_MIN    1
#define WIRE_VERSION_MAX    1
#define WIRE_HEADER_SIZE    14

/* Largest payload accepted (the frame limit). A peer that announces more
 * is disconnected: we never buffer what we would reject. The client port
 * is asymmetric: responses may list 100 messages of 4 KiB, requests are
 * small, so a server buffers at most WIRE_MAX_REQUEST per connection. */
#define WIRE_MAX_PAYLOAD_CLIENT   (512u * 1024u)	/* server -> client */
#define WIRE_MAX_REQUEST          (16u * 1024u)	/* client -> server */
#define WIRE_MAX_PAYLOAD_INTERNAL (2u * 1024u * 1024u)

/* Chat limits (also enforced by the table below, see wire.def). */
#define CHAT_MAX_USERNAME   32
#define CHAT_MAX_FULLNAME   50
#define CHAT_MAX_PASSWORD   128
#define CHAT_MAX_BODY       4096
#define CHAT_MAX_PATTERN    64
#define CHAT_TOKEN_BYTES    32
#define CHAT_MAX_PWHASH     128
#define CHAT_MAX_ERRTEXT    200
#define CHAT_MAX_HOST       255
#define CHAT_MAX_IDS        100	/* ids in one MARK_READ/DELETE */
#define CHAT_MAX_PAGE       100	/* items in one page/list response */
#define WIRE_MAX_RECORDS    512	/* records in one APPEND */
#define WIRE_MAX_RECORD     (16u * 1024u)	/* one record's payload */
#define WIRE_MAX_REPLY      (CHAT_MAX_PAGE * (CHAT_MAX_BODY + 128u))
#define WIRE_MAX_CHUNK      (256u * 1024u)	/* snapshot chunk */
#define WIRE_MAX_REPLICAS   16
#define WIRE_MAX_STATUS     1024	/* a STATUS_INFO payload, nested */

/* Header flags. */
#define WIRE_FLAG_MAC 0x01	/* internal port: the payload ends with a
				   16-byte MAC (PROTOCOL.md §8.1) */

struct wire_header {
	uint16_t magic;
	uint8_t  version;
	uint8_t  flags;
	uint16_t opcode;
	uint32_t request_id;
	uint32_t length;
};

/* Which port an opcode belongs to. */
enum wire_port {
	WIRE_PORT_BOTH     = 0,	/* HELLO, ERROR, PING, PONG */
	WIRE_PORT_CLIENT   = 1,
	WIRE_PORT_INTERNAL = 2,
	WIRE_PORT_RECORD   = 3,	/* log records: payload layouts only */
};

/* Direction on the wire. */
enum wire_dir {
	WIRE_DIR_ANY      = 0,	/* sent by either side */
	WIRE_DIR_REQUEST  = 1,	/* client -> server */
	WIRE_DIR_RESPONSE = 2,	/* server -> client, echoes request id */
	WIRE_DIR_PUSH     = 3,	/* server -> client, request id 0 */
	WIRE_DIR_PEER     = 4,	/* replica <-> replica */
	WIRE_DIR_LOG      = 5,	/* stored in the commit log */
};

/* Opcode flags. */
#define WIRE_F_AUTH     0x01	/* needs a logged-in session */
#define WIRE_F_MUTATES  0x02	/* makes a log record; carries client_id, seq */
#define WIRE_F_ANY      0x04	/* answered by any replica, not only primary */

enum wire_type { WT_U8, WT_U16, WT_U32, WT_U64, WT_STR, WT_BYTES, WT_LIST };

struct wire_bytes { const uint8_t *ptr; uint32_t len; };
struct wire_list  { const uint8_t *ptr; uint32_t len; uint16_t count; };

#include "../wire/wire.def"

/* ---- generated C types ------------------------------------------------ */

#define WIRE_CTYPE_U8(n, max)    uint8_t n;
#define WIRE_CTYPE_U16(n, max)   uint16_t n;
#define WIRE_CTYPE_U32(n, max)   uint32_t n;
#define WIRE_CTYPE_U64(n, max)   uint64_t n;
#define WIRE_CTYPE_STR(n, max)   char n[(max) + 1];
#define WIRE_CTYPE_BYTES(n, max) struct wire_bytes n;
#define WIRE_CTYPE_LIST(n, max)  struct wire_list n;
#define WIRE_MEMBER(S, T, n, lo, hi, sub, doc) WIRE_CTYPE_##T(n, hi)

#define WIRE_DECL_ITEM(NAME, doc) \
	struct wire_item_##NAME { char _unused; WIRE_ITEM_##NAME(WIRE_MEMBER, _) };
WIRE_ITEMS(WIRE_DECL_ITEM)
#define WIRE_DECL_MSG(NAME, num, port, dir, flags, doc) \
	struct wire_##NAME { char _unused; WIRE_FIELDS_##NAME(WIRE_MEMBER, _) };
WIRE_OPS(WIRE_DECL_MSG)

enum wire_opcode {
#define WIRE_ENUM_OP(NAME, num, port, dir, flags, doc) WIRE_OP_##NAME = num,
	WIRE_OPS(WIRE_ENUM_OP)
};

enum wire_errcode {
#define WIRE_ENUM_ERR(NAME, num, doc) WIRE_E_##NAME = num,
	WIRE_ERRORS(WIRE_ENUM_ERR)
};

/* ---- descriptors ------------------------------------------------------ */

struct wire_struct;

struct wire_field {
	enum wire_type type;
	const char    *name;
	uint64_t       min, max;	/* STR/BYTES: length; LIST: count;
					   integers: value range */
	size_t         offset;
	const struct wire_struct *item;	/* LIST only */
	const char    *doc;
};

struct wire_struct {
	const char              *name;
	const struct wire_field *fields;
	unsigned                 nfields;
	size_t                   size;	/* sizeof the C struct */
	uint64_t                 max_encoded;	/* largest valid encoding */
};

struct wire_opdesc {
	uint16_t           opcode;
	const char        *name;
	enum wire_port     port;
	enum wire_dir      dir;
	unsigned           flags;
	const char        *doc;
	struct wire_struct body;
};

struct wire_errdesc { uint16_t code; const char *name; const char *doc; };

/* All opcodes in table order, and how many. */
extern const struct wire_opdesc wire_ops[];
extern const unsigned wire_nops;
extern const struct wire_struct wire_items[];
extern const unsigned wire_nitems;
extern const struct wire_errdesc wire_errors[];
extern const unsigned wire_nerrors;

const struct wire_opdesc *wire_op(uint16_t opcode);	/* NULL: unknown */
const char *wire_op_name(uint16_t opcode);		/* "0x1234" if unknown */
const char *wire_err_name(uint16_t code);		/* "E1234" if unknown */
/* The struct's LIST field (a list is always the last field), or NULL. */
const struct wire_field *wire_list_field(const struct wire_struct *s);
/* The most payload an opcode may carry where it travels: client requests
 * WIRE_MAX_REQUEST, the rest of the client port WIRE_MAX_PAYLOAD_CLIENT,
 * the internal port WIRE_MAX_PAYLOAD_INTERNAL, log records
 * WIRE_MAX_RECORD, both ports the smallest (WIRE_MAX_REQUEST). */
size_t wire_payload_limit(const struct wire_opdesc *d);

/* ---- framing ---------------------------------------------------------- */

/* Result of wire_peek_header. */
enum wire_frame {
	WIRE_FRAME_OK         = 0,	/* a whole frame is in the buffer */
	WIRE_FRAME_INCOMPLETE = 1,	/* need more bytes */
	WIRE_FRAME_BAD_MAGIC  = -1,	/* not our protocol: close */
	WIRE_FRAME_TOO_BIG    = -2,	/* length over the limit: close */
	WIRE_FRAME_BAD_VERSION = -3,	/* version we do not speak: close */
};

/*
 * Look at the start of buf. Fills *h as soon as the header is complete
 * (even when the payload is not). Errors are reported as soon as the bytes
 * that show them have arrived.
 */
int wire_peek_header(const uint8_t *buf, size_t len, uint32_t max_payload,
		     struct wire_header *h);
const char *wire_frame_strerror(int rc);
/* HELLO: the version to use with a peer that speaks their_min..their_max
 * (the highest both speak), or 0 when there is none in common. */
unsigned wire_version_choose(unsigned their_min, unsigned their_max);
/* STATUS_INFO's role field as a word ("primary"); "unknown" if out of
 * range. */
const char *wire_role_name(unsigned role);

/* ---- decoding --------------------------------------------------------- */

/* Why a payload did not decode. */
struct wire_decode_error {
	uint16_t    code;	/* WIRE_E_BAD_FIELD, WIRE_E_TOO_LONG, ... */
	const char *field;	/* the offending field's name, or NULL */
	char        text[96];	/* human-readable, for the ERROR frame */
};

/*
 * Decode a payload into the struct for d (out must point to a struct
 * wire_<NAME>, or any object of d->body.size bytes). Every length and count
 * is checked against the buffer and the field's limits, strings are
 * checked for valid UTF-8 and no NUL, and trailing bytes are an error.
 * Returns 0, or -1 with *err filled.
 */
int wire_decode(const struct wire_opdesc *d, const uint8_t *payload,
		size_t len, void *out, struct wire_decode_error *err);
int wire_decode_struct(const struct wire_struct *s, const uint8_t *payload,
		       size_t len, void *out, struct wire_decode_error *err);

/* Iterate a decoded LIST (already validated by wire_decode). */
struct wire_list_iter {
	const struct wire_struct *item;
	const uint8_t *p, *end;
	uint16_t left;
};
void wire_list_begin(struct wire_list_iter *it, const struct wire_opdesc *d,
		     const struct wire_list *l);
/* Decode the next item into out (a struct wire_item_<NAME>); 1 if an item
 * was produced, 0 at the end. */
int  wire_list_next(struct wire_list_iter *it, void *out);

/* ---- encoding --------------------------------------------------------- */

/*
 * Encoding appends to a struct buf. Strings are taken up to their NUL;
 * every value must be within its field's limits — the caller guarantees
 * that (a violation is a bug in the caller, not bad input, and aborts with
 * a message naming the field).
 *
 * A message with a LIST is written in three steps: begin (the fields
 * before the list, and a zero count), one call per item, end (patches the
 * count and the frame length). The list member of msg is ignored.
 */
struct wire_enc {
	struct buf               *out;
	const struct wire_struct *body;
	size_t                    start;	/* frame (or payload) start,
						   relative to out->start */
	size_t                    count_pos;	/* list count (if body has a
						   list), relative like start */
	uint16_t                  count;
	int                       has_header;
};

void wire_encode_begin(struct wire_enc *e, struct buf *out, uint16_t op,
		       uint32_t request_id, const void *msg);
/* Same, but only a payload (no header): log records, RECORD items. */
void wire_payload_begin(struct wire_enc *e, struct buf *out,
			const struct wire_struct *s, const void *msg);
void wire_encode_item(struct wire_enc *e, const void *item);
/* Bytes written so far for this frame or payload. */
size_t wire_enc_size(const struct wire_enc *e);
void wire_encode_end(struct wire_enc *e);

/* Overwrite the integer field `field` of the message being encoded, after
 * the fact (a "more" flag or a total known only once the list is written).
 * It and every field before it must be fixed-width, and v in its range;
 * anything else aborts (a bug in the caller). */
void wire_encode_set(struct wire_enc *e, const char *field, uint64_t v);

/* Whole frame / payload without list items. */
void wire_encode(struct buf *out, uint16_t op, uint32_t request_id,
		 const void *msg);
void wire_encode_payload(struct buf *out, const struct wire_struct *s,
			 const void *msg);

/* Append a frame whose payload is already encoded. */
void wire_frame_append(struct buf *out, uint16_t op, uint32_t request_id,
		       const uint8_t *payload, size_t len);

/* Fill an ERROR message: printf-style text, cut to the field's limit on a
 * character boundary. */
void wire_error_vfill(struct wire_ERROR *m, uint16_t code, uint16_t about_op,
		      const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* An ERROR frame with printf-style text. */
void wire_encode_error(struct buf *out, uint32_t request_id, uint16_t code,
		       uint16_t about_op, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* UTF-8 validity (no overlongs, no surrogates, <= U+10FFFF) and no NUL. */
int wire_utf8_valid(const uint8_t *p, size_t n);

#endif
