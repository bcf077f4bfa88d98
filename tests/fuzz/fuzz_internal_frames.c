/*
 * fuzz_internal_frames.c — the internal (replica) port's byte stream.
 *
 * As fuzz_client_frames, with WIRE_MAX_PAYLOAD_INTERNAL and the opcodes of
 * the internal port (and both ports). Inside an APPEND every RECORD item
 * is taken apart as a backup does: its payload is decoded with its record
 * type's descriptor (0x03xx) and its stored reply with reply_op's, and
 * whatever decodes must re-encode (as a bare payload) to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"
#include "wire.h"

static const struct wire_struct *record_item;

static int
internal_port(const struct wire_opdesc *d)
{
	return d->port == WIRE_PORT_BOTH || d->port == WIRE_PORT_INTERNAL;
}

/* One RECORD of an APPEND (other list items: nothing more to do). */
static void
on_item(void *ud, const struct wire_struct *item, const void *value)
{
	const struct wire_item_RECORD *r = value;
	const struct wire_opdesc *d;

	(void)ud;
	if (item != record_item)
		return;
	d = wire_op(r->type);
	if (d != NULL && d->port == WIRE_PORT_RECORD)
		fz_roundtrip(d, NULL, r->payload.ptr, r->payload.len, NULL,
		    NULL);
	d = r->reply_op ? wire_op(r->reply_op) : NULL;
	if (d != NULL)
		fz_roundtrip(d, NULL, r->reply.ptr, r->reply.len, NULL, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (record_item == NULL)
		record_item = fz_item("RECORD");
	fz_frames(data, size, WIRE_MAX_PAYLOAD_INTERNAL, internal_port,
	    on_item, NULL);
	return 0;
}
