/*
 * fuzz.h — shared pieces of the libFuzzer harnesses in tests/fuzz/.
 *
 * Every harness defines LLVMFuzzerTestOneInput and is built twice by the
 * Makefile (see the "fuzzing" block):
 *   - with clang -fsanitize=fuzzer,address,undefined (make fuzz), the
 *     libFuzzer driver providing main();
 *   - with cc -fsanitize=address,undefined and tests/fuzz/standalone.c
 *     providing main() (make fuzz-regress), which replays corpus and
 *     regression files without clang.
 *
 * A harness reports a broken property with fz_fail(), which prints the
 * message and aborts, so both builds stop on it with a stack trace.
 */
#ifndef CHATD_FUZZ_H
#define CHATD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the harness checks does not hold: message, then abort(). */
void fz_fail(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));

/* An exact-size heap copy of p[0..n) (never NULL; n == 0 gives a block
 * with no usable bytes), so ASan flags any read past n. free() it. */
uint8_t *fz_dup(const void *p, size_t n);
/* malloc that never returns NULL (aborts instead). */
void *fz_malloc(size_t n);

/* The descriptor of list item `name` in wire_items[] (aborts if absent). */
const struct wire_struct *fz_item(const char *name);

/* Called with each decoded list item during a round trip. */
typedef void fz_item_fn(void *ud, const struct wire_struct *item,
			const void *value);

/*
 * Decode payload[0..len) as the body of d (from an exact-size copy, into
 * an exact-size heap struct). If it decodes: re-encode it — a whole frame
 * with h's request id when h != NULL, else a bare payload — iterating the
 * list with wire_list_begin/next, and abort unless the bytes are exactly
 * the input (the codec is canonical); also every strict prefix tried must
 * fail to decode. If it does not decode: the error must be well formed
 * and usable in an ERROR frame. Returns 1 if it decoded, 0 if not.
 */
int fz_roundtrip(const struct wire_opdesc *d, const struct wire_header *h,
		 const uint8_t *payload, size_t len, fz_item_fn *item_fn,
		 void *ud);

/* Which opcodes a port decodes. */
typedef int fz_port_fn(const struct wire_opdesc *d);

/*
 * Treat data as the bytes arriving on a connection: take whole frames
 * with wire_peek_header(max_payload) until the stream ends, is
 * incomplete or a framing error closes it; round-trip each frame whose
 * opcode port_ok accepts. Checks wire_peek_header's own contract on the
 * way (prefixes of a frame are INCOMPLETE, errors show in the header).
 * Returns the number of whole frames seen.
 */
size_t fz_frames(const uint8_t *data, size_t size, uint32_t max_payload,
		 fz_port_fn *port_ok, fz_item_fn *item_fn, void *ud);

#endif
