/*
 * oplink.h — the operator tool's end of an internal-port connection
 * (PROTOCOL.md §8.1 with HELLO kind 3 and replica_id 0): blocking, one
 * request at a time, every step bounded by a deadline. Used by
 * tools/chatctl and the tests; replicas use repl_link.c instead.
 */
#ifndef CHATD_OPLINK_H
#define CHATD_OPLINK_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "wire.h"

struct oplink {
	int                fd;
	uint32_t           replica_id;	/* who answered the HELLO */
	uint8_t            session_key[32];
	uint64_t           send_seq, recv_seq;
	uint32_t           next_rid;
	unsigned           timeout_ms;	/* per call */
	struct wire_header h;		/* the last frame received, its */
	struct buf         payload;	/* MAC stripped */
};

/*
 * Connect to host:port, do HELLO and AUTH with the cluster key (both sides
 * prove they hold it). 0, or -1 with err filled (refused, timed out, the
 * replica's ERROR text, or a replica whose proof is wrong).
 */
int  oplink_open(struct oplink *l, const char *host, uint16_t port,
		 const uint8_t key[32], unsigned timeout_ms, char *err,
		 size_t errlen);
/*
 * Send a sealed request (msg: the struct of op) and wait for the sealed
 * answer with its request id: l->h and l->payload. 0 (the answer may be
 * ERROR: see oplink_error), or -1 with err filled; the link is then
 * unusable.
 */
int  oplink_call(struct oplink *l, uint16_t op, const void *msg, char *err,
		 size_t errlen);
/* If the last answer is ERROR: its code, with "NAME: text" in err. Else 0. */
int  oplink_error(const struct oplink *l, char *err, size_t errlen);
void oplink_close(struct oplink *l);

#endif
