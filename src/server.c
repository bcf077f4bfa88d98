/*
 * server.c — the client port of one replica: connection life cycle, the
 * checks every request passes before its handler (dispatch), sessions and
 * the online map, and the write path with group commit (see server.h).
 *
 * Dispatch order for each frame, so a handler only ever sees a valid,
 * permitted request:
 *   1. before HELLO: only HELLO (else ERROR HELLO_FIRST and close);
 *   2. opcode known (UNKNOWN_OPCODE), a client request (WRONG_PORT);
 *   3. non-zero request id; requests in flight under the limit;
 *   4. payload decodes against the table (BAD_FIELD / TOO_LONG / ...);
 *   5. not WIRE_F_ANY: this replica is the primary (else NO_PRIMARY /
 *      REDIRECT);
 *   6. WIRE_F_AUTH: a live session (NOT_LOGGED_IN / BAD_TOKEN);
 *   7. WIRE_F_MUTATES: a retried (client_id, seq) gets its stored reply;
 *   8. the handler, from a table generated from wire.def.
 *
 * Connection limits, each a setting: max_clients (SERVER_FULL at accept),
 * hello_timeout_ms (a timer per connection until HELLO), idle_timeout_ms
 * (connections without a session; the periodic sweep below), max_inflight
 * (step 3), max_output_kb (net.c's output cap), and the frame size
 * (WIRE_MAX_REQUEST, the listener's limit).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "server.h"

/* Slide a session's expiry at most this often (a record each time), and
 * at least four times per lifetime so a short TTL still slides. */
#define SESSION_TOUCH_MS (60u * 1000u)
#define FULL_LOG_MS      (10u * 1000u)	/* "max_clients reached" lines */

static uint64_t
touch_interval_ms(const struct config *cfg)
{
	uint64_t quarter = cfg->session_ttl_s * 1000ull / 4;

	return quarter < SESSION_TOUCH_MS ? quarter : SESSION_TOUCH_MS;
}

const char *
role_name(enum role r)
{
	return wire_role_name((unsigned)r);
}

uint64_t
server_now(const struct server *s)
{
	return s->now;
}

int
username_valid(const char *name)
{
	size_t n = strlen(name);
	size_t i;

	if (n < 1 || n > CHAT_MAX_USERNAME)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return 0;
	}
	return 1;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL) {
		log_error("out of memory");
		abort();
	}
	return p;
}

/* ---- the online map ----------------------------------------------------- */

static struct client **
online_bucket(struct server *s, uint64_t uid)
{
	return &s->online[(uid * 0x9E3779B97F4A7C15ull) >> 52 &
	    (ONLINE_BUCKETS - 1)];
}

struct client *
online_next(struct client *c, uint64_t uid)
{
	for (c = c->online_next; c; c = c->online_next)
		if (c->uid == uid)
			return c;
	return NULL;
}

struct client *
online_first(struct server *s, uint64_t uid)
{
	struct client *c = *online_bucket(s, uid);

	if (c == NULL || c->uid == uid)
		return c;
	return online_next(c, uid);
}

int
user_online(struct server *s, uint64_t uid)
{
	return online_first(s, uid) != NULL;
}

void
client_login(struct client *c, uint64_t uid, const char *username,
	     const uint8_t token_hash[32], uint64_t expires_at)
{
	struct client **b;

	if (c->uid)
		client_logout(c);
	c->uid = uid;
	snprintf(c->username, sizeof c->username, "%s", username);
	memcpy(c->token_hash, token_hash, 32);
	c->expires_at = expires_at;
	b = online_bucket(c->srv, uid);
	c->online_next = *b;
	*b = c;
}

void
client_logout(struct client *c)
{
	struct client **pp;

	if (c->uid == 0)
		return;
	for (pp = online_bucket(c->srv, c->uid); *pp; pp = &(*pp)->online_next)
		if (*pp == c) {
			*pp = c->online_next;
			break;
		}
	c->online_next = NULL;
	c->uid = 0;
	c->username[0] = '\0';
	auth_wipe(c->token_hash, sizeof c->token_hash);
}

/* ---- sending ------------------------------------------------------------ */

static struct pending *
pending_append(struct server *s)
{
	struct pending *p = s->spare;

	if (p) {
		s->spare = p->next;
		s->nspare--;
		p->next = NULL;
	} else {
		p = xcalloc(1, sizeof *p);
		buf_init(&p->reply);
		buf_init(&p->payload);
	}
	if (s->pending_tail)
		s->pending_tail->next = p;
	else
		s->pending = p;
	s->pending_tail = p;
	return p;
}

/* Keep up to PENDING_SPARE entries, with small buffers, for reuse: a
 * request costs no allocation in the steady state. */
#define PENDING_SPARE     256
#define PENDING_KEEP_BUF  4096

static void
pending_free(struct server *s, struct pending *p)
{
	/* May hold a token. What lies past len was wiped before an earlier
	 * reuse, or never written. */
	auth_wipe(p->reply.data, p->reply.len);
	if (s->nspare >= PENDING_SPARE || p->reply.cap > PENDING_KEEP_BUF ||
	    p->payload.cap > PENDING_KEEP_BUF) {
		buf_free(&p->reply);
		buf_free(&p->payload);
		free(p);
		return;
	}
	buf_reset(&p->reply);
	buf_reset(&p->payload);
	*p = (struct pending){ .reply = p->reply, .payload = p->payload,
	    .next = s->spare };
	s->spare = p;
	s->nspare++;
}

static void
spare_free(struct server *s)
{
	struct pending *p;

	while ((p = s->spare) != NULL) {
		s->spare = p->next;
		buf_free(&p->reply);
		buf_free(&p->payload);
		free(p);
	}
	s->nspare = 0;
}

/* Write one frame with an encoded payload straight to the connection. */
static void
send_now(struct client *c, uint16_t op, uint32_t request_id,
	 const uint8_t *payload, size_t len)
{
	wire_frame_append(conn_outbuf(c->conn), op, request_id, payload, len);
	conn_sent(c->conn);
	if (request_id) {
		if (c->inflight)
			c->inflight--;
		/* Waiting for our answer was not idleness: the idle time
		 * counts from the answer. */
		c->last_active = loop_now_ms(c->srv->loop);
	}
}

/* Queue a reply to leave after the writes pending now have committed. */
static void
queue_reply(struct client *c, uint16_t op, uint32_t request_id,
	    const uint8_t *payload, size_t len)
{
	struct pending *p = pending_append(c->srv);
	uint64_t last_epoch;

	p->client = c;
	p->request_id = request_id;
	p->reply_op = op;
	/* It answers after everything written before it. */
	store_last(c->srv->store, &last_epoch, &p->wait_lsn);
	buf_append(&p->reply, payload, len);
	c->npending++;
}

/* Does the log hold records the whole ISR has not acknowledged yet? A
 * read answered now could show one of them, and a crash could still lose
 * it: such answers wait for the commit point like a write's. */
static int
unacknowledged_records(const struct server *s)
{
	uint64_t last_epoch, last_lsn;

	if (s->role != ROLE_PRIMARY)
		return 0;
	store_last(s->store, &last_epoch, &last_lsn);
	return last_lsn > s->repl.commit_lsn;
}

/* Answers about the replica itself show no chat data: they never wait. */
static int
shows_chat_data(uint16_t op)
{
	return op != WIRE_OP_STATUS_INFO && op != WIRE_OP_REPLICA_LIST &&
	    op != WIRE_OP_PONG && op != WIRE_OP_HELLO &&
	    op != WIRE_OP_REDIRECT && op != WIRE_OP_NO_PRIMARY;
}

void
client_send_encoded(struct client *c, uint16_t op, uint32_t request_id,
		    const uint8_t *payload, size_t len)
{
	if (conn_is_closing(c->conn))
		return;
	/* Before HELLO is done nothing can show chat data, and the answer
	 * often precedes a close that would drop a queued reply. */
	if (request_id != 0 && (c->npending > 0 ||
	    (c->hello_done && shows_chat_data(op) &&
	    unacknowledged_records(c->srv))))
		queue_reply(c, op, request_id, payload, len);
	else
		send_now(c, op, request_id, payload, len);
}

void
client_send(struct client *c, uint16_t op, uint32_t request_id,
	    const void *msg)
{
	struct buf *b = &c->srv->scratch_reply;

	buf_reset(b);
	wire_encode_payload(b, &wire_op(op)->body, msg);
	client_send_encoded(c, op, request_id, buf_head(b), buf_pending(b));
}

void
client_error(struct client *c, uint32_t request_id, uint16_t code,
	     uint16_t about_op, const char *fmt, ...)
{
	struct wire_ERROR e;
	va_list ap;

	va_start(ap, fmt);
	wire_error_vfill(&e, code, about_op, fmt, ap);
	va_end(ap);
	log_debug("client %llu: %s -> %s: %s", (unsigned long long)c->serial,
	    wire_op_name(about_op), wire_err_name(code), e.text);
	client_send(c, WIRE_OP_ERROR, request_id, &e);
}

/* ---- the write path ------------------------------------------------------ */

/* A storage failure: nothing of this turn can be acknowledged. */
void
server_storage_failed(struct server *s, const char *what)
{
	struct pending *p, *next;

	log_error("storage failure (%s): refusing all writes and stopping", what);
	store_rollback(s->store);
	for (p = s->pending; p; p = next) {
		next = p->next;
		pending_free(s, p);
	}
	s->pending = s->pending_tail = NULL;
	s->fatal = 1;
	loop_stop(s->loop);
}

/*
 * Make a record, apply it in this turn's transaction, and queue what must
 * happen once it is acknowledged: c's reply (if c and reply) and its
 * effects (push.c). c is NULL for records the system writes itself.
 */
static int
write_record(struct server *s, struct client *c, uint32_t request_id,
	     const struct mut *m, uint64_t uid, uint16_t rec_type,
	     const struct buf *payload, uint16_t reply_op,
	     const struct buf *reply, int store_result)
{
	struct wire_item_RECORD r;
	struct pending *p;
	uint64_t last_epoch, last_lsn;

	if (s->fatal || s->role != ROLE_PRIMARY)
		return -1;
	store_last(s->store, &last_epoch, &last_lsn);
	memset(&r, 0, sizeof r);
	r.epoch = s->epoch;
	r.lsn = last_lsn + 1;
	r.type = rec_type;
	r.client_id = m ? m->client_id : 0;
	r.seq = m ? m->seq : 0;
	r.at = server_now(s);
	r.payload.ptr = buf_head(payload);
	r.payload.len = (uint32_t)buf_pending(payload);
	if (reply && store_result) {
		r.reply_op = reply_op;
		r.reply.ptr = buf_head(reply);
		r.reply.len = (uint32_t)buf_pending(reply);
	}
	if (server_apply_record(s, &r) < 0)
		return -1;
	p = pending_append(s);
	p->lsn = r.lsn;
	p->wait_lsn = r.lsn;
	p->at = r.at;
	p->type = rec_type;
	p->uid = uid;
	buf_append(&p->payload, r.payload.ptr, r.payload.len);
	if (c && reply && request_id) {
		p->client = c;
		p->request_id = request_id;
		p->reply_op = reply_op;
		buf_append(&p->reply, buf_head(reply), buf_pending(reply));
		c->npending++;
	}
	return 0;
}

int
server_write_encoded(struct client *c, uint32_t request_id,
		     const struct mut *m, uint64_t uid, uint16_t rec_type,
		     const struct buf *payload, uint16_t reply_op,
		     const struct buf *reply, int store_result)
{
	return write_record(c->srv, c, request_id, m, uid, rec_type, payload,
	    reply_op, reply, store_result);
}

int
server_write_system(struct server *s, uint16_t type, const struct buf *payload)
{
	return write_record(s, NULL, 0, NULL, 0, type, payload, 0, NULL, 0);
}

/* Apply rec in this turn's transaction (opened if need be) and let the
 * replication layer see what it changed. */
int
server_apply_record(struct server *s, const struct wire_item_RECORD *rec)
{
	if (s->fatal)
		return -1;
	if (!store_in_txn(s->store) && store_begin(s->store) < 0) {
		server_storage_failed(s, "begin");
		return -1;
	}
	if (store_apply(s->store, rec) < 0) {
		server_storage_failed(s, wire_op_name(rec->type));
		return -1;
	}
	if (rec->type == WIRE_OP_R_ISR)
		repl_isr_applied(&s->repl);
	if (rec->type == WIRE_OP_R_MEMBERS)
		repl_members_applied(&s->repl);
	return 0;
}

int
server_write(struct client *c, uint32_t request_id, const struct mut *m,
	     uint64_t uid, uint16_t rec_type, const void *rec,
	     uint16_t reply_op, const void *reply)
{
	struct server *s = c->srv;

	buf_reset(&s->scratch);
	wire_encode_payload(&s->scratch, &wire_op(rec_type)->body, rec);
	buf_reset(&s->scratch_reply);
	if (reply)
		wire_encode_payload(&s->scratch_reply, &wire_op(reply_op)->body,
		    reply);
	return server_write_encoded(c, request_id, m, uid, rec_type,
	    &s->scratch, reply_op, reply ? &s->scratch_reply : NULL, 1);
}

uint64_t
server_committed_lsn(const struct server *s)
{
	return s->committed_lsn;
}

/* Local commit of this turn's records; 0 or -1 (fatal, handled). */
static int
commit_local(struct server *s)
{
	uint64_t e;

	if (store_in_txn(s->store) && store_commit(s->store) < 0) {
		server_storage_failed(s, "commit");
		return -1;
	}
	store_last(s->store, &e, &s->committed_lsn);
	return 0;
}

void
server_release(struct server *s)
{
	struct pending *p;
	uint64_t upto = s->repl.commit_lsn;

	if (s->role != ROLE_PRIMARY)
		return;
	/* In order: a reply never overtakes one queued before it. */
	while ((p = s->pending) != NULL && p->wait_lsn <= upto) {
		s->pending = p->next;
		if (s->pending == NULL)
			s->pending_tail = NULL;
		if (p->client) {
			p->client->npending--;
			if (p->request_id)
				send_now(p->client, p->reply_op, p->request_id,
				    buf_head(&p->reply), buf_pending(&p->reply));
		}
		if (p->lsn)
			push_effects(s, p);
		pending_free(s, p);
	}
}

void
server_commit(struct server *s)
{
	if (s->fatal)
		return;
	repl_check_pause(&s->repl);
	/* Ship first: the backups' fsyncs overlap ours. */
	if (s->role == ROLE_PRIMARY)
		repl_ship_all(&s->repl);
	if (commit_local(s) < 0)
		return;
	if (s->role == ROLE_PRIMARY)
		repl_snap_progress(&s->repl);
	if (s->repl.need_ack)
		repl_send_ack(&s->repl);
	if (s->role == ROLE_PRIMARY) {
		repl_update_commit(&s->repl);
		server_release(s);
	}
}

static void
before_sleep(void *ud)
{
	struct server *s = ud;

	server_commit(s);
	/* Between frames: a membership change may drop peers now. */
	if (s->repl.members_dirty)
		repl_members_sync(&s->repl);
}

static void
drop_pending(struct server *s)
{
	struct pending *p, *next;

	for (p = s->pending; p; p = next) {
		next = p->next;
		if (p->client)
			p->client->npending--;
		pending_free(s, p);
	}
	s->pending = s->pending_tail = NULL;
}

void
server_became_primary(struct server *s)
{
	if (store_max_ids(s->store, &s->last_msg_id, &s->last_draft_id) < 0)
		server_storage_failed(s, "reading ids");
	s->repl.commit_lsn = 0;
}

void
server_lost_primacy(struct server *s)
{
	struct client *c;

	/* Their records may never be acknowledged: the clients retry with
	 * the same (client_id, seq) on the new primary, which answers from
	 * its stored results if the record did make it. */
	drop_pending(s);
	for (c = s->clients; c; c = c->next) {
		client_logout(c);
		conn_close(c->conn, "this replica is no longer the primary", 1);
	}
}

int
server_install_snapshot(struct server *s, const char *path)
{
	struct repl *r = &s->repl;
	char err[300];

	s->store = store_install(s->store, s->data_dir, path,
	    (int)s->cfg->sync_full, err, sizeof err);
	if (s->store == NULL) {
		log_error("installing a snapshot failed: %s", err);
		s->fatal = 1;
		loop_stop(s->loop);
		return -1;
	}
	/* The file carries the primary's own promises; ours stand. */
	if (store_meta_set_u64(s->store, "promised", r->promised) < 0 ||
	    store_meta_set_u64(s->store, "epoch", s->epoch) < 0) {
		server_storage_failed(s, "restoring promises");
		return -1;
	}
	memset(&r->isr.set_at, 0, sizeof r->isr.set_at);
	repl_isr_applied(r);
	repl_members_applied(r);
	commit_local(s);
	return 0;
}

/* ---- password jobs -------------------------------------------------------- */

void
client_job_start(struct client *c, struct auth_job *j)
{
	j->ud = c;
	c->job = j;
	conn_pause_input(c->conn, 1);
	auth_submit(j);
}

struct client *
client_job_finish(struct auth_job *j)
{
	struct client *c = j->ud;

	if (c) {
		repl_check_pause(&c->srv->repl);
		c->srv->now = wall_ms();
		c->job = NULL;
		conn_pause_input(c->conn, 0);
	}
	return c;
}

/* ---- dispatch -------------------------------------------------------------- */

typedef void handler_fn(struct client *c, uint32_t request_id,
			const void *req);

/* Thunks give every handler one signature without casting function
 * pointers (calling through a mismatched type is undefined). */
#define THUNK_WIRE_DIR_REQUEST(NAME) \
	static void thunk_##NAME(struct client *c, uint32_t rid, \
				 const void *req) \
	{ handle_##NAME(c, rid, (const struct wire_##NAME *)req); }
#define THUNK_WIRE_DIR_ANY(NAME)
#define THUNK_WIRE_DIR_RESPONSE(NAME)
#define THUNK_WIRE_DIR_PUSH(NAME)
#define THUNK_WIRE_DIR_PEER(NAME)
#define THUNK_WIRE_DIR_LOG(NAME)
#define THUNK(NAME, num, port, dir, flags, doc) THUNK_##dir(NAME)
WIRE_OPS(THUNK)

#define SLOT_WIRE_DIR_REQUEST(NAME) [WIRE_OP_##NAME & 0xFF] = thunk_##NAME,
#define SLOT_WIRE_DIR_ANY(NAME)
#define SLOT_WIRE_DIR_RESPONSE(NAME)
#define SLOT_WIRE_DIR_PUSH(NAME)
#define SLOT_WIRE_DIR_PEER(NAME)
#define SLOT_WIRE_DIR_LOG(NAME)
#define SLOT(NAME, num, port, dir, flags, doc) SLOT_##dir(NAME)
/* Client requests are 0x01xx; indexed by the low byte. */
static handler_fn *const handlers[256] = { WIRE_OPS(SLOT) };

/* Large enough for the decoded form of any opcode. */
union any_msg {
#define ANY_MEMBER(NAME, num, port, dir, flags, doc) struct wire_##NAME NAME;
	WIRE_OPS(ANY_MEMBER)
};

static uint64_t
u64_field(const struct wire_opdesc *d, const void *msg, unsigned i)
{
	uint64_t v;

	memcpy(&v, (const unsigned char *)msg + d->body.fields[i].offset,
	    sizeof v);
	return v;
}

static void
hello_timeout(void *ud)
{
	struct client *c = ud;

	c->hello_timer = NULL;
	client_error(c, 0, WIRE_E_TIMEOUT, 0, "no HELLO within %u ms",
	    c->srv->cfg->hello_timeout_ms);
	conn_close(c->conn, "no HELLO in time", 1);
}

/*
 * Idle connections without a session (PROTOCOL.md §4.4): past HELLO (the
 * HELLO deadline governs before), not logged in, no request in flight or
 * password job running, and nothing received or answered for
 * idle_timeout_ms: ERROR TIMEOUT (request id 0), flushed, then closed.
 * Logged-in connections are exempt: their client PINGs to stay alive.
 *
 * One periodic sweep rather than a timer per connection: that timer would
 * have to be re-armed on every frame, a heap operation (O(log n)) on the
 * hottest path for the sake of a rare event, whereas activity here is one
 * store of the pass's cached clock and the sweep walks the clients once
 * per period (20000 connections: a fraction of a millisecond a second).
 * The price is precision: a connection goes between idle_timeout_ms and
 * idle_timeout_ms + IDLE_SWEEP_MAX_MS after its last activity, the period
 * being a quarter of the limit and at most a second.
 */
#define IDLE_SWEEP_MAX_MS 1000u

static uint64_t
idle_sweep_period(const struct config *cfg)
{
	uint64_t q = cfg->idle_timeout_ms / 4;

	return q < IDLE_SWEEP_MAX_MS ? q : IDLE_SWEEP_MAX_MS;
}

static void
idle_sweep(void *ud)
{
	struct server *s = ud;
	uint64_t now = loop_now_ms(s->loop), limit = s->cfg->idle_timeout_ms;
	struct client *c;

	for (c = s->clients; c; c = c->next) {
		if (c->uid || !c->hello_done || c->inflight || c->job ||
		    conn_is_closing(c->conn) || now < c->last_active ||
		    now - c->last_active < limit)
			continue;
		client_error(c, 0, WIRE_E_TIMEOUT, 0,
		    "idle for %llu ms without a session",
		    (unsigned long long)limit);
		conn_close(c->conn, "idle without a session", 1);
	}
	s->idle_sweep = timer_add(s->loop, idle_sweep_period(s->cfg),
	    idle_sweep, s);
}

static void
on_hello(struct client *c, const struct wire_header *h, const uint8_t *payload)
{
	struct wire_decode_error err;
	struct wire_HELLO in, out;
	unsigned v;

	if (h->opcode != WIRE_OP_HELLO) {
		client_error(c, h->request_id, WIRE_E_HELLO_FIRST, h->opcode,
		    "HELLO must be the first frame");
		conn_close(c->conn, "no HELLO first", 1);
		return;
	}
	if (wire_decode(wire_op(WIRE_OP_HELLO), payload, h->length, &in,
	    &err) < 0) {
		client_error(c, h->request_id, err.code, h->opcode, "%s",
		    err.text);
		conn_close(c->conn, "bad HELLO", 1);
		return;
	}
	v = wire_version_choose(in.version_min, in.version_max);
	if (v == 0) {
		client_error(c, h->request_id, WIRE_E_BAD_VERSION, h->opcode,
		    "no common version: we speak %d-%d", WIRE_VERSION_MIN,
		    WIRE_VERSION_MAX);
		conn_close(c->conn, "no common version", 1);
		return;
	}
	memset(&out, 0, sizeof out);
	out.version_min = out.version_max = (uint8_t)v;
	out.kind = 2;
	out.replica_id = c->srv->self->id;
	snprintf(out.software, sizeof out.software, "chatd %s", CHATD_VERSION);
	client_send(c, WIRE_OP_HELLO, h->request_id, &out);
	c->hello_done = 1;
	if (c->hello_timer) {
		timer_cancel(c->srv->loop, c->hello_timer);
		c->hello_timer = NULL;
	}
}

int
server_retry_answer(struct client *c, uint32_t rid, const struct mut *m)
{
	struct server *s = c->srv;
	struct buf *reply = &s->scratch_reply;
	uint16_t reply_op;
	int rc = store_request_find(s->store, m->client_id, m->seq, &reply_op,
	    reply);

	if (rc < 0) {
		client_error(c, rid, WIRE_E_INTERNAL, 0, "storage error");
		return 1;
	}
	if (rc == 2) {
		client_error(c, rid, WIRE_E_RETRY_TOO_OLD, 0, "the result of "
		    "request %llu is no longer kept; it may or may not have "
		    "taken effect", (unsigned long long)m->seq);
		return 1;
	}
	if (rc != 0 || reply_op == 0)
		return 0;	/* new, or a LOGIN (no stored reply): run it */
	log_debug("client %llu: retry of seq %llu answered from the stored "
	    "result", (unsigned long long)c->serial,
	    (unsigned long long)m->seq);
	/* Its record may not be acknowledged by the whole ISR yet (nor even
	 * committed here): answer when everything logged so far is. */
	queue_reply(c, reply_op, rid, buf_head(reply), buf_pending(reply));
	return 1;
}

/* Steps 5-7 of the dispatch order (primary first: a backup redirects even
 * a connection that has no session yet); returns 1 if the request was answered. */
static int
check_session_and_retry(struct client *c, const struct wire_opdesc *d,
			uint32_t rid, const void *msg)
{
	struct server *s = c->srv;
	uint64_t now = server_now(s);

	if (!(d->flags & WIRE_F_ANY) && s->repl.removed) {
		client_error(c, rid, WIRE_E_NOT_PRIMARY, d->opcode, "replica "
		    "%u was removed from the cluster: use another replica",
		    s->self->id);
		return 1;
	}
	if (!(d->flags & WIRE_F_ANY) && s->role != ROLE_PRIMARY) {
		const struct replica_addr *a = s->role == ROLE_BACKUP ?
		    repl_member(&s->repl, s->primary_id) : NULL;

		if (a) {
			struct wire_REDIRECT rd;
			memset(&rd, 0, sizeof rd);
			rd.primary_id = a->id;
			snprintf(rd.host, sizeof rd.host, "%s", a->host);
			rd.port = a->client_port;
			client_send(c, WIRE_OP_REDIRECT, rid, &rd);
		} else {
			struct wire_NO_PRIMARY np;
			memset(&np, 0, sizeof np);
			np.retry_ms = 100;
			snprintf(np.reason, sizeof np.reason, "replica %u is "
			    "%s: %.150s", s->self->id, role_name(s->role),
			    s->repl.note);
			client_send(c, WIRE_OP_NO_PRIMARY, rid, &np);
		}
		return 1;
	}
	if ((d->flags & WIRE_F_MUTATES) && s->repl.isr.n < s->cfg->min_isr) {
		client_error(c, rid, WIRE_E_UNAVAILABLE, d->opcode,
		    "only %u in-sync replicas, min_isr is %u", s->repl.isr.n,
		    s->cfg->min_isr);
		return 1;
	}
	if (d->flags & WIRE_F_AUTH) {
		if (c->uid == 0) {
			client_error(c, rid, WIRE_E_NOT_LOGGED_IN, d->opcode,
			    "log in first");
			return 1;
		}
		if (now >= c->expires_at) {
			/* Another connection may have slid the expiry. */
			struct store_session ss;
			if (store_session_find(s->store, c->token_hash, &ss) != 0 ||
			    now >= ss.expires_at) {
				client_logout(c);
				client_error(c, rid, WIRE_E_BAD_TOKEN, d->opcode,
				    "session expired; log in again");
				return 1;
			}
			c->expires_at = ss.expires_at;
		}
	}
	if (s->fatal) {
		client_error(c, rid, WIRE_E_INTERNAL, d->opcode,
		    "replica stopping after a storage failure");
		return 1;
	}
	if (d->flags & WIRE_F_MUTATES) {
		struct mut m = { u64_field(d, msg, 0), u64_field(d, msg, 1) };

		if (server_retry_answer(c, rid, &m))
			return 1;
	}
	/* Slide the session's expiry (not on every request: each slide is a
	 * record). */
	if (c->uid && c->expires_at + touch_interval_ms(s->cfg) <
	    now + s->cfg->session_ttl_s * 1000ull) {
		struct wire_R_SESSION_TOUCH t;
		memset(&t, 0, sizeof t);
		t.token_hash.ptr = c->token_hash;
		t.token_hash.len = 32;
		t.expires_at = now + s->cfg->session_ttl_s * 1000ull;
		if (server_write(c, 0, NULL, c->uid, WIRE_OP_R_SESSION_TOUCH,
		    &t, 0, NULL) == 0)
			c->expires_at = t.expires_at;
	}
	return 0;
}

static void
on_client_frame(struct conn *conn, const struct wire_header *h,
		const uint8_t *payload)
{
	struct client *c = conn_data(conn);
	const struct wire_opdesc *d;
	struct wire_decode_error err;
	union any_msg msg;
	handler_fn *fn;

	repl_check_pause(&c->srv->repl);
	c->srv->now = wall_ms();
	c->last_active = loop_now_ms(c->srv->loop);
	if (!c->hello_done) {
		on_hello(c, h, payload);
		return;
	}
	d = wire_op(h->opcode);
	if (d == NULL) {
		client_error(c, h->request_id, WIRE_E_UNKNOWN_OPCODE, h->opcode,
		    "unknown opcode 0x%04x", h->opcode);
		return;
	}
	if (h->opcode == WIRE_OP_PONG || h->opcode == WIRE_OP_ERROR)
		return;		/* nothing to answer */
	if (h->opcode == WIRE_OP_HELLO) {
		client_error(c, h->request_id, WIRE_E_BAD_REQUEST, h->opcode,
		    "HELLO was already done");
		return;
	}
	if (h->opcode != WIRE_OP_PING && (d->port != WIRE_PORT_CLIENT ||
	    d->dir != WIRE_DIR_REQUEST)) {
		client_error(c, h->request_id, WIRE_E_WRONG_PORT, h->opcode,
		    "%s is not a request on the client port", d->name);
		return;
	}
	if (h->request_id == 0) {
		client_error(c, 0, WIRE_E_BAD_REQUEST, h->opcode,
		    "request id 0 is reserved for pushes");
		return;
	}
	if (c->inflight >= c->srv->cfg->max_inflight) {
		c->inflight++;	/* the error answers it */
		client_error(c, h->request_id, WIRE_E_TOO_MANY_REQUESTS,
		    h->opcode, "more than %u requests in flight",
		    c->srv->cfg->max_inflight);
		return;
	}
	c->inflight++;
	if (wire_decode(d, payload, h->length, &msg, &err) < 0) {
		client_error(c, h->request_id, err.code, h->opcode, "%s",
		    err.text);
		return;
	}
	if (h->opcode == WIRE_OP_PING) {
		client_send(c, WIRE_OP_PONG, h->request_id, &msg.PING);
		return;
	}
	if (check_session_and_retry(c, d, h->request_id, &msg))
		return;
	fn = handlers[h->opcode & 0xFF];
	log_debug("client %llu: %s", (unsigned long long)c->serial, d->name);
	fn(c, h->request_id, &msg);
}

static void
on_client_accept(struct conn *conn)
{
	struct server *s = conn_data(conn);
	struct client *c;

	if (s->nclients >= s->cfg->max_clients) {
		struct buf *out = conn_outbuf(conn);
		uint64_t now = loop_now_ms(s->loop);

		/* At most one line per FULL_LOG_MS, however many knock. */
		if (s->full_logged_ms == 0 || now - s->full_logged_ms >=
		    FULL_LOG_MS) {
			log_warn("refusing client connections: max_clients "
			    "(%u) reached (%s is one)", s->cfg->max_clients,
			    conn_peer(conn));
			s->full_logged_ms = now;
		}
		wire_encode_error(out, 0, WIRE_E_SERVER_FULL, 0,
		    "server full (%u connections)", s->cfg->max_clients);
		conn_sent(conn);
		conn_set_data(conn, NULL);
		conn_close(conn, "server full", 1);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->srv = s;
	c->conn = conn;
	c->serial = ++s->next_serial;
	conn_set_data(conn, c);
	conn_set_output_cap(conn, (size_t)s->cfg->max_output_kb * 1024);
	c->last_active = loop_now_ms(s->loop);
	c->hello_timer = timer_add(s->loop, s->cfg->hello_timeout_ms,
	    hello_timeout, c);
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->nclients++;
	log_debug("client %llu connected from %s", (unsigned long long)c->serial,
	    conn_peer(conn));
}

static void
on_client_close(struct conn *conn, const char *reason)
{
	struct client *c = conn_data(conn);
	struct server *s;
	struct pending *p;

	if (c == NULL)
		return;		/* refused at accept */
	s = c->srv;
	if (strcmp(reason, CONN_OUTPUT_FULL) == 0)	/* an operator's concern */
		log_info("client %llu (%s%s) dropped: it reads too slowly, "
		    "%u KiB of output waiting", (unsigned long long)c->serial,
		    c->uid ? "user " : "not logged in",
		    c->uid ? c->username : "", s->cfg->max_output_kb);
	else
		log_debug("client %llu closed: %s",
		    (unsigned long long)c->serial, reason);
	if (c->hello_timer)
		timer_cancel(s->loop, c->hello_timer);
	if (c->job)
		c->job->ud = NULL;	/* the job finishes without us */
	for (p = s->pending; p && c->npending; p = p->next)
		if (p->client == c) {
			p->client = NULL;
			c->npending--;
		}
	client_logout(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nclients--;
	free(c);
}

static const struct conn_ops client_ops = {
	.on_accept = on_client_accept,
	.on_frame = on_client_frame,
	.on_close = on_client_close,
};

/* ---- set-up ------------------------------------------------------------------ */

int
server_init(struct server *s, const struct config *cfg,
	    const struct replica_addr *self, struct loop *l, struct store *st,
	    const char *data_dir, char *err, size_t errlen)
{
	uint64_t last_epoch, last_lsn;

	memset(s, 0, sizeof *s);
	s->cfg = cfg;
	s->self = self;
	s->loop = l;
	s->store = st;
	s->data_dir = data_dir;
	s->start_ms = mono_ms();
	s->now = wall_ms();
	buf_init(&s->scratch);
	buf_init(&s->scratch_reply);
	buf_init(&s->scratch_push);
	if (store_max_ids(st, &s->last_msg_id, &s->last_draft_id) < 0) {
		snprintf(err, errlen, "cannot read the store");
		return -1;
	}
	store_last(st, &last_epoch, &last_lsn);
	s->committed_lsn = last_lsn;
	{
		struct rl_params rp;

		rl_params_default(&rp);
		rp.seed[0] = auth_random_u64();
		rp.seed[1] = auth_random_u64();
		s->logins = rl_new(&rp);
		if (s->logins == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (repl_init(&s->repl, s, err, errlen) < 0)
		return -1;
	s->client_listener = loop_listen(l, self->host, self->client_port,
	    &client_ops, s, WIRE_MAX_REQUEST, err, errlen);
	if (s->client_listener == NULL)
		return -1;
	s->internal_listener = loop_listen(l, self->host, self->internal_port,
	    &repl_accept_ops, s, WIRE_MAX_PAYLOAD_INTERNAL, err, errlen);
	if (s->internal_listener == NULL)
		return -1;
	loop_set_before_sleep(l, before_sleep, s);
	s->idle_sweep = timer_add(l, idle_sweep_period(cfg), idle_sweep, s);
	log_info("replica %u: clients on %s:%u, replicas on port %u; log at "
	    "(%llu,%llu)", self->id, self->host, self->client_port,
	    self->internal_port, (unsigned long long)last_epoch,
	    (unsigned long long)last_lsn);
	return 0;
}

void
server_shutdown(struct server *s)
{
	if (!s->fatal)
		commit_local(s);
	repl_shutdown(&s->repl);
	drop_pending(s);
	if (s->idle_sweep) {
		timer_cancel(s->loop, s->idle_sweep);
		s->idle_sweep = NULL;
	}
	/* Password jobs finishing after this (auth_stop) find no client and
	 * leave the limiter alone. */
	rl_free(s->logins);
	s->logins = NULL;
	if (s->client_listener)
		listener_close(s->client_listener);
	if (s->internal_listener)
		listener_close(s->internal_listener);
	buf_free(&s->scratch);
	buf_free(&s->scratch_reply);
	buf_free(&s->scratch_push);
	spare_free(s);
}
