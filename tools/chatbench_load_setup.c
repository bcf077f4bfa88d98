/*
 * chatbench_load_setup.c — the users and connections of the closed, open
 * and delivery modes, their way to a session, and their loss.
 *
 * M users bench-<hex>-<i> (random tag, one random password). Connection
 * k belongs to user k % M and sends to user (k % M + 1) % M; in delivery
 * mode the connections are 2N, the even ones send and the odd ones only
 * receive, and M is even, so senders and receivers are different users.
 * Idle connections (--idle) have users of their own, to whom nobody
 * writes.
 *
 * A connection's set-up (enum cstate):
 *   CONNECTING -> HELLO -> REGISTER -> LOGIN -> READY   its user's first
 *   CONNECTING -> HELLO -> [WAIT_TOKEN ->] RESUME -> READY   the others,
 * with the token of the first connection's LOGIN: those that get there
 * before it wait, and its SESSION resumes them all. Any failure during
 * the set-up fails the whole set-up; a failure later loses the connection
 * (counted, reported, its unanswered requests owed).
 */
#include <inttypes.h>
#include <stdlib.h>
#include "chatbench.h"

/* The request each set-up state waits for the answer to. */
static const uint16_t asks[] = {
	[CS_HELLO] = WIRE_OP_HELLO,
	[CS_REGISTER] = WIRE_OP_REGISTER,
	[CS_LOGIN] = WIRE_OP_LOGIN,
	[CS_RESUME] = WIRE_OP_RESUME,
	[CS_DEAD] = 0,
};

static void
setup_fail(struct bench *b, struct bconn *bc, const char *what)
{
	if (b->setup_failed)
		return;
	b->setup_failed = 1;
	snprintf(b->fail_msg, sizeof b->fail_msg, "set-up failed on connection "
	    "%u (user %s): %s", bc->idx, b->users[bc->user].name, what);
}

/* The connection is unusable: close it and count it. */
void
cb_conn_lost(struct bconn *bc, const char *why)
{
	struct bench *b = bc->b;

	if (bc->st == CS_DEAD)
		return;
	if (b->phase == PH_SETUP) {
		setup_fail(b, bc, why);
	} else {
		if (++b->lost_conns <= 10)
			fprintf(stderr, "chatbench: connection %u (user %s) "
			    "lost: %s\n", bc->idx, b->users[bc->user].name, why);
		b->unanswered += bc->inflight;
		if (b->rate > 0)
			b->unanswered += bc->due - bc->issued;
		if (b->lost_note[0] == '\0')
			snprintf(b->lost_note, sizeof b->lost_note,
			    "connection %u (user %s) lost: %s", bc->idx,
			    b->users[bc->user].name, why);
	}
	if (bc->st == CS_READY && b->users[bc->user].live > 0)
		b->users[bc->user].live--;
	bc->st = CS_DEAD;
	bc->inflight = 0;
	cb_conn_drop(&bc->c, why);
}

static void
become_ready(struct bconn *bc)
{
	bc->st = CS_READY;
	bc->b->nready++;
	bc->b->users[bc->user].live++;
}

static void
send_resume(struct bconn *bc)
{
	bc->setup_rid = cb_send_resume(bc->c, next_rid(bc),
	    bc->b->users[bc->user].token);
	bc->st = CS_RESUME;
}

/* REGISTER or LOGIN (op) of the connection's user; st: the state that
 * waits for its answer. */
static void
send_account(struct bconn *bc, uint16_t op, enum cstate st)
{
	struct bench *b = bc->b;

	bc->setup_rid = cb_send_account(bc->c, next_rid(bc), op,
	    bc->client_id, ++bc->seq, b->users[bc->user].name, b->password);
	bc->st = st;
}

static void
after_hello(struct bconn *bc)
{
	struct bench *b = bc->b;

	if (bc->idx == b->users[bc->user].first)
		send_account(bc, WIRE_OP_REGISTER, CS_REGISTER);
	else if (b->users[bc->user].have_token)
		send_resume(bc);
	else
		bc->st = CS_WAIT_TOKEN;
}

/* An answer during the set-up (request id not 0). */
void
cb_setup_answer(struct bconn *bc, const struct wire_header *h,
		const union reply *m)
{
	struct bench *b = bc->b;
	struct user *u = &b->users[bc->user];
	char why[300];
	unsigned i;

	switch (cb_setup_outcome(bc->setup_rid, asks[bc->st], h, m)) {
	case SETUP_STRAY:
		snprintf(why, sizeof why, "%s answers unknown request id %u",
		    wire_op_name(h->opcode), (unsigned)h->request_id);
		cb_conn_lost(bc, why);
		return;
	case SETUP_ERROR:
		cb_describe_error(why, sizeof why, &m->error);
		cb_conn_lost(bc, why);
		return;
	case SETUP_MOVED:
		cb_conn_lost(bc, "the primary changed during set-up");
		return;
	case SETUP_UNEXPECTED:
		break;
	case SETUP_OK:
		switch (bc->st) {
		case CS_HELLO:
			after_hello(bc);
			return;
		case CS_REGISTER:
			send_account(bc, WIRE_OP_LOGIN, CS_LOGIN);
			return;
		case CS_LOGIN:
			memcpy(u->token, m->session.token.ptr, CHAT_TOKEN_BYTES);
			u->have_token = 1;
			/* Attach the user's other connections. */
			for (i = bc->idx + 1; i < b->nconns; i++)
				if (b->conns[i].user == bc->user &&
				    b->conns[i].st == CS_WAIT_TOKEN)
					send_resume(&b->conns[i]);
			become_ready(bc);
			return;
		default:	/* CS_RESUME */
			become_ready(bc);
			return;
		}
	}
	snprintf(why, sizeof why, "unexpected %s during set-up",
	    wire_op_name(h->opcode));
	cb_conn_lost(bc, why);
}

static void
bc_on_connect(struct conn *c, int err)
{
	struct bconn *bc = conn_data(c);

	if (bc == NULL || err != 0)
		return;		/* on_close follows a failure */
	bc->setup_rid = cb_send_hello(c, next_rid(bc));
	bc->st = CS_HELLO;
}

static void
bc_on_close(struct conn *c, const char *reason)
{
	struct bconn *bc = conn_data(c);

	if (bc == NULL)
		return;
	bc->c = NULL;		/* being freed */
	cb_conn_lost(bc, reason);
}

static const struct conn_ops bconn_ops = {
	.on_connect = bc_on_connect,
	.on_frame = cb_bconn_on_frame,
	.on_close = bc_on_close,
};

/* Users and connections; every connection connects at once. Returns -1
 * (having said why) if one cannot. */
static int
make_conns(struct bench *b)
{
	uint64_t tag = cb_random_u64();
	uint32_t ring;
	unsigned i;
	char err[300];

	for (i = 0; i < b->nusers; i++) {
		snprintf(b->users[i].name, sizeof b->users[i].name,
		    "bench-%06" PRIx64 "-%u", tag & 0xFFFFFF, i);
		b->users[i].first = b->nconns;
	}
	for (ring = 1; ring < b->window; ring <<= 1)
		;
	for (i = 0; i < b->nconns; i++) {
		struct bconn *bc = &b->conns[i];

		bc->b = b;
		bc->idx = i;
		/* Idle connections have users of their own, so that no
		 * push reaches them. */
		if (i < b->nload)
			bc->user = i % b->nusers_load;
		else
			bc->user = b->nusers_load + (i - b->nload) %
			    (b->nusers - b->nusers_load);
		if (b->users[bc->user].first == b->nconns)
			b->users[bc->user].first = i;
		bc->active = i < b->nload &&
		    (b->mode != MODE_DELIVERY || i % 2 == 0);
		if (bc->active) {
			bc->aidx = b->nact;
			b->act[b->nact++] = bc;
		}
		bc->client_id = cb_random_id();
		bc->mask = ring - 1;
		bc->ring = calloc(ring, sizeof *bc->ring);
		if (bc->ring == NULL) {
			fprintf(stderr, "chatbench: out of memory\n");
			return -1;
		}
		bc->st = CS_CONNECTING;
		bc->c = loop_connect(b->l, b->host, b->port, &bconn_ops, bc,
		    WIRE_MAX_PAYLOAD_CLIENT, err, sizeof err);
		if (bc->c == NULL) {
			setup_fail(b, bc, err);
			break;
		}
	}
	return 0;
}

int
cb_setup(struct bench *b)
{
	uint64_t start = mono_ms();
	uint64_t deadline = start + 30000u + (uint64_t)b->nusers * 500u;

	snprintf(b->password, sizeof b->password, "pw-%016" PRIx64,
	    cb_random_u64());
	b->users = calloc(b->nusers, sizeof *b->users);
	b->conns = calloc(b->nconns, sizeof *b->conns);
	b->act = calloc(b->nconns, sizeof *b->act);
	if (!b->users || !b->conns || !b->act) {
		fprintf(stderr, "chatbench: out of memory\n");
		return -1;
	}
	cb_raise_nofile(b->nconns + 64);
	cb_note(b, "primary: replica %u at %s:%u; %u connections, %u users",
	    (unsigned)b->replica_id, b->host, (unsigned)b->port, b->nconns,
	    b->nusers);
	if (b->nconns > b->nload)
		cb_note(b, "%u of them idle (users %u-%u, whom nobody "
		    "writes to)",
		    b->nconns - b->nload, b->nusers_load, b->nusers - 1);
	if (make_conns(b) < 0)
		return -1;
	while (!b->setup_failed && b->nready < b->nconns) {
		if (mono_ms() >= deadline) {
			snprintf(b->fail_msg, sizeof b->fail_msg,
			    "set-up timed out: %u of %u connections logged in",
			    b->nready, b->nconns);
			b->setup_failed = 1;
			break;
		}
		if (loop_run_once(b->l, 100) < 0)
			break;
	}
	if (b->setup_failed || b->nready < b->nconns) {
		fprintf(stderr, "chatbench: %s\n", b->fail_msg[0] ? b->fail_msg :
		    "set-up failed");
		return -1;
	}
	cb_note(b, "set-up done in %.1f s (REGISTER+LOGIN x %u, RESUME x %u)",
	    (double)(mono_ms() - start) / 1000.0, b->nusers,
	    b->nconns - b->nusers);
	return 0;
}

/* Close everything quietly (no "lost" reports) and free it. */
void
cb_teardown(struct bench *b)
{
	unsigned i;

	for (i = 0; b->conns && i < b->nconns; i++) {
		if (b->conns[i].c)
			conn_set_data(b->conns[i].c, NULL);
		free(b->conns[i].ring);
	}
	cb_close_loop(b);
	free(b->conns);
	free(b->act);
	free(b->users);
	free(b->lat.v);
	free(b->dlat.v);
}
