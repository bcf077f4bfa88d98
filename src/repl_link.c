/*
 * repl_link.c — links between replicas and the periodic tick.
 *
 * One TCP connection per pair: the replica with the lower id dials, the
 * other accepts (and learns who called from its HELLO). Each side sends a
 * HELLO with a fresh 32-byte nonce, then proves it holds the cluster key
 * with AUTH over both nonces (auth_proof); the accepting side answers only
 * after checking the dialer's proof. Until a link is authenticated, any
 * other frame is refused and the connection closed: nothing an outsider
 * sends is ever applied.
 *
 * Liveness: every frame counts as a sign of life; heartbeats go out every
 * heartbeat_ms. A peer silent for election_timeout_ms is down. A crashed
 * process is noticed sooner: its connection closes, and a reconnection
 * (or, on the accepting side, a probe) is refused at once.
 *
 * A pause is not a crash: when our own tick comes late (SIGSTOP, swap),
 * every peer's silence timer restarts instead of condemning everyone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "log.h"
#include "repl.h"
#include "server.h"

#define DIAL_BACKOFF_MIN_MS 20
#define DIAL_BACKOFF_MAX_MS 1000

static void link_tick(void *ud);
static void dial(struct repl *r, struct peer *p, uint64_t now);
static void probe(struct repl *r, struct peer *p);
static const struct conn_ops dial_ops;
static const struct conn_ops probe_ops;

static struct repl *the_repl;	/* for accepted connections (no peer yet) */

struct peer *
repl_peer(struct repl *r, uint32_t id)
{
	size_t i;

	for (i = 0; i < r->npeers; i++)
		if (r->peers[i].id == id)
			return &r->peers[i];
	return NULL;
}

static uint64_t
failure_timeout(const struct repl *r)
{
	return r->srv->cfg->election_timeout_ms;
}

size_t
repl_connected(const struct repl *r, uint32_t *ids)
{
	size_t i, n = 0;

	for (i = 0; i < r->npeers; i++)
		if (r->peers[i].state == LINK_UP)
			ids[n++] = r->peers[i].id;
	return n;
}

void
repl_self_last(const struct repl *r, struct logpos *last)
{
	store_last(r->srv->store, &last->epoch, &last->lsn);
}

int
repl_self_eligible(struct repl *r)
{
	uint32_t ids[ELECT_MAX], waiting = 0;
	size_t n = repl_connected(r, ids);
	char why[200];
	int ok = elect_eligible(r->srv->self->id, &r->isr,
	    r->recovering && !r->forced, ids, n, &waiting, why, sizeof why);

	if (!ok && r->srv->role != ROLE_PRIMARY) {
		r->waiting_for = waiting;
		snprintf(r->note, sizeof r->note, "%s", why);
	}
	return ok;
}

int
repl_persist(struct repl *r, const char *key, uint64_t v)
{
	struct store *st = r->srv->store;

	/* A promise must be on disk before anyone hears of it: commit what
	 * this turn applied so far, then write the key on its own. If that
	 * fails the promise may be lost at a restart: stop. */
	if (r->srv->fatal)
		return -1;
	if ((store_in_txn(st) && store_commit(st) < 0) ||
	    store_meta_set_u64(st, key, v) < 0) {
		server_storage_failed(r->srv, key);
		return -1;
	}
	return 0;
}

/* ---- sending ------------------------------------------------------------- */

size_t
repl_frame_mark(struct peer *p)
{
	return buf_pending(conn_outbuf(p->conn));
}

void
repl_seal(struct peer *p, size_t mark)
{
	if (p->state == LINK_UP)
		auth_seal(conn_outbuf(p->conn), mark, p->session_key,
		    the_repl->srv->self->id, ++p->send_seq);
	conn_sent(p->conn);
}

void
repl_send(struct peer *p, uint16_t op, uint32_t request_id, const void *msg)
{
	size_t mark;

	if (p->conn == NULL || conn_is_closing(p->conn))
		return;
	mark = repl_frame_mark(p);
	wire_encode(conn_outbuf(p->conn), op, request_id, msg);
	repl_seal(p, mark);
}

void
repl_send_encoded(struct peer *p, uint16_t op, const struct buf *payload)
{
	size_t mark;

	if (p->conn == NULL || conn_is_closing(p->conn))
		return;
	mark = repl_frame_mark(p);
	wire_frame_append(conn_outbuf(p->conn), op, 0, buf_head(payload),
	    buf_pending(payload));
	repl_seal(p, mark);
}

void
repl_encode_isr(struct wire_enc *e, const struct isr *isr)
{
	struct wire_item_MEMBER m;
	unsigned i;

	for (i = 0; i < isr->n; i++) {
		m.id = isr->ids[i];
		wire_encode_item(e, &m);
	}
}

void
repl_isr_from_list(const struct wire_opdesc *d, const struct wire_list *l,
		   struct logpos set_at, struct isr *isr)
{
	struct wire_list_iter it;
	struct wire_item_MEMBER m;

	memset(isr, 0, sizeof *isr);
	isr->set_at = set_at;
	wire_list_begin(&it, d, l);
	while (wire_list_next(&it, &m))
		if (isr->n < ELECT_MAX && !isr_has(isr, m.id))
			isr->ids[isr->n++] = m.id;
}

void
repl_adopt_isr(struct repl *r, const struct isr *isr)
{
	/* A primary's ISR is what its own log says, nothing heard. */
	if (r->srv->role == ROLE_PRIMARY ||
	    logpos_cmp(isr->set_at, r->isr.set_at) <= 0 || isr->n == 0)
		return;
	r->isr = *isr;
	log_debug("adopted ISR set at (%llu,%llu) with %u members",
	    (unsigned long long)isr->set_at.epoch,
	    (unsigned long long)isr->set_at.lsn, isr->n);
}

static void
send_heartbeat(struct repl *r, struct peer *p)
{
	struct server *s = r->srv;
	struct wire_HEARTBEAT hb;
	struct wire_enc e;
	struct logpos last;
	size_t mark;

	memset(&hb, 0, sizeof hb);
	repl_self_last(r, &last);
	hb.epoch = r->promised > s->epoch ? r->promised : s->epoch;
	hb.last_epoch = last.epoch;
	hb.last_lsn = last.lsn;
	hb.isr_epoch = r->isr.set_at.epoch;
	hb.isr_lsn = r->isr.set_at.lsn;
	hb.eligible = (uint8_t)repl_self_eligible(r);
	hb.primary_id = s->role == ROLE_PRIMARY ? s->self->id :
	    s->role == ROLE_BACKUP ? s->primary_id : 0;
	/* Claim only what is true: the epoch we lead or follow. */
	if (s->role == ROLE_PRIMARY || s->role == ROLE_BACKUP)
		hb.epoch = s->epoch;
	hb.commit_lsn = r->commit_lsn;
	hb.sent_at = wall_ms();
	if (p->conn == NULL || conn_is_closing(p->conn))
		return;
	mark = repl_frame_mark(p);
	wire_encode_begin(&e, conn_outbuf(p->conn), WIRE_OP_HEARTBEAT, 0, &hb);
	repl_encode_isr(&e, &r->isr);
	wire_encode_end(&e);
	repl_seal(p, mark);
}

/* ---- link life cycle ------------------------------------------------------- */

/* Both AUTHs verified: from here on every frame both ways is sealed with
 * this connection's key; sequence numbers start again. */
static void
seal_start(struct repl *r, struct peer *p)
{
	p->state = LINK_UP;
	if (p->dialer)
		auth_session_key(r->key, p->my_nonce, p->their_nonce,
		    p->session_key);
	else
		auth_session_key(r->key, p->their_nonce, p->my_nonce,
		    p->session_key);
	p->send_seq = p->recv_seq = 0;
}

static void
link_up(struct repl *r, struct peer *p)
{
	seal_start(r, p);
	p->heard_state = 0;
	p->last_heard = mono_ms();
	p->backoff_ms = DIAL_BACKOFF_MIN_MS;
	p->refused = 0;
	log_info("link to replica %u up (%s)", p->id, conn_peer(p->conn));
	send_heartbeat(r, p);
	/* A backup whose primary came back asks to be brought up to date. */
	if (r->srv->role == ROLE_BACKUP && r->srv->primary_id == p->id)
		repl_send_catchup(r);
}

static void
link_lost(struct repl *r, struct peer *p, const char *reason)
{
	int was_up = p->state == LINK_UP;

	if (was_up)
		log_info("link to replica %u down: %s", p->id, reason);
	p->conn = NULL;
	p->state = LINK_DOWN;
	p->hello_seen = p->auth_sent = p->auth_ok = 0;
	auth_wipe(p->session_key, sizeof p->session_key);
	p->shipping = 0;
	repl_snap_cancel(p);
	if (was_up) {
		repl_vote_peer_lost(r, p);
		if (r->srv->role == ROLE_PRIMARY)
			repl_check_isr(r);
	}
	/* Find out at once whether its process is gone: redial, or (if it
	 * dials us) probe its port. A refusal starts an election without
	 * waiting for the next tick. A dial or handshake that failed (the
	 * peer is down, or refused us: e.g. it is no longer a member) is
	 * retried by the tick after its backoff: redialling it here at once
	 * would loop as fast as the kernel refuses (tens of thousands of SYNs
	 * a second while the peer is down). */
	if (p->dialer && was_up)
		dial(r, p, mono_ms());
	else if (was_up)
		probe(r, p);
}

static void send_hello_nonce(struct conn *c, uint32_t rid, unsigned vmin,
			     unsigned vmax, const uint8_t nonce[32]);

static void
send_hello(struct repl *r, struct peer *p)
{
	(void)r;
	auth_random(p->my_nonce, sizeof p->my_nonce);
	send_hello_nonce(p->conn, 0, WIRE_VERSION_MIN, WIRE_VERSION_MAX,
	    p->my_nonce);
}

/* Our AUTH; rid echoes the request id of the dialer's AUTH. */
static void
send_auth(struct repl *r, struct peer *p, uint32_t rid)
{
	struct wire_AUTH a;
	uint8_t proof[32];

	auth_proof(r->key, r->srv->self->id, p->my_nonce, p->their_nonce, proof);
	a.proof.ptr = proof;
	a.proof.len = sizeof proof;
	repl_send(p, WIRE_OP_AUTH, rid, &a);
	p->auth_sent = 1;
}

static void
refuse(struct conn *c, uint32_t rid, uint16_t code, uint16_t op,
       const char *why)
{
	log_warn("internal connection from %s refused: %s", conn_peer(c), why);
	wire_encode_error(conn_outbuf(c), rid, code, op, "%s", why);
	conn_sent(c);
	conn_close(c, why, 1);
}

/* HELLO and AUTH on a link that is not up yet. */
static void
handshake(struct repl *r, struct peer *p, const struct wire_header *h,
	  const uint8_t *payload)
{
	struct wire_decode_error err;
	struct wire_HELLO hello;
	struct wire_AUTH a;
	uint8_t want[32];

	if (h->opcode == WIRE_OP_HELLO && !p->hello_seen) {
		if (wire_decode(wire_op(h->opcode), payload, h->length, &hello,
		    &err) < 0 || hello.nonce.len != 32 ||
		    hello.replica_id != p->id) {
			refuse(p->conn, h->request_id, WIRE_E_NOT_AUTHORIZED,
			    h->opcode, "bad replica HELLO");
			return;
		}
		if (wire_version_choose(hello.version_min,
		    hello.version_max) == 0) {
			refuse(p->conn, h->request_id, WIRE_E_BAD_VERSION,
			    h->opcode, "no protocol version in common");
			return;
		}
		memcpy(p->their_nonce, hello.nonce.ptr, 32);
		p->hello_seen = 1;
		if (p->dialer)
			send_auth(r, p, 0);	/* the dialer proves first */
		return;
	}
	if (h->opcode == WIRE_OP_AUTH && p->hello_seen && !p->auth_ok) {
		if (wire_decode(wire_op(h->opcode), payload, h->length, &a,
		    &err) < 0) {
			refuse(p->conn, h->request_id, WIRE_E_NOT_AUTHORIZED,
			    h->opcode, "bad AUTH");
			return;
		}
		auth_proof(r->key, p->id, p->their_nonce, p->my_nonce, want);
		if (!auth_equal(want, a.proof.ptr, 32)) {
			refuse(p->conn, h->request_id, WIRE_E_NOT_AUTHORIZED,
			    h->opcode, "wrong cluster key");
			return;
		}
		p->auth_ok = 1;
		if (!p->auth_sent)
			send_auth(r, p, h->request_id);
		link_up(r, p);
		return;
	}
	refuse(p->conn, h->request_id, WIRE_E_NOT_AUTHORIZED, h->opcode,
	    "frame before authentication");
}

/* Check a sealed frame: the MAC flag, and the MAC over our peer's id, the
 * next sequence number in its direction and the frame as it came. */
static int
frame_authentic(struct peer *p, const struct wire_header *h,
		const uint8_t *payload)
{
	if (!auth_unseal(h, payload, p->session_key, p->id, p->recv_seq + 1))
		return 0;
	p->recv_seq++;
	return 1;
}

/* A frame on a link that is up: check its seal; 0 with the header of the
 * frame inside it in *inner, or -1 after refusing (and closing) the link. */
static int
unseal(struct peer *p, const struct wire_header *h, const uint8_t *payload,
       struct wire_header *inner)
{
	if (!frame_authentic(p, h, payload)) {
		refuse(p->conn, 0, WIRE_E_NOT_AUTHORIZED, h->opcode,
		    "frame without a valid MAC (forged, replayed or reordered)");
		return -1;
	}
	*inner = *h;
	inner->length -= AUTH_MAC_BYTES;
	inner->flags &= (uint8_t)~WIRE_FLAG_MAC;
	return 0;
}

static void
on_peer_frame(struct conn *c, const struct wire_header *h,
	      const uint8_t *payload)
{
	struct peer *p = conn_data(c);
	struct repl *r = the_repl;
	struct wire_header inner;

	if (p == NULL || p->conn != c)
		return;
	repl_check_pause(r);
	r->srv->now = wall_ms();
	p->last_heard = mono_ms();
	if (p->state != LINK_UP) {
		handshake(r, p, h, payload);
		return;
	}
	if (unseal(p, h, payload, &inner) == 0)
		repl_dispatch(r, p, &inner, payload);
}

static void
on_peer_close(struct conn *c, const char *reason)
{
	struct peer *p = conn_data(c);

	if (p && p->conn == c) {
		repl_check_pause(the_repl);
		link_lost(the_repl, p, reason);
	}
}

/*
 * An accepted connection is only a claim until its AUTH verifies: it
 * carries its own handshake state, and takes over the claimed replica's
 * link only then — so a stranger's HELLO cannot cut a working link. Such
 * connections are few (MAX_PENDING) and short-lived (hello_timeout_ms).
 */
#define MAX_PENDING 64

struct pending_hs {
	int           named;		/* its HELLO named who calls: */
	uint32_t      id;		/* a replica, or 0 for a tool */
	uint8_t       my_nonce[32], their_nonce[32];
	struct timer *deadline;
	/* An operator tool (HELLO kind 3) never becomes a replica's link:
	 * its connection keeps this struct, and this is its link (id 0). */
	struct peer   op;
};

static size_t npending;

static int
is_peer(const struct repl *r, const void *ud)
{
	const struct peer *p = ud;

	return p >= r->peers && p < r->peers + r->npeers;
}

static void
pending_free(struct conn *c, struct pending_hs *hs)
{
	if (hs->op.state == LINK_UP)
		repl_admin_closed(&hs->op);
	if (hs->deadline)
		timer_cancel(the_repl->srv->loop, hs->deadline);
	conn_set_data(c, NULL);
	auth_wipe(hs, sizeof *hs);
	free(hs);
	npending--;
}

static void
send_hello_nonce(struct conn *c, uint32_t rid, unsigned vmin, unsigned vmax,
		 const uint8_t nonce[32])
{
	struct wire_HELLO h;

	memset(&h, 0, sizeof h);
	h.version_min = (uint8_t)vmin;
	h.version_max = (uint8_t)vmax;
	h.kind = 2;
	h.replica_id = the_repl->srv->self->id;
	snprintf(h.software, sizeof h.software, "chatd %s", CHATD_VERSION);
	h.nonce.ptr = nonce;
	h.nonce.len = 32;
	wire_encode(conn_outbuf(c), WIRE_OP_HELLO, rid, &h);
	conn_sent(c);
}

/* The first frame of an accepted connection: a replica's or an operator
 * tool's HELLO. Answered with our HELLO (same request id, the chosen
 * version, our nonce); then we wait for the caller's AUTH. */
static void
pending_hello(struct repl *r, struct conn *c, struct pending_hs *hs,
	      const struct wire_header *h, const uint8_t *payload)
{
	struct wire_decode_error err;
	struct wire_HELLO hello;
	struct peer *p;
	unsigned v;

	if (h->opcode != WIRE_OP_HELLO) {
		refuse(c, h->request_id, WIRE_E_HELLO_FIRST, h->opcode,
		    "HELLO must be the first frame");
		return;
	}
	if (wire_decode(wire_op(h->opcode), payload, h->length, &hello,
	    &err) < 0 || hello.kind < 2 || hello.nonce.len != 32) {
		refuse(c, h->request_id, WIRE_E_NOT_AUTHORIZED, h->opcode,
		    "not a replica's or operator tool's HELLO");
		return;
	}
	v = wire_version_choose(hello.version_min, hello.version_max);
	if (v == 0) {
		refuse(c, h->request_id, WIRE_E_BAD_VERSION, h->opcode,
		    "no protocol version in common");
		return;
	}
	if (hello.kind == 3) {
		if (hello.replica_id != 0) {
			refuse(c, h->request_id, WIRE_E_NOT_AUTHORIZED,
			    h->opcode, "an operator tool's replica_id is 0");
			return;
		}
		p = &hs->op;
		memset(p, 0, sizeof *p);
		snprintf(p->host, sizeof p->host, "operator");
	} else {
		p = repl_peer(r, hello.replica_id);
		if (p == NULL || p->dialer) {
			refuse(c, h->request_id, WIRE_E_NOT_AUTHORIZED,
			    h->opcode, "unknown replica id, or one we dial "
			    "ourselves");
			return;
		}
	}
	hs->named = 1;
	hs->id = p->id;
	memcpy(hs->their_nonce, hello.nonce.ptr, 32);
	auth_random(hs->my_nonce, sizeof hs->my_nonce);
	send_hello_nonce(c, h->request_id, v, v, hs->my_nonce);
	/* and wait for the caller's AUTH before proving ourselves */
}

/* An operator tool proved it holds the key: prove ourselves, and from now
 * on its frames go to repl_admin_dispatch, sealed both ways. */
static void
operator_up(struct repl *r, struct conn *c, struct pending_hs *hs,
	    uint32_t rid)
{
	struct peer *p = &hs->op;

	if (hs->deadline) {
		timer_cancel(r->srv->loop, hs->deadline);
		hs->deadline = NULL;
	}
	memcpy(p->my_nonce, hs->my_nonce, 32);
	memcpy(p->their_nonce, hs->their_nonce, 32);
	p->conn = c;
	p->state = LINK_HELLO;
	p->hello_seen = p->auth_ok = 1;
	send_auth(r, p, rid);
	seal_start(r, p);
	log_info("operator tool connected from %s", conn_peer(c));
}

static void
pending_auth(struct repl *r, struct conn *c, struct pending_hs *hs,
	     const struct wire_header *h, const uint8_t *payload)
{
	/* Looked up again: the membership may have changed meanwhile. */
	struct peer *p = hs->id == 0 ? &hs->op : repl_peer(r, hs->id);
	struct wire_AUTH a;
	uint8_t want[32];

	if (p == NULL) {
		refuse(c, h->request_id, WIRE_E_NOT_AUTHORIZED, h->opcode,
		    "no longer a member");
		return;
	}
	if (h->opcode != WIRE_OP_AUTH ||
	    wire_decode(wire_op(h->opcode), payload, h->length, &a, NULL) < 0) {
		refuse(c, h->request_id, WIRE_E_NOT_AUTHORIZED, h->opcode,
		    "frame before authentication");
		return;
	}
	auth_proof(r->key, p->id, hs->their_nonce, hs->my_nonce, want);
	if (!auth_equal(want, a.proof.ptr, 32)) {
		refuse(c, h->request_id, WIRE_E_NOT_AUTHORIZED, h->opcode,
		    "wrong cluster key");
		return;
	}
	if (p == &hs->op) {
		operator_up(r, c, hs, h->request_id);
		return;
	}
	/* Proven. A peer that restarted calls again before we noticed its
	 * old connection die: the new one wins. */
	if (p->conn) {
		struct conn *old = p->conn;

		link_lost(r, p, "replaced by a new connection");
		conn_set_data(old, NULL);
		conn_close(old, "replaced", 0);
	}
	memcpy(p->my_nonce, hs->my_nonce, 32);
	memcpy(p->their_nonce, hs->their_nonce, 32);
	pending_free(c, hs);
	p->conn = c;
	conn_set_data(c, p);
	p->state = LINK_HELLO;
	p->hello_seen = p->auth_ok = 1;
	send_auth(r, p, h->request_id);
	link_up(r, p);
}

static void
on_accepted_frame(struct conn *c, const struct wire_header *h,
		  const uint8_t *payload)
{
	struct repl *r = the_repl;
	void *ud = conn_data(c);
	struct pending_hs *hs = ud;

	if (ud == NULL)
		return;		/* refused, closing */
	if (is_peer(r, ud)) {
		on_peer_frame(c, h, payload);
		return;
	}
	repl_check_pause(r);
	if (hs->op.state == LINK_UP) {
		struct wire_header inner;

		r->srv->now = wall_ms();
		if (unseal(&hs->op, h, payload, &inner) == 0)
			repl_admin_dispatch(r, &hs->op, &inner, payload);
	} else if (!hs->named)
		pending_hello(r, c, hs, h, payload);
	else
		pending_auth(r, c, hs, h, payload);
}

static void
on_accepted_close(struct conn *c, const char *reason)
{
	void *ud = conn_data(c);

	if (ud == NULL)
		return;
	if (is_peer(the_repl, ud))
		on_peer_close(c, reason);
	else
		pending_free(c, ud);
}

static void
pending_timeout(void *ud)
{
	struct conn *c = ud;
	struct pending_hs *hs = conn_data(c);

	if (hs && !is_peer(the_repl, hs)) {
		hs->deadline = NULL;
		refuse(c, 0, WIRE_E_TIMEOUT, 0, "no authentication in time");
	}
}

static void
on_accept(struct conn *c)
{
	struct repl *r = the_repl;
	struct pending_hs *hs;

	conn_set_output_cap(c, 64u * 1024 * 1024);
	if (npending >= MAX_PENDING || (hs = calloc(1, sizeof *hs)) == NULL) {
		conn_set_data(c, NULL);
		refuse(c, 0, WIRE_E_SERVER_FULL, 0,
		    "too many unauthenticated connections");
		return;
	}
	npending++;
	conn_set_data(c, hs);
	hs->deadline = timer_add(r->srv->loop, r->srv->cfg->hello_timeout_ms,
	    pending_timeout, c);
}

const struct conn_ops repl_accept_ops = {
	.on_accept = on_accept,
	.on_frame = on_accepted_frame,
	.on_close = on_accepted_close,
};

static void
on_dial_connect(struct conn *c, int err)
{
	struct peer *p = conn_data(c);

	if (p == NULL)
		return;
	if (err) {
		p->refused = err == ECONNREFUSED;
		if (p->refused)
			repl_round_tick(the_repl);	/* act now */
		return;		/* on_close follows */
	}
	p->state = LINK_HELLO;
	send_hello(the_repl, p);
}

static const struct conn_ops dial_ops = {
	.on_connect = on_dial_connect,
	.on_frame = on_peer_frame,
	.on_close = on_peer_close,
};

/*
 * A probe only asks "is anybody there?" and hangs up. A killed process's
 * listening socket can still complete a connection for a moment after its
 * other sockets closed, so one successful probe proves little: the tick
 * probes again while the link stays down, and the first refusal counts.
 */
static void
on_probe_connect(struct conn *c, int err)
{
	struct peer *p = conn_data(c);

	if (p == NULL)
		return;
	if (err == ECONNREFUSED) {
		p->refused = 1;
		repl_round_tick(the_repl);	/* act now, not next tick */
	}
	if (!err)
		conn_close(c, "probe done", 0);
}

static void
on_probe_close(struct conn *c, const char *reason)
{
	struct peer *p = conn_data(c);

	(void)reason;
	if (p && p->probe == c)
		p->probe = NULL;
}

static const struct conn_ops probe_ops = {
	.on_connect = on_probe_connect,
	.on_close = on_probe_close,
};

static void
probe(struct repl *r, struct peer *p)
{
	char err[128];

	if (p->probe)
		return;
	p->probe = loop_connect(r->srv->loop, p->host, p->internal_port,
	    &probe_ops, p, WIRE_MAX_PAYLOAD_INTERNAL, err, sizeof err);
	if (p->probe == NULL)
		p->refused = 1;
}

static void
dial(struct repl *r, struct peer *p, uint64_t now)
{
	char err[200];

	p->next_dial = now + p->backoff_ms;
	p->backoff_ms = p->backoff_ms * 2 > DIAL_BACKOFF_MAX_MS ?
	    DIAL_BACKOFF_MAX_MS : p->backoff_ms * 2;
	p->conn = loop_connect(r->srv->loop, p->host, p->internal_port,
	    &dial_ops, p, WIRE_MAX_PAYLOAD_INTERNAL, err, sizeof err);
	if (p->conn == NULL) {
		log_debug("cannot dial replica %u: %s", p->id, err);
		return;
	}
	conn_set_output_cap(p->conn, 64u * 1024 * 1024);
	p->state = LINK_HELLO;
	p->hello_seen = p->auth_sent = p->auth_ok = 0;
}

/* ---- the tick --------------------------------------------------------------- */

static void
link_tick(void *ud)
{
	struct repl *r = ud;
	struct server *s = r->srv;
	uint64_t now = mono_ms();
	size_t i;

	r->tick = timer_add(s->loop, s->cfg->heartbeat_ms, link_tick, r);
	s->now = wall_ms();
	repl_check_pause(r);
	r->last_tick = now;
	repl_members_sync(r);
	for (i = 0; i < r->npeers; i++) {
		struct peer *p = &r->peers[i];

		if (p->state == LINK_DOWN && p->dialer && now >= p->next_dial)
			dial(r, p, now);
		if (p->state == LINK_DOWN && !p->dialer && !p->refused)
			probe(r, p);
		if (p->state == LINK_UP) {
			if (now - p->last_heard > failure_timeout(r)) {
				log_info("replica %u silent for %llu ms",
				    p->id, (unsigned long long)(now -
				    p->last_heard));
				conn_close(p->conn, "silent", 0);
				continue;
			}
			send_heartbeat(r, p);
		}
	}
	if (s->role == ROLE_PRIMARY) {
		repl_check_isr(r);
		repl_ship_all(r);
	}
	if (s->role == ROLE_PRIMARY || s->role == ROLE_BACKUP)
		repl_prune(r);
	repl_round_tick(r);
	repl_admin_tick(r);
}

/*
 * Were we paused (SIGSTOP, swap, a stalled disk)? Called before anything
 * else on every event — client frames, peer frames, closed links, timers,
 * the commit — because the first thing a resumed replica sees is whatever
 * queued up during the pause, and it must not act on it as if no time had
 * passed. Our stall is not the peers' silence, so their timers restart.
 * But the cluster may have moved on without us (elected a new primary,
 * dropped us from the ISR, acknowledged writes we lack), exactly as if we
 * had restarted: rule 4 applies again until we are readmitted, and a
 * primary steps down — acknowledging nothing more — since it cannot know
 * whether it still is one.
 */
void
repl_check_pause(struct repl *r)
{
	struct server *s = r->srv;
	uint64_t now = mono_ms(), gap;
	size_t i;

	if (r->last_tick == 0 || now - r->last_tick <= failure_timeout(r) / 2)
		return;
	gap = now - r->last_tick;
	r->last_tick = now;
	log_warn("this replica was paused for %llu ms", (unsigned long long)gap);
	for (i = 0; i < r->npeers; i++) {
		r->peers[i].last_heard = now;
		r->peers[i].last_ack_at = now;
	}
	r->lost_primary_at = 0;
	r->recovering = 1;
	if (s->role == ROLE_PRIMARY)
		repl_step_down(r, "paused: the others may have moved on");
}

/* ---- dispatch ------------------------------------------------------------------ */

static void
on_heartbeat(struct repl *r, struct peer *p, const uint8_t *payload,
	     size_t len)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_HEARTBEAT);
	struct server *s = r->srv;
	struct wire_HEARTBEAT hb;
	struct isr isr;

	if (wire_decode(d, payload, len, &hb, NULL) < 0)
		return;
	p->heard_state = 1;
	p->epoch = hb.epoch;
	p->primary_id = hb.primary_id;
	p->last.epoch = hb.last_epoch;
	p->last.lsn = hb.last_lsn;
	p->eligible = hb.eligible;
	repl_isr_from_list(d, &hb.isr, (struct logpos){ hb.isr_epoch,
	    hb.isr_lsn }, &isr);
	repl_adopt_isr(r, &isr);

	/* A primary must not go on once anyone has promised a newer epoch:
	 * that peer will never acknowledge us again, and waiting out its
	 * silence would end with us acknowledging writes alone. */
	if (s->role == ROLE_PRIMARY && hb.epoch > s->epoch)
		repl_step_down(r, "a peer promised a newer epoch");
	/* Two primaries of one epoch must never be (rule 1); should it
	 * happen anyway, neither may go on. We step down and start a round
	 * of a newer epoch, whose promises make the other step down too. */
	if (s->role == ROLE_PRIMARY && hb.primary_id == p->id &&
	    hb.epoch == s->epoch) {
		log_error("replica %u also leads epoch %llu", p->id,
		    (unsigned long long)hb.epoch);
		repl_step_down(r, "another primary of the same epoch");
		repl_start_round(r, "two primaries of one epoch");
		return;
	}
	/* Nor does anyone follow a second primary of the epoch whose
	 * primary it accepted (or was). */
	if (hb.primary_id == p->id && hb.epoch == r->accepted_epoch &&
	    r->accepted_primary != 0 && r->accepted_primary != p->id)
		return;
	/* A primary of a newer epoch than ours (or the one we follow): follow
	 * it. We never accept an epoch below what we promised. */
	if (hb.primary_id == p->id && hb.epoch >= r->promised &&
	    (hb.epoch > s->epoch || (s->role != ROLE_PRIMARY &&
	    s->primary_id != p->id))) {
		if (s->role == ROLE_PRIMARY && hb.epoch > s->epoch)
			repl_step_down(r, "a primary of a newer epoch exists");
		if (s->role != ROLE_PRIMARY)
			repl_become_backup(r, hb.epoch, p->id);
	}
	/* Our primary says it no longer leads (it stepped down, e.g. after
	 * finding itself paused): it is lost, though it still talks. */
	if (s->role == ROLE_BACKUP && s->primary_id == p->id &&
	    hb.primary_id != p->id) {
		log_info("primary %u stepped down", p->id);
		s->role = ROLE_ELECTING;
		s->primary_id = 0;
		repl_start_round(r, "our primary stepped down");
		return;
	}
	if (s->role == ROLE_BACKUP && s->primary_id == p->id) {
		struct logpos mine;
		uint64_t now = mono_ms(), quiet = failure_timeout(r) / 2;

		r->commit_lsn = hb.commit_lsn;
		/* The primary is ahead and sends us nothing: our request was
		 * lost or dropped. Ask again (not more often than this). */
		repl_self_last(r, &mine);
		if (hb.last_lsn > mine.lsn && !p->snap_in &&
		    now - r->last_append_at > quiet &&
		    now - r->last_catchup_at > quiet)
			repl_send_catchup(r);
	}
}

void
repl_dispatch(struct repl *r, struct peer *p, const struct wire_header *h,
	      const uint8_t *payload)
{
	size_t len = h->length;

	switch (h->opcode) {
	case WIRE_OP_HEARTBEAT:
		on_heartbeat(r, p, payload, len);
		break;
	case WIRE_OP_ROUND:
		repl_on_round(r, p, payload, len);
		break;
	case WIRE_OP_BALLOT:
		repl_on_ballot(r, p, payload, len);
		break;
	case WIRE_OP_ANNOUNCE:
		repl_on_announce(r, p, payload, len);
		break;
	case WIRE_OP_ANNOUNCE_REPLY:
		repl_on_announce_reply(r, p, payload, len);
		break;
	case WIRE_OP_CATCHUP:
		repl_on_catchup(r, p, payload, len);
		break;
	case WIRE_OP_APPEND:
		repl_on_append(r, p, payload, len);
		break;
	case WIRE_OP_APPEND_ACK:
		repl_on_append_ack(r, p, payload, len);
		break;
	case WIRE_OP_SNAP_BEGIN:
	case WIRE_OP_SNAP_CHUNK:
	case WIRE_OP_SNAP_END:
	case WIRE_OP_SNAP_ACK:
		repl_on_snap(r, p, h, payload);
		break;
	case WIRE_OP_PING: {
		struct wire_PONG pong;
		if (wire_decode(wire_op(WIRE_OP_PING), payload, len, &pong,
		    NULL) == 0)
			repl_send(p, WIRE_OP_PONG, h->request_id, &pong);
		break;
	}
	case WIRE_OP_ERROR: {
		struct wire_ERROR e;
		if (wire_decode(wire_op(WIRE_OP_ERROR), payload, len, &e,
		    NULL) == 0 && e.code == WIRE_E_STALE_EPOCH) {
			log_info("replica %u: %s", p->id, e.text);
			repl_step_down(r, "a peer moved to a newer epoch");
		}
		break;
	}
	case WIRE_OP_PONG:
		break;
	default: {
		size_t mark = repl_frame_mark(p);

		wire_encode_error(conn_outbuf(p->conn), h->request_id,
		    WIRE_E_WRONG_PORT, h->opcode, "%s is not served on the "
		    "internal port", wire_op_name(h->opcode));
		repl_seal(p, mark);
		break;
	}
	}
}

/* ---- role changes -------------------------------------------------------------- */

void
repl_become_backup(struct repl *r, uint64_t epoch, uint32_t primary)
{
	struct server *s = r->srv;

	if (s->role == ROLE_BACKUP && s->epoch == epoch &&
	    s->primary_id == primary)
		return;
	if (epoch > r->promised) {
		if (repl_persist(r, "promised", epoch) < 0)
			return;		/* stopping */
		r->promised = epoch;
	}
	if (s->epoch != epoch && repl_persist(r, "epoch", epoch) < 0)
		return;
	r->accepted_epoch = epoch;
	r->accepted_primary = primary;
	s->epoch = epoch;
	s->primary_id = primary;
	s->role = ROLE_BACKUP;
	r->waiting_for = 0;
	r->lost_primary_at = 0;
	snprintf(r->note, sizeof r->note, "backup of replica %u", primary);
	log_info("following replica %u as primary of epoch %llu", primary,
	    (unsigned long long)epoch);
	repl_send_catchup(r);
}

void
repl_step_down(struct repl *r, const char *why)
{
	struct server *s = r->srv;
	size_t i;

	if (s->role != ROLE_PRIMARY)
		return;
	log_warn("stepping down as primary of epoch %llu: %s",
	    (unsigned long long)s->epoch, why);
	s->role = ROLE_ELECTING;
	s->primary_id = 0;
	r->primary_since = 0;
	snprintf(r->note, sizeof r->note, "stepped down: %s", why);
	for (i = 0; i < r->npeers; i++)
		repl_snap_cancel(&r->peers[i]);	/* a snapshot copy holds the store */
	server_lost_primacy(s);
}

/* ---- membership changes ------------------------------------------------------ */

struct peer *
repl_peer_add(struct repl *r, const struct replica_addr *a)
{
	struct peer *p;

	if (r->npeers >= ELECT_MAX)
		return NULL;
	p = &r->peers[r->npeers++];
	memset(p, 0, sizeof *p);
	p->id = a->id;
	snprintf(p->host, sizeof p->host, "%s", a->host);
	p->internal_port = a->internal_port;
	p->client_port = a->client_port;
	p->dialer = r->srv->self->id < a->id;
	p->backoff_ms = DIAL_BACKOFF_MIN_MS;
	return p;
}

void
repl_peer_drop(struct repl *r, struct peer *p, const char *why)
{
	struct peer *last = &r->peers[r->npeers - 1];

	log_info("replica %u: %s", p->id, why);
	repl_snap_cancel(p);
	if (p->probe) {
		conn_set_data(p->probe, NULL);
		conn_close(p->probe, why, 0);
	}
	if (p->conn) {
		conn_set_data(p->conn, NULL);
		conn_close(p->conn, why, 1);
	}
	auth_wipe(p->session_key, sizeof p->session_key);
	/* Compact: the last peer moves into the hole, and its connections
	 * follow it. */
	if (p != last) {
		*p = *last;
		if (p->conn)
			conn_set_data(p->conn, p);
		if (p->probe)
			conn_set_data(p->probe, p);
	}
	memset(last, 0, sizeof *last);
	r->npeers--;
}

/* ---- set-up --------------------------------------------------------------------- */

int
repl_init(struct repl *r, struct server *s, char *err, size_t errlen)
{
	const struct config *cfg = s->cfg;
	char path[CONFIG_MAX_PATH + 32];
	uint64_t v = 0;
	size_t i;
	int created;

	memset(r, 0, sizeof *r);
	r->srv = s;
	the_repl = r;
	r->recovering = 1;
	if (config_key_path(cfg, path, sizeof path) < 0 ||
	    auth_key_load(path, r->key, &created, err, errlen) < 0)
		return -1;
	if (created)
		log_info("created the cluster key %s (copy it to every "
		    "replica's host)", path);
	repl_members_init(r);
	if (store_meta_get_u64(s->store, "promised", &v) < 0)
		return -1;
	r->promised = v;
	v = 0;
	if (store_meta_get_u64(s->store, "epoch", &v) < 0)
		return -1;
	r->accepted_epoch = v;
	s->epoch = v;
	repl_isr_applied(r);
	if (r->isr.n == 0 && !cfg->joining) {
		/* A new cluster: nobody has written an ISR yet; all members
		 * of the configuration are in sync (all logs are empty). A
		 * replica joining a running cluster learns its ISR instead. */
		for (i = 0; i < r->nmembers && i < ELECT_MAX; i++)
			r->isr.ids[r->isr.n++] = r->members[i].id;
	}
	s->role = ROLE_STARTING;
	snprintf(r->note, sizeof r->note, "starting: looking for peers");
	r->last_tick = 0;	/* the first tick measures nothing */
	r->tick = timer_add(s->loop, 0, link_tick, r);
	return 0;
}

void
repl_shutdown(struct repl *r)
{
	size_t i;

	if (r->tick)
		timer_cancel(r->srv->loop, r->tick);
	r->tick = NULL;
	for (i = 0; i < r->npeers; i++) {
		repl_snap_cancel(&r->peers[i]);
		if (r->peers[i].probe) {
			conn_set_data(r->peers[i].probe, NULL);
			conn_close(r->peers[i].probe, "shutting down", 0);
			r->peers[i].probe = NULL;
		}
		if (r->peers[i].conn) {
			conn_set_data(r->peers[i].conn, NULL);
			conn_close(r->peers[i].conn, "shutting down", 1);
			r->peers[i].conn = NULL;
		}
	}
	auth_wipe(r->key, sizeof r->key);
}
