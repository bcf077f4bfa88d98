/*
 * chatbench_fo_conn.c — one connection of the failover writer (and the
 * verification connection, fo->vc, which only logs in and FETCHes).
 *
 * Its life (enum fo_cstate):
 *   SEARCH -> CONNECTING -> HELLO -> [REGISTER_S -> REGISTER_R ->] LOGIN
 *          or RESUME -> READY -> (given up: fo_drop) -> SEARCH ...
 * The REGISTERs are the first set-up's, on connection 0: the sender, then
 * the recipient. The other connections, and every one after a failover,
 * RESUME the sender's token (LOGIN again on BAD_TOKEN); the verification
 * connection LOGINs as the recipient, then FETCHes (FETCH -> DONE).
 *
 * Set-up requests have the high bit of the request id set (FO_RID_SETUP);
 * SEND k goes as request id k + 1 with the (client_id, seq) it first got,
 * whichever connection generation sends it again. Everything done per
 * SEND and per answer is in this file.
 */
#include <inttypes.h>
#include "chatbench_fo.h"

/* The request each set-up state waits for the answer to. */
static const uint16_t asks[] = {
	[FC_HELLO] = WIRE_OP_HELLO,
	[FC_REGISTER_S] = WIRE_OP_REGISTER,
	[FC_REGISTER_R] = WIRE_OP_REGISTER,
	[FC_LOGIN] = WIRE_OP_LOGIN,
	[FC_RESUME] = WIRE_OP_RESUME,
	[FC_FETCH] = WIRE_OP_FETCH,
	[FC_DONE] = 0,
};

static const struct conn_ops fo_conn_ops;

static uint32_t
fo_setup_id(struct fo_conn *fc)
{
	fc->srid = (fc->srid + 1) & 0x7FFFFFFFu;
	if (fc->srid == 0)
		fc->srid = 1;
	return FO_RID_SETUP | fc->srid;
}

/* ---- SENDs -------------------------------------------------------------- */

static struct fo_cycle *
fo_cycle_of(struct fo_conn *fc)
{
	return fc->cycle >= 0 ? &fc->f->cycles[fc->cycle] : NULL;
}

static void
fo_send_msg(struct fo_conn *fc, uint64_t k, uint64_t now)
{
	struct fo *f = fc->f;
	struct fo_msg *m = &f->msgs[k];
	struct fo_cycle *cy = fo_cycle_of(fc);

	if (m->seq == 0)
		m->seq = ++fc->seq;
	if (m->sends > 0) {
		f->resent++;
		if (cy)
			cy->resent++;
	}
	if (m->sends < 255)
		m->sends++;
	m->gen = fc->gen;
	f->send.client_id = fc->client_id;
	f->send.seq = m->seq;
	snprintf(f->send.body, sizeof f->send.body, "fo-%" PRIu64, k);
	if (fc->inflight == 0 && now > fc->quiet_since)
		fc->quiet_since = now;
	send_req(fc->c, (uint32_t)(k + 1), WIRE_OP_SEND, &f->send);
	fc->inflight++;
	f->sent++;
}

static void
fo_advance_lo(struct fo_conn *fc)
{
	struct fo *f = fc->f;

	while (fc->lo < fc->due_i) {
		uint8_t s = f->msgs[fc->idx + fc->lo * f->n].state;

		if (s != FM_ACKED && s != FM_FAILED)
			break;
		fc->lo++;
	}
}

void
fo_pump(struct fo_conn *fc, uint64_t now)
{
	struct fo *f = fc->f;

	if (fc->st != FC_READY || fc->verify)
		return;
	while (fc->inflight < f->window && fc->next_i < fc->due_i) {
		uint64_t k = fc->idx + fc->next_i * f->n;

		fc->next_i++;
		if (f->msgs[k].state != FM_PENDING || f->msgs[k].gen == fc->gen)
			continue;
		fo_send_msg(fc, k, now);
	}
}

/* ---- giving a replica up; the next one ---------------------------------- */

/*
 * Give the replica up: close, and look for the primary anew (or go to
 * hint, a replica index from a REDIRECT, or -1). Whatever was in flight
 * is sent again on the next connection.
 */
void
fo_drop(struct fo_conn *fc, const char *why, int hint)
{
	struct fo *f = fc->f;
	uint64_t now = now_ns();
	int was_ready = fc->st == FC_READY;
	struct fo_cycle *cy;

	cb_conn_drop(&fc->c, why);
	if (fc->st == FC_IDLE || fc->st == FC_DONE)
		return;
	if (f->phase == PH_SETUP && !fc->verify) {
		if (!f->setup_failed)
			snprintf(f->fail_msg, sizeof f->fail_msg, "set-up failed "
			    "on connection %u (replica %u): %s", fc->idx,
			    (unsigned)fc->replica_id, why);
		f->setup_failed = 1;
		fc->st = FC_IDLE;
		return;
	}
	fo_event(f, "%s %u: %s; looking for the primary", fc->verify ?
	    "verification connection" : "connection", fc->idx, why);
	if (was_ready && !fc->verify) {
		f->reconnects++;
		if (fc->cycle < 0 && f->ncycles < FO_MAX_CYCLES) {
			fc->cycle = (int)f->ncycles++;
			cy = &f->cycles[fc->cycle];
			memset(cy, 0, sizeof *cy);
			cy->conn = fc->idx;
			cy->from_replica = fc->replica_id;
			cy->last_ack = fc->last_ack;
			cy->stalled = fc->stall_since;
			cy->lost = now;
			snprintf(cy->why, sizeof cy->why, "%s", why);
		}
	}
	fc->inflight = 0;
	fc->stall_since = 0;
	fc->st = FC_SEARCH;
	fc->lost_at = now;
	fc->hint = hint;
	fo_evaluate(f, now);
}

void
fo_connect(struct fo_conn *fc, unsigned ri, uint64_t now)
{
	struct fo *f = fc->f;
	const struct replica_addr *r = &f->b->cfg.replicas[ri];
	const struct fo_probe *p = &f->probes[ri];
	struct fo_cycle *cy = fo_cycle_of(fc);
	char err[300];

	fc->gen++;
	fc->ri = ri;
	fc->replica_id = r->id;
	fc->epoch = p->answered && p->role == 1 ? p->epoch : 0;
	fc->inflight = 0;
	fc->next_i = fc->lo;
	fc->stall_since = 0;
	fc->hint = -1;
	fc->st = FC_CONNECTING;
	if (cy) {
		cy->found = now;
		cy->to_replica = r->id;
		cy->to_epoch = fc->epoch;
		cy->attempts++;
	}
	if (f->phase != PH_SETUP || fc->verify)
		fo_event(f, "%s %u: connecting to replica %u (%s)",
		    fc->verify ? "verification connection" : "connection",
		    fc->idx, (unsigned)r->id, p->what[0] ? p->what : "?");
	fc->c = loop_connect(f->b->l, r->host, r->client_port, &fo_conn_ops,
	    fc, WIRE_MAX_PAYLOAD_CLIENT, err, sizeof err);
	if (fc->c == NULL) {
		fc->st = FC_SEARCH;
		fc->lost_at = now;
	}
}

/* Connections that need a primary get one; silent ones may switch. */
void
fo_evaluate(struct fo *f, uint64_t now)
{
	unsigned i;
	int best;

	for (i = 0; i <= f->n; i++) {
		struct fo_conn *fc = i < f->n ? &f->conns[i] : &f->vc;

		if (fc->st == FC_SEARCH) {
			if (fc->hint >= 0) {
				fo_connect(fc, (unsigned)fc->hint, now);
				continue;
			}
			best = fo_choose(f, fc->lost_at);
			if (best >= 0)
				fo_connect(fc, (unsigned)best, now);
		} else if (fc->st == FC_READY && fc->stall_since) {
			const struct fo_probe *own = &f->probes[fc->ri];
			char why[200];

			best = fo_choose(f, fc->stall_since);
			if (best >= 0 && (unsigned)best != fc->ri &&
			    f->probes[best].epoch > fc->epoch) {
				snprintf(why, sizeof why, "replica %u silent "
				    "for %.1f ms with %u in flight; replica %u "
				    "is primary of epoch %" PRIu64,
				    (unsigned)fc->replica_id,
				    (double)(now - fc->quiet_since) / 1e6,
				    fc->inflight,
				    (unsigned)fo_rid_replica(f, (unsigned)best),
				    f->probes[best].epoch);
				fo_drop(fc, why, best);
			} else if (own->at > fc->stall_since && own->answered &&
			    own->role == 1 && own->epoch >= fc->epoch) {
				/* It answers STATUS as primary: only slow. */
				fc->stall_since = 0;
				fc->quiet_since = now;
			}
		}
	}
}

/* ---- set-up ------------------------------------------------------------- */

/* REGISTER or LOGIN (op) of user; st: the state that waits for its
 * answer. */
static void
fo_send_account(struct fo_conn *fc, uint16_t op, const char *user,
		enum fo_cstate st)
{
	fc->setup_rid = cb_send_account(fc->c, fo_setup_id(fc), op,
	    fc->client_id, ++fc->seq, user, fc->f->password);
	fc->st = st;
}

static void
fo_send_login(struct fo_conn *fc, const char *user)
{
	fo_send_account(fc, WIRE_OP_LOGIN, user, FC_LOGIN);
}

static void
fo_send_resume(struct fo_conn *fc)
{
	fc->setup_rid = cb_send_resume(fc->c, fo_setup_id(fc), fc->f->token);
	fc->st = FC_RESUME;
}

static void
fo_send_fetch(struct fo_conn *fc)
{
	struct wire_FETCH m;

	memset(&m, 0, sizeof m);
	m.after_id = fc->after_id;
	m.max = CHAT_MAX_PAGE;
	fc->setup_rid = send_req(fc->c, fo_setup_id(fc), WIRE_OP_FETCH, &m);
	fc->st = FC_FETCH;
}

static void
fo_ready(struct fo_conn *fc, uint64_t now)
{
	struct fo *f = fc->f;
	struct fo_cycle *cy = fo_cycle_of(fc);
	unsigned i;

	fc->st = FC_READY;
	fc->quiet_since = now;
	if (f->phase == PH_SETUP) {
		if (fc->idx == 0) {
			f->first_primary = fc->replica_id;
			f->first_epoch = fc->epoch;
			for (i = 1; i < f->n; i++)
				fo_connect(&f->conns[i], fc->ri, now);
		}
		return;
	}
	if (cy)
		cy->session = now;
	{
		uint64_t j, waiting = 0, before = 0;

		for (j = fc->lo; j < fc->due_i; j++) {
			const struct fo_msg *m = &f->msgs[fc->idx + j * f->n];

			if (m->state != FM_PENDING)
				continue;
			waiting++;
			before += m->sends > 0;
		}
		fo_event(f, "connection %u: session on replica %u; %" PRIu64
		    " SENDs unanswered, %" PRIu64 " of them sent before",
		    fc->idx, (unsigned)fc->replica_id, waiting, before);
	}
	fo_pump(fc, now);
}


/* REDIRECT or NO_PRIMARY (op) answered a request: none had an effect;
 * look for the primary (at once where a REDIRECT says it is). */
static void
fo_moved(struct fo_conn *fc, uint16_t op, const union reply *m)
{
	struct fo *f = fc->f;
	char why[300];
	unsigned i;
	int hint = -1;

	if (op == WIRE_OP_NO_PRIMARY) {
		f->no_primary++;
		snprintf(why, sizeof why, "NO_PRIMARY: %.200s",
		    m->no_primary.reason);
		fo_drop(fc, why, -1);
		return;
	}
	f->redirects++;
	for (i = 0; i < f->b->cfg.nreplicas; i++)
		if (f->b->cfg.replicas[i].client_port == m->redirect.port &&
		    strcmp(f->b->cfg.replicas[i].host, m->redirect.host) == 0)
			hint = (int)i;
	snprintf(why, sizeof why, "%s answered REDIRECT to replica %u",
	    wire_op_name(op), (unsigned)m->redirect.primary_id);
	fo_drop(fc, why, hint);
}

/* The next set-up step after the answer its state asked for. */
static void
fo_setup_next(struct fo_conn *fc, const union reply *m, uint64_t now)
{
	struct fo *f = fc->f;

	switch (fc->st) {
	case FC_HELLO:
		if (fc->verify)
			fo_send_login(fc, f->recipient);
		else if (f->phase == PH_SETUP && fc->idx == 0)
			fo_send_account(fc, WIRE_OP_REGISTER, f->sender,
			    FC_REGISTER_S);
		else if (f->have_token)
			fo_send_resume(fc);
		else
			fo_send_login(fc, f->sender);
		return;
	case FC_REGISTER_S:
		fo_send_account(fc, WIRE_OP_REGISTER, f->recipient,
		    FC_REGISTER_R);
		return;
	case FC_REGISTER_R:
		fo_send_login(fc, f->sender);
		return;
	case FC_LOGIN:
	case FC_RESUME:
		if (fc->verify) {
			f->verify_replica = fc->replica_id;
			fo_send_fetch(fc);
			return;
		}
		if (fc->st == FC_LOGIN) {
			memcpy(f->token, m->session.token.ptr, CHAT_TOKEN_BYTES);
			f->have_token = 1;
		}
		fo_ready(fc, now);
		return;
	default:	/* FC_FETCH */
		fo_count_page(f, &m->messages);
		if (m->messages.more)
			fo_send_fetch(fc);
		else
			fc->st = FC_DONE;
		return;
	}
}

/* An answer with the set-up bit in its request id. */
static void
fo_setup_answer(struct fo_conn *fc, const struct wire_header *h,
		const union reply *m, uint64_t now)
{
	struct fo *f = fc->f;
	char why[300];
	unsigned code;

	switch (cb_setup_outcome(fc->setup_rid, asks[fc->st], h, m)) {
	case SETUP_STRAY:
		f->stray++;
		return;
	case SETUP_MOVED:
		fo_moved(fc, h->opcode, m);
		return;
	case SETUP_ERROR:
		if (fc->st == FC_RESUME && m->error.code == WIRE_E_BAD_TOKEN) {
			fo_event(f, "connection %u: RESUME says BAD_TOKEN; "
			    "LOGIN again", fc->idx);
			f->have_token = 0;
			fo_send_login(fc, f->sender);
			return;
		}
		code = m->error.code < NERRCODES ? m->error.code : 0;
		f->retried[code]++;
		snprintf(why, sizeof why, "set-up request answered %s: %.150s",
		    wire_err_name(m->error.code), m->error.text);
		fo_drop(fc, why, -1);
		return;
	case SETUP_OK:
		fo_setup_next(fc, m, now);
		return;
	case SETUP_UNEXPECTED:
		break;
	}
	snprintf(why, sizeof why, "unexpected %s during set-up",
	    wire_op_name(h->opcode));
	f->stray++;
	fo_drop(fc, why, -1);
}

/* ---- answers ------------------------------------------------------------ */

static void
fo_send_answer(struct fo_conn *fc, const struct wire_header *h,
	       const union reply *m, uint64_t now)
{
	struct fo *f = fc->f;
	uint64_t k = (uint64_t)h->request_id - 1;
	struct fo_msg *msg;
	struct fo_cycle *cy;
	char why[300];
	unsigned code;

	if (k >= f->total || k % f->n != fc->idx ||
	    f->msgs[k].gen != fc->gen || f->msgs[k].state != FM_PENDING) {
		f->stray++;
		return;
	}
	msg = &f->msgs[k];
	switch (h->opcode) {
	case WIRE_OP_SENT:
		msg->state = FM_ACKED;
		msg->id = m->sent.id;
		f->acks[f->nacks++] = now;
		f->acked++;
		fc->inflight--;
		fc->last_ack = now;
		cy = fo_cycle_of(fc);
		if (cy && cy->first_ack == 0 && cy->session) {
			cy->first_ack = now;
			fo_event(f, "connection %u: first ack after the failover"
			    " (fo-%" PRIu64 "), %.1f ms after its last ack",
			    fc->idx, k, (double)(now - cy->last_ack) / 1e6);
			fc->cycle = -1;
		}
		fo_advance_lo(fc);
		fo_pump(fc, now);
		return;
	case WIRE_OP_REDIRECT:
	case WIRE_OP_NO_PRIMARY:
		fo_moved(fc, h->opcode, m);
		return;
	case WIRE_OP_ERROR:
		code = m->error.code < NERRCODES ? m->error.code : 0;
		switch (m->error.code) {
		case WIRE_E_NOT_PRIMARY:
		case WIRE_E_UNAVAILABLE:
		case WIRE_E_INTERNAL:
		case WIRE_E_TOO_MANY_REQUESTS:
		case WIRE_E_BAD_TOKEN:
		case WIRE_E_NOT_LOGGED_IN:
			/* No effect: the same (client_id, seq) goes again. */
			f->retried[code]++;
			if (m->error.code == WIRE_E_BAD_TOKEN)
				f->have_token = 0;
			snprintf(why, sizeof why, "SEND fo-%" PRIu64 " answered "
			    "%s: %.150s", k, wire_err_name(m->error.code),
			    m->error.text);
			fo_drop(fc, why, -1);
			return;
		default:
			break;
		}
		msg->state = FM_FAILED;
		f->failed++;
		f->errors++;
		f->errcode[code]++;
		fo_set_error(f, "SEND fo-%" PRIu64 ": %s: %s", k,
		    wire_err_name(m->error.code), m->error.text);
		fc->inflight--;
		fo_advance_lo(fc);
		fo_pump(fc, now);
		return;
	default:
		f->stray++;
		fo_set_error(f, "unexpected %s answering SEND fo-%" PRIu64,
		    wire_op_name(h->opcode), k);
		return;
	}
}

static void
fo_on_connect(struct conn *c, int err)
{
	struct fo_conn *fc = conn_data(c);

	if (fc == NULL || err != 0)
		return;		/* on_close follows a failure */
	fc->setup_rid = cb_send_hello(c, fo_setup_id(fc));
	fc->st = FC_HELLO;
}

static void
fo_on_frame(struct conn *c, const struct wire_header *h,
	    const uint8_t *payload)
{
	struct fo_conn *fc = conn_data(c);
	const struct wire_opdesc *d;
	struct wire_decode_error err;
	union reply m;
	char why[300];
	uint64_t now = now_ns();

	if (fc == NULL)
		return;
	fc->quiet_since = now;
	if (fc->stall_since) {
		fo_event(fc->f, "connection %u: replica %u answers again after "
		    "%.1f ms", fc->idx, (unsigned)fc->replica_id,
		    (double)(now - fc->stall_since) / 1e6);
		fc->stall_since = 0;
	}
	if (h->opcode == WIRE_OP_PUSH_MSG || h->opcode == WIRE_OP_PUSH_RECEIPT)
		return;
	d = wire_op(h->opcode);
	if (d == NULL || wire_decode(d, payload, h->length, &m, &err) < 0) {
		snprintf(why, sizeof why, "bad %s from server: %s",
		    wire_op_name(h->opcode), d ? err.text : "unknown opcode");
		fc->f->stray++;
		fo_set_error(fc->f, "%s", why);
		fo_drop(fc, why, -1);
		return;
	}
	if (answer_ping(c, h, &m))
		return;
	if (h->request_id == 0) {
		if (h->opcode == WIRE_OP_PUSH_SESSION_END) {
			fc->f->have_token = 0;
			fo_drop(fc, "the session ended (PUSH_SESSION_END)", -1);
		} else if (h->opcode == WIRE_OP_ERROR) {
			snprintf(why, sizeof why, "ERROR %s: %s",
			    wire_err_name(m.error.code), m.error.text);
			fo_drop(fc, why, -1);
		}
		return;
	}
	if (h->request_id & FO_RID_SETUP)
		fo_setup_answer(fc, h, &m, now);
	else if (fc->st == FC_READY)
		fo_send_answer(fc, h, &m, now);
	else
		fc->f->stray++;
}

static void
fo_on_close(struct conn *c, const char *reason)
{
	struct fo_conn *fc = conn_data(c);
	char why[300];

	if (fc == NULL)
		return;
	fc->c = NULL;
	snprintf(why, sizeof why, "replica %u: %s", (unsigned)fc->replica_id,
	    reason);
	fo_drop(fc, why, -1);
}

static const struct conn_ops fo_conn_ops = {
	.on_connect = fo_on_connect,
	.on_frame = fo_on_frame,
	.on_close = fo_on_close,
};

/* Close without a report: the run or the verification is over. */
void
fo_close_quietly(struct fo_conn *fc)
{
	cb_conn_drop(&fc->c, "done");
	fc->st = FC_DONE;
}
