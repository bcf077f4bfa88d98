/*
 * repl_admin.c — what an operator tool (tools/chatctl) may ask a replica
 * on the internal port, once it has proven it holds the cluster key
 * (HELLO kind 3 and AUTH, repl_link.c). Every request is answered with
 * the same request id, sealed like any internal frame:
 *
 *   ADMIN_STATUS   -> ADMIN_STATUS_INFO: this replica's STATUS_INFO and
 *                     every member as it sees them (links, ISR, and on
 *                     the primary how far each backup has acknowledged)
 *
 * Anything else gets ERROR WRONG_PORT: an operator is not a replica.
 */
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "repl.h"
#include "server.h"

static void
admin_error(struct peer *op, uint32_t rid, uint16_t code, uint16_t about,
	    const char *text)
{
	size_t mark;

	if (op->conn == NULL || conn_is_closing(op->conn))
		return;
	mark = repl_frame_mark(op);
	wire_encode_error(conn_outbuf(op->conn), rid, code, about, "%s", text);
	repl_seal(op, mark);
}

static void
add_member(struct wire_enc *e, const struct repl *r, uint32_t id,
	   const char *host, uint16_t cport, uint16_t iport,
	   const struct peer *p)
{
	struct wire_item_PEER m;

	memset(&m, 0, sizeof m);
	m.id = id;
	snprintf(m.host, sizeof m.host, "%s", host);
	m.client_port = cport;
	m.internal_port = iport;
	m.in_isr = isr_has(&r->isr, id) ? 1 : 0;
	if (p == NULL) {
		m.link = 2;
	} else {
		m.link = p->state == LINK_UP ? 1 : 0;
		if (r->srv->role == ROLE_PRIMARY) {
			m.shipping = p->snap_out ? 2 : p->shipping ? 1 : 0;
			m.acked_lsn = p->acked_lsn;
		}
	}
	wire_encode_item(e, &m);
}

static void
admin_status(struct repl *r, struct peer *op, uint32_t rid)
{
	static struct buf status;
	struct server *s = r->srv;
	struct wire_ADMIN_STATUS_INFO info;
	struct wire_enc e;
	size_t i, mark;

	buf_reset(&status);
	server_status_encode(s, &status);
	memset(&info, 0, sizeof info);
	info.status.ptr = buf_head(&status);
	info.status.len = (uint32_t)buf_pending(&status);
	mark = repl_frame_mark(op);
	wire_encode_begin(&e, conn_outbuf(op->conn),
	    WIRE_OP_ADMIN_STATUS_INFO, rid, &info);
	add_member(&e, r, s->self->id, s->self->host, s->self->client_port,
	    s->self->internal_port, NULL);
	for (i = 0; i < r->npeers; i++) {
		const struct peer *p = &r->peers[i];

		add_member(&e, r, p->id, p->host, p->client_port,
		    p->internal_port, p);
	}
	wire_encode_end(&e);
	repl_seal(op, mark);
}

void
repl_admin_dispatch(struct repl *r, struct peer *op,
		    const struct wire_header *h, const uint8_t *payload)
{
	switch (h->opcode) {
	case WIRE_OP_ADMIN_STATUS:
		admin_status(r, op, h->request_id);
		break;
	case WIRE_OP_PING: {
		struct wire_PONG pong;

		if (wire_decode(wire_op(WIRE_OP_PING), payload, h->length,
		    &pong, NULL) == 0)
			repl_send(op, WIRE_OP_PONG, h->request_id, &pong);
		break;
	}
	default:
		admin_error(op, h->request_id, WIRE_E_WRONG_PORT, h->opcode,
		    "not an operator request");
		break;
	}
}
