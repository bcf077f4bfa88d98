/*
 * repl_admin.c — what an operator tool (tools/chatctl) may ask a replica
 * on the internal port, once it has proven it holds the cluster key
 * (HELLO kind 3 and AUTH, repl_link.c). Every request is answered with
 * the same request id, sealed like any internal frame:
 *
 *   ADMIN_STATUS   -> ADMIN_STATUS_INFO: this replica's STATUS_INFO and
 *                     every member as it sees them (links, ISR, and on
 *                     the primary how far each backup has acknowledged)
 *   MEMBER_CHANGE  -> ADMIN_REPLY once the change is committed (acked by
 *                     the whole ISR), or at once when refused; if this
 *                     replica stops leading first, an error says the
 *                     change may or may not have happened
 *   FORCE_PRIMARY  -> lift rule 4 (DESIGN.md §6) on this replica: it stands
 *                     for election without waiting for the ISR members it
 *                     cannot reach. ADMIN_REPLY once it leads, or after a
 *                     few election timeouts with what it is doing instead.
 *                     Only for a member of the newest ISR it knows, with
 *                     no primary around: rules 1-3 still hold, so a
 *                     fresher member that answers still wins or refuses.
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

/* Requests answered once their records commit. Few: operators are few. */
#define MAX_WAITS 16
static struct admin_wait {
	struct peer *op;		/* NULL: free slot */
	uint32_t     rid;
	int          force;		/* FORCE_PRIMARY, else MEMBER_CHANGE: */
	uint64_t     lsn;
	uint64_t     epoch;
	uint64_t     deadline;		/* FORCE_PRIMARY: mono ms */
	char         text[CHAT_MAX_ERRTEXT + 1];
} waits[MAX_WAITS];

static void
admin_reply(struct peer *op, uint32_t rid, uint16_t code, const char *text)
{
	struct wire_ADMIN_REPLY rep;

	memset(&rep, 0, sizeof rep);
	rep.code = code;
	snprintf(rep.text, sizeof rep.text, "%s", text);
	repl_send(op, WIRE_OP_ADMIN_REPLY, rid, &rep);
}

void
repl_admin_closed(struct peer *op)
{
	size_t i;

	for (i = 0; i < MAX_WAITS; i++)
		if (waits[i].op == op)
			waits[i].op = NULL;
}

static void
force_wait(struct repl *r, struct admin_wait *w)
{
	struct server *s = r->srv;
	char text[CHAT_MAX_ERRTEXT + 1];

	if (s->role == ROLE_PRIMARY && r->primary_since) {
		snprintf(text, sizeof text, "replica %u is primary of epoch "
		    "%llu (forced)", s->self->id, (unsigned long long)s->epoch);
		admin_reply(w->op, w->rid, 0, text);
		w->op = NULL;
	} else if (s->role == ROLE_BACKUP) {
		snprintf(text, sizeof text, "replica %u follows replica %u, "
		    "which won the election", s->self->id, s->primary_id);
		admin_reply(w->op, w->rid, 0, text);
		w->op = NULL;
	} else if (mono_ms() >= w->deadline) {
		snprintf(text, sizeof text, "replica %u is not primary yet: "
		    "%.150s", s->self->id, r->note);
		admin_reply(w->op, w->rid, WIRE_E_UNAVAILABLE, text);
		w->op = NULL;
	}
}

void
repl_admin_tick(struct repl *r)
{
	struct server *s = r->srv;
	size_t i;

	if (r->forced && (s->role == ROLE_BACKUP ||
	    (s->role == ROLE_PRIMARY && r->primary_since)))
		r->forced = 0;	/* it served its purpose */

	for (i = 0; i < MAX_WAITS; i++) {
		struct admin_wait *w = &waits[i];

		if (w->op == NULL)
			continue;
		if (w->force) {
			force_wait(r, w);
			continue;
		}
		if (s->role != ROLE_PRIMARY || s->epoch != w->epoch) {
			admin_reply(w->op, w->rid, WIRE_E_NOT_PRIMARY, "this "
			    "replica stopped leading before the change was "
			    "acknowledged: it may or may not have happened; "
			    "check chatctl status");
			w->op = NULL;
		} else if (r->commit_lsn >= w->lsn &&
		    server_committed_lsn(s) >= w->lsn) {
			admin_reply(w->op, w->rid, 0, w->text);
			w->op = NULL;
		}
	}
}

static struct admin_wait *
wait_slot(struct peer *op, uint32_t rid)
{
	size_t i;

	for (i = 0; i < MAX_WAITS; i++)
		if (waits[i].op == NULL) {
			memset(&waits[i], 0, sizeof waits[i]);
			return &waits[i];
		}
	admin_reply(op, rid, WIRE_E_TOO_MANY_REQUESTS, "too many operator "
	    "requests waiting");
	return NULL;
}

static void
force_primary(struct repl *r, struct peer *op, uint32_t rid,
	      const uint8_t *payload, size_t len)
{
	struct server *s = r->srv;
	struct wire_decode_error err;
	struct wire_FORCE_PRIMARY fp;
	struct admin_wait *w;
	char text[CHAT_MAX_ERRTEXT + 1];
	uint16_t code = WIRE_E_BAD_REQUEST;

	if (wire_decode(wire_op(WIRE_OP_FORCE_PRIMARY), payload, len, &fp,
	    &err) < 0) {
		admin_error(op, rid, err.code, WIRE_OP_FORCE_PRIMARY, err.text);
		return;
	}
	if (fp.id != s->self->id)
		snprintf(text, sizeof text, "this is replica %u, not %u",
		    s->self->id, fp.id);
	else if (r->removed)
		snprintf(text, sizeof text, "replica %u was removed from the "
		    "cluster", s->self->id);
	else if (s->role == ROLE_PRIMARY)
		snprintf(text, sizeof text, "replica %u is primary already",
		    s->self->id);
	else if (s->role == ROLE_BACKUP)
		snprintf(text, sizeof text, "replica %u follows primary %u: "
		    "there is nothing to force", s->self->id, s->primary_id);
	else if (!isr_has(&r->isr, s->self->id))
		snprintf(text, sizeof text, "replica %u is not in the newest "
		    "in-sync set it knows, so it may hold too little: force a "
		    "member of that set", s->self->id);
	else
		code = 0;
	if (code != 0) {
		admin_reply(op, rid, code, text);
		return;
	}
	if ((w = wait_slot(op, rid)) == NULL)
		return;
	log_warn("forced by an operator to stand for election without "
	    "waiting for replica %u: writes only that replica acknowledged "
	    "are lost", r->waiting_for);
	r->forced = 1;
	r->waiting_for = 0;
	snprintf(r->note, sizeof r->note, "forced by an operator: electing");
	w->op = op;
	w->rid = rid;
	w->force = 1;
	w->deadline = mono_ms() + 4ull * s->cfg->election_timeout_ms + 1000;
	repl_round_tick(r);
}

static void
member_change(struct repl *r, struct peer *op, uint32_t rid,
	      const uint8_t *payload, size_t len)
{
	struct wire_decode_error err;
	struct wire_MEMBER_CHANGE mc;
	char text[CHAT_MAX_ERRTEXT + 1];
	struct admin_wait *w;
	uint64_t lsn = 0;
	uint16_t code;

	if (wire_decode(wire_op(WIRE_OP_MEMBER_CHANGE), payload, len, &mc,
	    &err) < 0) {
		admin_error(op, rid, err.code, WIRE_OP_MEMBER_CHANGE, err.text);
		return;
	}
	if ((w = wait_slot(op, rid)) == NULL)
		return;
	code = repl_member_change(r, &mc, &lsn, text, sizeof text);
	if (code != 0) {
		admin_reply(op, rid, code, text);
		return;
	}
	w->op = op;
	w->rid = rid;
	w->lsn = lsn;
	w->epoch = r->srv->epoch;
	snprintf(w->text, sizeof w->text, "%s", text);
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
	if (id == r->srv->self->id) {
		m.link = 2;
	} else if (p) {
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
	for (i = 0; i < r->nmembers; i++) {
		const struct replica_addr *a = &r->members[i];

		add_member(&e, r, a->id, a->host, a->client_port,
		    a->internal_port, a->id == s->self->id ? NULL :
		    repl_peer(r, a->id));
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
	case WIRE_OP_MEMBER_CHANGE:
		member_change(r, op, h->request_id, payload, h->length);
		break;
	case WIRE_OP_FORCE_PRIMARY:
		force_primary(r, op, h->request_id, payload, h->length);
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
