/*
 * conn.c — the client's one connection to the cluster, and its requests.
 *
 * Life of a connection (enum cli_state):
 *   DOWN -> CONNECTING -> HELLO -> SETUP -> READY -> (lost) -> DOWN ...
 *   - Targets: a REDIRECT address if one is pending, else the replica list
 *     (replicas.conf, refreshed from REPLICAS) in order. When a whole round
 *     of the list failed, wait (100 ms doubling to 2 s, with jitter).
 *   - HELLO answered: send STATUS and REPLICAS. A backup that names its
 *     primary is left for that primary at once; otherwise session.c
 *     resumes the session (RESUME) and the connection becomes READY.
 *   - READY: every request not yet sent on this connection is sent, in
 *     the order the commands made them; then session.c catches up on the
 *     messages missed while down (FETCH).
 *
 * Requests live in one list (cl->reqs) until answered. A request keeps its
 * encoded frame, so it can be re-sent on the next connection as it was —
 * same client_id and seq for mutating ones, so the server answers a repeat
 * with the stored reply instead of doing it twice — only with a new
 * request id. Requests made for one connection (STATUS/REPLICAS/RESUME of
 * the setup, the catch-up FETCH) die with it; command requests
 * (CLI_REQ_USER) survive until answered.
 *
 * Answers that are about the cluster rather than the request are handled
 * here: REDIRECT (go to the primary, re-send there), NO_PRIMARY and
 * NOT_PRIMARY (re-send after a pause; after a few seconds of it, try
 * another replica), UNAVAILABLE (re-send for a while, then report).
 *
 * Keepalive: a tick checks how long the server has been silent. After a
 * third of client_timeout_ms we PING; after all of it the server is dead
 * (paused, cut off) even if its socket looks open, and we reconnect.
 *
 * Request deadline: a server that answers PINGs but not a request (a
 * stuck handler, an answer with the wrong request id) would pass the
 * keepalive forever. So the same tick also checks the oldest request in
 * flight: unanswered after req_timeout_ms, the connection is taken as
 * broken and dropped; the request is re-sent on the next one, with the
 * same (client_id, seq), so a write the server did do is not done twice.
 * An answer whose request id matches nothing in flight is reported as a
 * notice and otherwise ignored: the request it was meant for, if any,
 * then meets its deadline.
 *
 * Every change of the connection's state is one notice line (marked
 * CLI_NOTICE_MARK): connecting, redirected, connected, lost, no replica
 * reachable. Attempts after the first round that failed are not
 * announced one by one (a dead cluster would flood the output).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "log.h"

#define BACKOFF_MIN_MS      100u
#define BACKOFF_MAX_MS      2000u
#define RETRY_MIN_MS        50u
#define RETRY_MAX_MS        5000u
#define NO_PRIMARY_ROTATE_MS 3000u	/* then try another replica */
#define UNAVAILABLE_GIVE_UP_MS 10000u	/* then report the error */
#define SHORT_LIVED_MS      1000u	/* lost sooner: back off */
#define STRAYS_SHOWN        3u	/* stray answers reported per connection */

enum down_how {
	DOWN_LOST,	/* the connection failed or died: say so */
	DOWN_SWITCH,	/* leaving on purpose for cl->redir_*: quiet */
	DOWN_ROTATE,	/* leaving on purpose for the next replica: quiet */
};

static void conn_down(struct client *cl, const char *reason,
		      enum down_how how);
static void on_connect(struct conn *c, int err);
static void on_frame(struct conn *c, const struct wire_header *h,
		     const uint8_t *payload);
static void on_close(struct conn *c, const char *reason);

static const struct conn_ops cli_conn_ops = {
	.on_connect = on_connect,
	.on_frame = on_frame,
	.on_close = on_close,
};

/* Every answer the client may decode. */
union cli_any {
	struct wire_HELLO            hello;
	struct wire_ERROR            error;
	struct wire_PING             ping;
	struct wire_PONG             pong;
	struct wire_OK               ok;
	struct wire_SESSION          session;
	struct wire_SENT             sent;
	struct wire_USER_LIST        user_list;
	struct wire_INBOX_INFO       inbox_info;
	struct wire_MESSAGES         messages;
	struct wire_DRAFT_LIST       draft_list;
	struct wire_STATUS_INFO      status_info;
	struct wire_REPLICA_LIST     replica_list;
	struct wire_REDIRECT         redirect;
	struct wire_NO_PRIMARY       no_primary;
	struct wire_PUSH_MSG         push_msg;
	struct wire_PUSH_RECEIPT     push_receipt;
	struct wire_PUSH_SESSION_END push_session_end;
};

uint64_t
cli_random(struct client *cl)
{
	/* xorshift64*: only for jitter, seeded from getrandom in main.c. */
	cl->rng ^= cl->rng >> 12;
	cl->rng ^= cl->rng << 25;
	cl->rng ^= cl->rng >> 27;
	return cl->rng * 0x2545F4914F6CDD1Dull;
}

/* ms scaled by a random factor in [0.75, 1.25): replicas restarted
 * together are not hammered by all their clients in lock step. */
static uint64_t
jitter(struct client *cl, uint64_t ms)
{
	return ms * 3 / 4 + cli_random(cl) % (ms / 2 + 1);
}

static uint64_t
now_ms(struct client *cl)
{
	return loop_now_ms(cl->loop);
}

static uint32_t
next_wire_id(struct client *cl)
{
	if (cl->next_wire_id == 0)
		cl->next_wire_id = 1;
	return cl->next_wire_id++;
}

/* Index of replica id in cl->reps, or -1. */
static int
rep_index(const struct client *cl, uint32_t id)
{
	unsigned i;

	for (i = 0; i < cl->nreps; i++)
		if (cl->reps[i].id == id)
			return (int)i;
	return -1;
}

/* ---- the request table -------------------------------------------------- */

struct cli_req *
cli_req_begin(struct client *cl, uint16_t op, void *msg, unsigned flags,
	      cli_reply_fn *fn, struct wire_enc *e)
{
	const struct wire_opdesc *d = wire_op(op);
	struct cli_req *r = calloc(1, sizeof *r);

	if (r == NULL || d == NULL)
		abort();
	r->cl = cl;
	r->op = op;
	r->flags = flags;
	r->on_reply = fn;
	buf_init(&r->frame);
	if (d->flags & WIRE_F_MUTATES) {
		/* client_id and seq are the first two fields (wire.def). */
		uint64_t id = cl->client_id, seq = ++cl->seq;
		memcpy((char *)msg + d->body.fields[0].offset, &id, sizeof id);
		memcpy((char *)msg + d->body.fields[1].offset, &seq, sizeof seq);
	}
	wire_encode_begin(e, &r->frame, op, 0, msg);
	return r;
}

void
cli_req_end(struct wire_enc *e)
{
	wire_encode_end(e);
}

struct cli_req *
cli_req_new(struct client *cl, uint16_t op, void *msg, unsigned flags,
	    cli_reply_fn *fn)
{
	struct wire_enc e;
	struct cli_req *r = cli_req_begin(cl, op, msg, flags, fn, &e);

	cli_req_end(&e);
	return r;
}

static void
req_free(struct client *cl, struct cli_req *r)
{
	if (r->retry)
		timer_cancel(cl->loop, r->retry);
	/* A LOGIN or DELETE_ACCOUNT frame holds a password. */
	if (r->frame.data)
		explicit_bzero(r->frame.data, r->frame.cap);
	buf_free(&r->frame);
	free(r);
}

static void
req_unlink(struct client *cl, struct cli_req *r)
{
	struct cli_req **pp;

	for (pp = &cl->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			r->next = NULL;
			return;
		}
}

unsigned
cli_pending_user(const struct client *cl)
{
	const struct cli_req *r;
	unsigned n = 0;

	for (r = cl->reqs; r; r = r->next)
		if (r->flags & CLI_REQ_USER)
			n++;
	return n;
}

static int
can_send(const struct client *cl, const struct cli_req *r)
{
	if (cl->conn == NULL || r->retry != NULL || r->wire_id != 0)
		return 0;
	if (cl->state == CLI_READY)
		return 1;
	return cl->state == CLI_SETUP && (r->flags & CLI_REQ_EARLY);
}

static void
req_send(struct client *cl, struct cli_req *r)
{
	r->wire_id = next_wire_id(cl);
	r->sent_at = now_ms(cl);
	put_be32(r->frame.data + 6, r->wire_id);
	log_debug("-> %s #%u", wire_op_name(r->op), (unsigned)r->wire_id);
	buf_append(conn_outbuf(cl->conn), r->frame.data, r->frame.len);
	conn_sent(cl->conn);	/* -1: closing; on_close re-queues it */
}

void
cli_req_submit(struct client *cl, struct cli_req *r)
{
	struct cli_req **pp = &cl->reqs;

	while (*pp)
		pp = &(*pp)->next;
	*pp = r;
	if (can_send(cl, r))
		req_send(cl, r);
}

/* Send everything the connection state now allows, in list order. */
static void
send_unsent(struct client *cl)
{
	struct cli_req *r;

	for (r = cl->reqs; r; r = r->next)
		if (can_send(cl, r))
			req_send(cl, r);
}

static struct cli_req *
req_find(const struct client *cl, uint32_t wire_id)
{
	struct cli_req *r;

	for (r = cl->reqs; r; r = r->next)
		if (r->wire_id == wire_id)
			return r;
	return NULL;
}

static void
retry_fire(void *ud)
{
	struct cli_req *r = ud;

	r->retry = NULL;
	if (can_send(r->cl, r))
		req_send(r->cl, r);
}

/* Re-send r on this connection after delay ms. */
static void
req_retry_later(struct client *cl, struct cli_req *r, uint64_t delay)
{
	r->wire_id = 0;
	if (r->retry)
		timer_cancel(cl->loop, r->retry);
	r->retry = timer_add(cl->loop, delay, retry_fire, r);
}

/* The connection is gone: its own requests go, the others wait for the
 * next one. */
static void
reqs_requeue(struct client *cl)
{
	struct cli_req **pp = &cl->reqs, *r;

	while ((r = *pp) != NULL) {
		if (r->retry) {
			timer_cancel(cl->loop, r->retry);
			r->retry = NULL;
		}
		r->wire_id = 0;
		if (r->flags & CLI_REQ_USER) {
			pp = &r->next;
		} else {
			*pp = r->next;
			req_free(cl, r);
		}
	}
}

void
cli_list_begin(struct wire_list_iter *it, uint16_t op,
	       const struct wire_list *l)
{
	wire_list_begin(it, wire_op(op), l);
}

/* ---- connecting --------------------------------------------------------- */

static void start_attempt(struct client *cl);

static void
attempt_fire(void *ud)
{
	struct client *cl = ud;

	cl->attempt_timer = NULL;
	start_attempt(cl);
}

static void
schedule_attempt(struct client *cl, uint64_t delay)
{
	if (cl->attempt_timer)
		timer_cancel(cl->loop, cl->attempt_timer);
	/* Always through a timer: never reconnect from inside a callback of
	 * the connection being dropped. */
	cl->attempt_timer = timer_add(cl->loop, delay, attempt_fire, cl);
}

/* The backoff delay, doubled for next time. */
static uint64_t
next_backoff(struct client *cl)
{
	uint64_t d = jitter(cl, cl->backoff_ms);

	cl->backoff_ms = cl->backoff_ms * 2 > BACKOFF_MAX_MS ?
	    BACKOFF_MAX_MS : cl->backoff_ms * 2;
	return d;
}

static void
start_attempt(struct client *cl)
{
	char err[256];
	const char *host;
	uint16_t port;

	if (cl->done || cl->conn != NULL)
		return;
	if (cl->redirect) {
		cl->redirect = 0;
		cl->idx = -1;
		cl->rid = cl->redir_id;
		host = cl->redir_host;
		port = cl->redir_port;
	} else {
		if (cl->idx < 0 || cl->idx >= (int)cl->nreps)
			cl->idx = 0;
		cl->rid = cl->reps[cl->idx].id;
		host = cl->reps[cl->idx].host;
		port = cl->reps[cl->idx].client_port;
	}
	if (cl->rounds_failed == 0)
		cli_notice("connecting to %s:%u (replica %u)", host,
		    (unsigned)port, (unsigned)cl->rid);
	log_info("connecting to replica %u at %s:%u", (unsigned)cl->rid, host,
	    (unsigned)port);
	cl->state = CLI_CONNECTING;
	cl->last_rx = cl->last_ping = now_ms(cl);
	cl->close_note[0] = '\0';
	cl->strays = 0;
	cl->got_status = cl->got_replicas = 0;
	cl->conn = loop_connect(cl->loop, host, port, &cli_conn_ops, cl,
	    WIRE_MAX_PAYLOAD_CLIENT, err, sizeof err);
	if (cl->conn == NULL) {
		log_info("%s", err);
		conn_down(cl, err, DOWN_LOST);
	}
}

/* An attempt that never got to HELLO failed: next replica, or a pause
 * after a whole round. */
static void
attempt_failed(struct client *cl)
{
	uint64_t delay = 0;

	/* A dead redirect target (a stale answer, most likely) counts as a
	 * failure of the replica that sent us there: go on after it. */
	if (cl->idx < 0)
		cl->idx = cl->redir_from;
	cl->idx = (cl->idx + 1) % (int)cl->nreps;
	if (++cl->round_tried >= cl->nreps) {
		cl->round_tried = 0;
		cl->rounds_failed++;
		/* One line for the first failed round, then every tenth. */
		if (cl->rounds_failed % 10 == 1)
			cli_notice("no replica reachable; retrying");
		delay = next_backoff(cl);
	}
	schedule_attempt(cl, delay);
}

/* Leave the current connection (if any) and plan the next attempt. */
static void
conn_down(struct client *cl, const char *reason, enum down_how how)
{
	int established = cl->state >= CLI_SETUP;
	uint64_t delay = 0;

	if (cl->conn) {
		struct conn *c = cl->conn;
		cl->conn = NULL;
		conn_set_data(c, NULL);
		conn_close(c, reason, 0);
	}
	cl->state = CLI_DOWN;
	reqs_requeue(cl);
	if (established)
		cli_session_lost(cl);
	if (cl->done)
		return;
	if (!established && how == DOWN_LOST) {
		log_info("replica %u: %s", (unsigned)cl->rid, reason);
		attempt_failed(cl);
		return;
	}
	if (how == DOWN_LOST) {
		cli_notice("connection to replica %u lost (%s); reconnecting",
		    (unsigned)cl->rid,
		    cl->close_note[0] ? cl->close_note : reason);
		cl->was_lost = 1;
	}
	if (how != DOWN_SWITCH) {
		/* Start the next round with the replica after this one, so a
		 * dead primary is tried last. */
		cl->idx = cl->idx < 0 ? cl->redir_from : cl->idx;
		cl->idx = (cl->idx + 1) % (int)cl->nreps;
		cl->round_tried = 0;
	}
	if (how == DOWN_SWITCH && cl->hops > 3)
		delay = next_backoff(cl);
	else if (how == DOWN_LOST &&
	    now_ms(cl) - cl->up_since < SHORT_LIVED_MS)
		delay = next_backoff(cl);
	schedule_attempt(cl, delay);
}

/* Leave for replica id at host:port (REDIRECT, or STATUS names it). */
static void
switch_to(struct client *cl, uint32_t id, const char *host, uint16_t port)
{
	cli_notice("redirected to replica %u by replica %u",
	    (unsigned)id, (unsigned)cl->rid);
	log_info("replica %u sends us to replica %u at %s:%u",
	    (unsigned)cl->rid, (unsigned)id, host, (unsigned)port);
	cl->redirect = 1;
	cl->redir_id = id;
	cl->redir_from = cl->idx >= 0 ? cl->idx : cl->redir_from;
	snprintf(cl->redir_host, sizeof cl->redir_host, "%s", host);
	cl->redir_port = port;
	cl->hops++;
	conn_down(cl, "redirected", DOWN_SWITCH);
}

/* A frame we cannot make sense of: the stream is not to be trusted. */
static void bad_frame(struct client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
bad_frame(struct client *cl, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%serror: bad frame from replica %u: %s\n",
	    cli_term_is_tty() ? "\r\033[K" : "", (unsigned)cl->rid, text);
	cli_term_redraw();
	log_info("bad frame from replica %u: %s", (unsigned)cl->rid, text);
	conn_down(cl, "bad frame", DOWN_LOST);
}

/* ---- the setup of a connection ------------------------------------------ */

static void
setup_step(struct client *cl)
{
	int i;

	if (cl->state != CLI_SETUP || !cl->got_status || !cl->got_replicas)
		return;
	/* A backup that follows a primary: go there. (One that is starting
	 * or electing may name a stale primary; stay, and let its
	 * NO_PRIMARY answers pace the retries.) */
	if (cl->role == CLI_ROLE_BACKUP && cl->primary_id != 0 &&
	    cl->primary_id != cl->rid &&
	    (i = rep_index(cl, cl->primary_id)) >= 0) {
		switch_to(cl, cl->primary_id, cl->reps[i].host,
		    cl->reps[i].client_port);
		return;
	}
	cli_notice("%sconnected to replica %u (%s, epoch %llu)",
	    cl->was_lost ? "re" : "", (unsigned)cl->rid,
	    cli_role_name(cl->role), (unsigned long long)cl->epoch);
	cl->was_lost = 0;
	cli_session_restore(cl);
}

static void
on_setup_status(struct client *cl, struct cli_req *r, uint16_t op,
		const void *msg)
{
	(void)r;
	if (op == WIRE_OP_STATUS_INFO) {
		const struct wire_STATUS_INFO *s = msg;
		cl->role = s->role;
		cl->epoch = s->epoch;
		cl->primary_id = s->primary_id;
		if (s->replica_id != 0)
			cl->rid = s->replica_id;
	} else {
		/* Cannot happen with a conforming server; carry on and let
		 * the answers to requests say where to go. */
		cl->role = CLI_ROLE_STARTING;
		cl->primary_id = 0;
	}
	cl->got_status = 1;
	setup_step(cl);
}

static void
on_setup_replicas(struct client *cl, struct cli_req *r, uint16_t op,
		  const void *msg)
{
	(void)r;
	if (op == WIRE_OP_REPLICA_LIST) {
		const struct wire_REPLICA_LIST *m = msg;
		struct wire_list_iter it;
		struct wire_item_REPLICA item;
		unsigned n = 0;

		cli_list_begin(&it, op, &m->replicas);
		while (n < CONFIG_MAX_REPLICAS && wire_list_next(&it, &item)) {
			struct replica_addr *a = &cl->reps[n++];
			a->id = item.id;
			snprintf(a->host, sizeof a->host, "%s", item.host);
			a->client_port = item.client_port;
			a->internal_port = item.internal_port;
		}
		if (n > 0) {
			cl->nreps = n;
			cl->idx = rep_index(cl, cl->rid);
			if (cl->redir_from >= (int)n)
				cl->redir_from = 0;
		}
	}
	cl->got_replicas = 1;
	setup_step(cl);
}

static void
send_hello(struct client *cl)
{
	struct wire_HELLO h;

	memset(&h, 0, sizeof h);
	h.version_min = WIRE_VERSION_MIN;
	h.version_max = WIRE_VERSION_MAX;
	h.kind = 1;
	h.replica_id = 0;
	snprintf(h.software, sizeof h.software, "chat %s", CHATD_VERSION);
	h.nonce.ptr = (const uint8_t *)"";
	h.nonce.len = 0;
	wire_encode(conn_outbuf(cl->conn), WIRE_OP_HELLO, next_wire_id(cl), &h);
	conn_sent(cl->conn);
	cl->state = CLI_HELLO;
}

static void
on_hello(struct client *cl, const struct wire_HELLO *h)
{
	struct wire_STATUS st;
	struct wire_REPLICAS rp;

	if (h->version_min < WIRE_VERSION_MIN ||
	    h->version_min > WIRE_VERSION_MAX) {
		bad_frame(cl, "HELLO chose version %u", (unsigned)h->version_min);
		return;
	}
	if (h->replica_id != 0)
		cl->rid = h->replica_id;
	log_info("HELLO from replica %u (%s)", (unsigned)cl->rid, h->software);
	cl->state = CLI_SETUP;
	cl->up_since = now_ms(cl);
	cl->np_since = 0;
	cl->round_tried = 0;
	cl->rounds_failed = 0;
	memset(&st, 0, sizeof st);
	memset(&rp, 0, sizeof rp);
	cli_req_submit(cl, cli_req_new(cl, WIRE_OP_STATUS, &st, CLI_REQ_EARLY,
	    on_setup_status));
	cli_req_submit(cl, cli_req_new(cl, WIRE_OP_REPLICAS, &rp,
	    CLI_REQ_EARLY, on_setup_replicas));
}

void
cli_conn_ready(struct client *cl)
{
	if (cl->state != CLI_SETUP)
		return;
	cl->state = CLI_READY;
	if (cl->role == CLI_ROLE_PRIMARY) {
		cl->hops = 0;
		cl->backoff_ms = BACKOFF_MIN_MS;
	}
	send_unsent(cl);
	cli_session_catch_up(cl);
}

/* ---- answers ------------------------------------------------------------ */

/* NO_PRIMARY, NOT_PRIMARY: the replica cannot serve r now. */
static void
no_primary(struct client *cl, struct cli_req *r, uint64_t retry_ms)
{
	uint64_t now = now_ms(cl);

	if (cl->np_since == 0) {
		cl->np_since = now;
	} else if (now - cl->np_since >= NO_PRIMARY_ROTATE_MS) {
		cl->np_since = 0;
		log_info("replica %u has had no primary for %u ms; trying "
		    "another", (unsigned)cl->rid, NO_PRIMARY_ROTATE_MS);
		conn_down(cl, "no primary", DOWN_ROTATE);
		return;
	}
	if (retry_ms < RETRY_MIN_MS)
		retry_ms = RETRY_MIN_MS;
	if (retry_ms > RETRY_MAX_MS)
		retry_ms = RETRY_MAX_MS;
	req_retry_later(cl, r, jitter(cl, retry_ms));
}

/* Handle what is about the cluster; 1 if r was dealt with here. */
static int
cluster_answer(struct client *cl, struct cli_req *r, uint16_t op,
	       const union cli_any *m)
{
	if (op == WIRE_OP_REDIRECT) {
		if (m->redirect.primary_id == cl->rid) {
			no_primary(cl, r, 100);	/* names itself: confused */
			return 1;
		}
		r->wire_id = 0;
		switch_to(cl, m->redirect.primary_id, m->redirect.host,
		    m->redirect.port);
		return 1;
	}
	if (op == WIRE_OP_NO_PRIMARY) {
		log_info("replica %u: no primary (%s)", (unsigned)cl->rid,
		    m->no_primary.reason);
		no_primary(cl, r, m->no_primary.retry_ms);
		return 1;
	}
	if (op == WIRE_OP_ERROR && m->error.code == WIRE_E_NOT_PRIMARY) {
		no_primary(cl, r, 100);
		return 1;
	}
	if (op == WIRE_OP_ERROR && m->error.code == WIRE_E_UNAVAILABLE) {
		uint64_t now = now_ms(cl);
		/* "Retry later" (PROTOCOL.md §4.3): an ERROR had no effect,
		 * so the same (client_id, seq) may go again. */
		if (r->first_unavail == 0)
			r->first_unavail = now;
		if (now - r->first_unavail < UNAVAILABLE_GIVE_UP_MS) {
			req_retry_later(cl, r, jitter(cl, 200));
			return 1;
		}
	}
	return 0;
}

static void
on_answer(struct client *cl, const struct wire_header *h, uint16_t op,
	  const union cli_any *m)
{
	struct cli_req *r = req_find(cl, h->request_id);

	if (r == NULL) {
		/* Our PINGs are not in the table; their PONGs are expected. */
		if (op == WIRE_OP_PONG)
			return;
		/* A few per connection: a confused server must not flood. */
		if (++cl->strays <= STRAYS_SHOWN)
			cli_notice("ignoring %s from replica %u: request id %u "
			    "matches no request in flight%s", wire_op_name(op),
			    (unsigned)cl->rid, (unsigned)h->request_id,
			    cl->strays == STRAYS_SHOWN ? " (further ones not "
			    "shown)" : "");
		log_info("ignoring %s for unknown request %u",
		    wire_op_name(op), (unsigned)h->request_id);
		return;
	}
	log_debug("<- %s #%u", wire_op_name(op), (unsigned)h->request_id);
	if (cluster_answer(cl, r, op, m))
		return;
	if (r->flags & CLI_REQ_USER)
		cl->np_since = 0;
	req_unlink(cl, r);
	r->on_reply(cl, r, op, m);
	req_free(cl, r);
}

/* Frames after HELLO. */
static void
dispatch(struct client *cl, const struct wire_header *h,
	 const union cli_any *m)
{
	uint16_t op = h->opcode;

	switch (op) {
	case WIRE_OP_PUSH_MSG:
	case WIRE_OP_PUSH_RECEIPT:
	case WIRE_OP_PUSH_SESSION_END:
		cli_on_push(cl, op, m);
		return;
	case WIRE_OP_PING: {
		struct wire_PONG p;
		memset(&p, 0, sizeof p);
		p.token = m->ping.token;
		wire_encode(conn_outbuf(cl->conn), WIRE_OP_PONG, h->request_id,
		    &p);
		conn_sent(cl->conn);
		return;
	}
	case WIRE_OP_HELLO:
		log_debug("ignoring a second HELLO");
		return;
	default:
		break;
	}
	if (h->request_id == 0) {
		if (op == WIRE_OP_ERROR) {
			/* About the connection; the close usually follows. */
			cli_fmt_error(cl->close_note, sizeof cl->close_note,
			    m->error.code, m->error.text);
			log_info("replica %u: %s", (unsigned)cl->rid,
			    cl->close_note);
		} else {
			log_debug("ignoring %s without request id",
			    wire_op_name(op));
		}
		return;
	}
	on_answer(cl, h, op, m);
}

static void
on_frame(struct conn *c, const struct wire_header *h, const uint8_t *payload)
{
	struct client *cl = conn_data(c);
	const struct wire_opdesc *d;
	struct wire_decode_error err;
	union cli_any m;

	if (cl == NULL || cl->conn != c)
		return;
	cl->last_rx = now_ms(cl);
	d = wire_op(h->opcode);
	if (d == NULL) {
		bad_frame(cl, "unknown opcode 0x%04x", (unsigned)h->opcode);
		return;
	}
	if (d->port == WIRE_PORT_INTERNAL || d->port == WIRE_PORT_RECORD ||
	    d->dir == WIRE_DIR_REQUEST) {
		bad_frame(cl, "unexpected %s", d->name);
		return;
	}
	if (wire_decode(d, payload, h->length, &m, &err) < 0) {
		bad_frame(cl, "%s: %s", d->name, err.text);
		return;
	}
	if (cl->state == CLI_HELLO) {
		if (h->opcode == WIRE_OP_HELLO) {
			on_hello(cl, &m.hello);
		} else if (h->opcode == WIRE_OP_ERROR) {
			cli_fmt_error(cl->close_note, sizeof cl->close_note,
			    m.error.code, m.error.text);
			if (m.error.code == WIRE_E_BAD_VERSION)
				fprintf(stderr, "chat: replica %u: %s\n",
				    (unsigned)cl->rid, cl->close_note);
			conn_down(cl, cl->close_note, DOWN_LOST);
		} else {
			bad_frame(cl, "%s before HELLO", d->name);
		}
		return;
	}
	dispatch(cl, h, &m);
}

static void
on_connect(struct conn *c, int err)
{
	struct client *cl = conn_data(c);

	if (cl == NULL || cl->conn != c)
		return;
	if (err != 0)
		return;		/* on_close follows */
	cl->last_rx = now_ms(cl);
	send_hello(cl);
}

/* The reasons net.c gives for a stream it could not parse. */
static int
is_framing_error(const char *reason)
{
	return strcmp(reason, wire_frame_strerror(WIRE_FRAME_BAD_MAGIC)) == 0 ||
	    strcmp(reason, wire_frame_strerror(WIRE_FRAME_TOO_BIG)) == 0 ||
	    strcmp(reason, wire_frame_strerror(WIRE_FRAME_BAD_VERSION)) == 0;
}

static void
on_close(struct conn *c, const char *reason)
{
	struct client *cl = conn_data(c);

	if (cl == NULL || cl->conn != c)
		return;		/* dropped on purpose earlier */
	if (is_framing_error(reason)) {
		fprintf(stderr, "%serror: bad frame from replica %u: %s\n",
		    cli_term_is_tty() ? "\r\033[K" : "", (unsigned)cl->rid,
		    reason);
		cli_term_redraw();
	}
	conn_down(cl, reason, DOWN_LOST);
}

/* ---- keepalive ---------------------------------------------------------- */

static void
send_ping(struct client *cl)
{
	struct wire_PING p;

	memset(&p, 0, sizeof p);
	p.token = cli_random(cl);
	/* Not in the table: the PONG only proves the server is alive, and
	 * any frame does that (an unknown id is ignored). */
	wire_encode(conn_outbuf(cl->conn), WIRE_OP_PING, next_wire_id(cl), &p);
	conn_sent(cl->conn);
	cl->last_ping = now_ms(cl);
}

/* The tick's period: a sixth of the shorter of the two timeouts. */
static uint64_t
tick_ms(const struct client *cl)
{
	unsigned t = cl->cfg.client_timeout_ms;

	if (cl->req_timeout_ms < t)
		t = cl->req_timeout_ms;
	return t / 6 ? t / 6 : 1;
}

/* The request in flight on this connection sent longest ago, or NULL. */
static const struct cli_req *
oldest_in_flight(const struct client *cl)
{
	const struct cli_req *r, *old = NULL;

	for (r = cl->reqs; r; r = r->next)
		if (r->wire_id != 0 && (old == NULL || r->sent_at < old->sent_at))
			old = r;
	return old;
}

static void
tick(void *ud)
{
	struct client *cl = ud;
	unsigned timeout = cl->cfg.client_timeout_ms;
	uint64_t now = now_ms(cl), silent;
	const struct cli_req *old;

	cl->tick = timer_add(cl->loop, tick_ms(cl), tick, cl);
	if (cl->conn == NULL)
		return;
	silent = now - cl->last_rx;
	if (silent >= timeout) {
		conn_down(cl, "timeout", DOWN_LOST);
		return;
	}
	old = oldest_in_flight(cl);
	if (old != NULL && now - old->sent_at >= cl->req_timeout_ms) {
		char why[128];

		snprintf(why, sizeof why, "no answer to %s in %u ms",
		    wire_op_name(old->op), cl->req_timeout_ms);
		conn_down(cl, why, DOWN_LOST);
		return;
	}
	if (cl->state >= CLI_SETUP && silent >= timeout / 3 &&
	    now - cl->last_ping >= timeout / 3)
		send_ping(cl);
}

/* ---- start and stop ----------------------------------------------------- */

void
cli_conn_start(struct client *cl)
{
	unsigned i;

	for (i = 0; i < cl->cfg.nreplicas && i < CONFIG_MAX_REPLICAS; i++)
		cl->reps[i] = cl->cfg.replicas[i];
	cl->nreps = i;
	cl->idx = 0;
	cl->redir_from = 0;
	cl->backoff_ms = BACKOFF_MIN_MS;
	if (cl->req_timeout_ms == 0)
		cl->req_timeout_ms = 2 * cl->cfg.client_timeout_ms;
	cl->tick = timer_add(cl->loop, tick_ms(cl), tick, cl);
	schedule_attempt(cl, 0);
}

void
cli_conn_shutdown(struct client *cl)
{
	struct cli_req *r;

	if (cl->attempt_timer)
		timer_cancel(cl->loop, cl->attempt_timer);
	if (cl->tick)
		timer_cancel(cl->loop, cl->tick);
	cl->attempt_timer = cl->tick = NULL;
	if (cl->conn) {
		conn_set_data(cl->conn, NULL);
		conn_close(cl->conn, "quit", 1);
		cl->conn = NULL;
	}
	while ((r = cl->reqs) != NULL) {
		cl->reqs = r->next;
		req_free(cl, r);
	}
	cl->state = CLI_DOWN;
}
