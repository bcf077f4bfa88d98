/*
 * fuzz_client_frames.c — the client port's byte stream.
 *
 * The input is what a client sends: frames are taken with
 * wire_peek_header(WIRE_MAX_REQUEST), as net.c does for the client port,
 * until the stream ends or a framing error would close the connection.
 * Each whole frame whose opcode belongs to the client port (or both
 * ports) — requests, and the responses and pushes ./chat decodes — is
 * decoded into an exact-size heap struct; whatever decodes must re-encode
 * (wire_encode_begin/item/end) to exactly the input bytes, and whatever
 * does not must give an error the server can put in an ERROR frame. See
 * fuzz_util.c for the checks.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"
#include "wire.h"

static int
client_port(const struct wire_opdesc *d)
{
	return d->port == WIRE_PORT_BOTH || d->port == WIRE_PORT_CLIENT;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_frames(data, size, WIRE_MAX_REQUEST, client_port, NULL, NULL);
	return 0;
}
