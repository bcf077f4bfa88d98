/*
 * handle_account.c — REGISTER, LOGIN, RESUME, LOGOUT, DELETE_ACCOUNT.
 *
 * Password work (hashing on REGISTER, verification on LOGIN and
 * DELETE_ACCOUNT) runs on the helper thread; the request continues in a
 * *_done() callback on the loop thread. Everything the request decided
 * before the job is checked again afterwards (the name may have been taken
 * meanwhile, or a retry of the same request may have been answered).
 *
 * Unknown user names are verified against a dummy hash so that a failed
 * login takes as long whether or not the account exists.
 *
 * Failed password checks slow down (DESIGN.md §8, ratelimit.h): LOGIN and
 * DELETE_ACCOUNT count failures per account and per address in the
 * server's limiter. While either key is in its delay, the request gets
 * ERROR SLOW_DOWN at once — no Argon2id run, nothing waits. Results are
 * recorded when the job completes; the check is made again then, because
 * jobs queue on one helper thread: guesses sent together on many
 * connections would all pass the first check before any of them failed.
 * A job that finishes while its keys are in a delay (set by failures that
 * completed meanwhile) also answers SLOW_DOWN, whatever the password, and
 * still counts if it failed; so a burst tells its sender nothing beyond
 * the first results. Counts are per replica, in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "server.h"

/* A password job and what the request needs after it. */
struct account_job {
	struct auth_job job;		/* first: the job pointer is ours */
	uint32_t        request_id;
	struct mut      m;
	uint64_t        uid;
	char            username[CHAT_MAX_USERNAME + 1];
	char            fullname[CHAT_MAX_FULLNAME + 1];
};

static struct account_job *
account_job_new(enum auth_kind kind, uint32_t rid, uint64_t client_id,
		uint64_t seq, const char *password, const char *hash,
		void (*done)(struct auth_job *))
{
	struct account_job *a = calloc(1, sizeof *a);

	if (a == NULL) {
		log_error("out of memory");
		abort();
	}
	a->job.kind = kind;
	a->job.done = done;
	snprintf(a->job.password, sizeof a->job.password, "%s", password);
	if (hash)
		snprintf(a->job.hash, sizeof a->job.hash, "%s", hash);
	a->request_id = rid;
	a->m.client_id = client_id;
	a->m.seq = seq;
	return a;
}

static void
account_job_free(struct account_job *a)
{
	auth_wipe(a, sizeof *a);
	free(a);
}

/* Printable text: no C0 controls or DEL (full names end up in lists). */
static int
text_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* ---- failed password checks ------------------------------------------------ */

/* How long an attempt for account name `user` from c's address must still
 * wait (0: it may go ahead). */
static uint64_t
pw_wait(struct client *c, const char *user)
{
	struct ratelimit *rl = c->srv->logins;
	uint64_t now = mono_ms();
	uint64_t a = rl_wait(rl, RL_ACCOUNT, user, now);
	uint64_t b = rl_wait(rl, RL_ADDRESS, conn_peer(c->conn), now);

	return a > b ? a : b;
}

/* If an attempt for `user` must wait, answer SLOW_DOWN and return 1. */
static int
pw_slowed(struct client *c, uint32_t rid, uint16_t op, const char *user)
{
	uint64_t wait = pw_wait(c, user);

	if (wait == 0)
		return 0;
	log_debug("client %llu: %s for '%s' from %s slowed down (%llu ms)",
	    (unsigned long long)c->serial, wire_op_name(op), user,
	    conn_peer(c->conn), (unsigned long long)wait);
	client_error(c, rid, WIRE_E_SLOW_DOWN, op,
	    "too many failed logins; retry in %llu ms",
	    (unsigned long long)wait);
	return 1;
}

/* Record a completed check: a failure counts for the account and the
 * address; a success resets the account only. */
static void
pw_result(struct client *c, const char *user, int ok)
{
	struct ratelimit *rl = c->srv->logins;
	uint64_t now = mono_ms();

	if (ok) {
		rl_success(rl, RL_ACCOUNT, user, now);
		return;
	}
	rl_failure(rl, RL_ACCOUNT, user, now);
	rl_failure(rl, RL_ADDRESS, conn_peer(c->conn), now);
}

/* ---- REGISTER ------------------------------------------------------------- */

static void
register_done(struct auth_job *j)
{
	struct account_job *a = (struct account_job *)j;
	struct client *c = client_job_finish(j);
	struct wire_R_USER_ADD rec;
	struct wire_OK ok;
	struct store_user u;

	if (c == NULL)
		goto out;
	if (server_retry_answer(c, a->request_id, &a->m))
		goto out;
	if (!j->ok) {
		client_error(c, a->request_id, WIRE_E_INTERNAL, WIRE_OP_REGISTER,
		    "password hashing failed");
		goto out;
	}
	if (store_user_find(c->srv->store, a->username, &u) == 0) {
		client_error(c, a->request_id, WIRE_E_NAME_TAKEN,
		    WIRE_OP_REGISTER, "user name '%s' is taken", a->username);
		goto out;
	}
	memset(&rec, 0, sizeof rec);
	snprintf(rec.username, sizeof rec.username, "%s", a->username);
	snprintf(rec.fullname, sizeof rec.fullname, "%s", a->fullname);
	snprintf(rec.pwhash, sizeof rec.pwhash, "%s", j->hash);
	memset(&ok, 0, sizeof ok);
	if (server_write(c, a->request_id, &a->m, 0, WIRE_OP_R_USER_ADD, &rec,
	    WIRE_OP_OK, &ok) == 0)
		log_info("registered user %s", a->username);
out:
	account_job_free(a);
}

void
handle_REGISTER(struct client *c, uint32_t rid, const struct wire_REGISTER *req)
{
	struct store_user u;
	struct account_job *a;
	int rc;

	if (!username_valid(req->username)) {
		client_error(c, rid, WIRE_E_BAD_NAME, WIRE_OP_REGISTER,
		    "user names are 1-%d of A-Z a-z 0-9 . _ -",
		    CHAT_MAX_USERNAME);
		return;
	}
	if (!text_printable(req->fullname)) {
		client_error(c, rid, WIRE_E_BAD_FIELD, WIRE_OP_REGISTER,
		    "full name has control characters");
		return;
	}
	rc = store_user_find(c->srv->store, req->username, &u);
	if (rc < 0) {
		client_error(c, rid, WIRE_E_INTERNAL, WIRE_OP_REGISTER,
		    "storage error");
		return;
	}
	if (rc == 0) {
		client_error(c, rid, WIRE_E_NAME_TAKEN, WIRE_OP_REGISTER,
		    "user name '%s' is taken", req->username);
		return;
	}
	a = account_job_new(AUTH_HASH, rid, req->client_id, req->seq,
	    req->password, NULL, register_done);
	snprintf(a->username, sizeof a->username, "%s", req->username);
	snprintf(a->fullname, sizeof a->fullname, "%s", req->fullname);
	client_job_start(c, &a->job);
}

/* ---- LOGIN / RESUME ---------------------------------------------------------- */

/* Fill the SESSION answer for user u. Returns 0, or -1 (answered with an
 * error) on a storage failure. */
static int
session_info(struct client *c, uint32_t rid, const struct store_user *u,
	     const uint8_t token[CHAT_TOKEN_BYTES], uint64_t expires_at,
	     struct wire_SESSION *s)
{
	uint32_t total;

	memset(s, 0, sizeof *s);
	s->token.ptr = token;
	s->token.len = CHAT_TOKEN_BYTES;
	snprintf(s->username, sizeof s->username, "%s", u->name);
	snprintf(s->fullname, sizeof s->fullname, "%s", u->fullname);
	s->expires_at = expires_at;
	if (store_inbox_counts(c->srv->store, u->id, &s->unread, &total,
	    &s->last_id) < 0) {
		client_error(c, rid, WIRE_E_INTERNAL, 0, "storage error");
		return -1;
	}
	return 0;
}

static void
login_done(struct auth_job *j)
{
	struct account_job *a = (struct account_job *)j;
	struct client *c = client_job_finish(j);
	struct server *s;
	struct wire_R_SESSION_OPEN rec;
	struct wire_SESSION si;
	struct store_user u;
	uint8_t token[CHAT_TOKEN_BYTES], hash[32];
	int ok;

	if (c == NULL)
		goto out;	/* nobody learns the result: nothing to count */
	s = c->srv;
	ok = j->ok && a->uid != 0 && store_user_by_id(s->store, a->uid, &u) == 0;
	/* Failures that completed while this job ran may have started a
	 * delay: then the answer is SLOW_DOWN whatever the result. */
	if (pw_slowed(c, a->request_id, WIRE_OP_LOGIN, a->username)) {
		if (!ok)
			pw_result(c, a->username, 0);
		goto out;
	}
	pw_result(c, a->username, ok);
	if (!ok) {
		log_info("failed login for '%s' from %s", a->username,
		    conn_peer(c->conn));
		client_error(c, a->request_id, WIRE_E_BAD_PASSWORD,
		    WIRE_OP_LOGIN, "wrong user name or password");
		goto out;
	}
	if (c->uid) {
		client_error(c, a->request_id, WIRE_E_ALREADY_LOGGED_IN,
		    WIRE_OP_LOGIN, "already logged in as %s", c->username);
		goto out;
	}
	auth_token_new(token);
	auth_token_hash(token, hash);
	memset(&rec, 0, sizeof rec);
	rec.token_hash.ptr = hash;
	rec.token_hash.len = 32;
	snprintf(rec.username, sizeof rec.username, "%s", u.name);
	rec.expires_at = server_now(s) + s->cfg->session_ttl_s * 1000ull;

	if (session_info(c, a->request_id, &u, token, rec.expires_at, &si) < 0)
		goto out;
	/* The reply holds the token, so it is not stored for retries
	 * (store_result 0): a repeated LOGIN simply opens another session. */
	buf_reset(&s->scratch);
	wire_encode_payload(&s->scratch, &wire_op(WIRE_OP_R_SESSION_OPEN)->body,
	    &rec);
	buf_reset(&s->scratch_reply);
	wire_encode_payload(&s->scratch_reply, &wire_op(WIRE_OP_SESSION)->body,
	    &si);
	if (server_write_encoded(c, a->request_id, &a->m, u.id,
	    WIRE_OP_R_SESSION_OPEN, &s->scratch, WIRE_OP_SESSION,
	    &s->scratch_reply, 0) == 0) {
		client_login(c, u.id, u.name, hash, rec.expires_at);
		log_info("%s logged in from %s", u.name, conn_peer(c->conn));
	}
	auth_wipe(token, sizeof token);
out:
	account_job_free(a);
}

void
handle_LOGIN(struct client *c, uint32_t rid, const struct wire_LOGIN *req)
{
	struct server *s = c->srv;
	struct store_user u;
	struct account_job *a;
	int rc = 1;

	if (c->uid) {
		client_error(c, rid, WIRE_E_ALREADY_LOGGED_IN, WIRE_OP_LOGIN,
		    "already logged in as %s", c->username);
		return;
	}
	if (pw_slowed(c, rid, WIRE_OP_LOGIN, req->username))
		return;
	if (username_valid(req->username))
		rc = store_user_find(s->store, req->username, &u);
	if (rc < 0) {
		client_error(c, rid, WIRE_E_INTERNAL, WIRE_OP_LOGIN,
		    "storage error");
		return;
	}
	a = account_job_new(AUTH_VERIFY, rid, req->client_id, req->seq,
	    req->password, rc == 0 ? u.pwhash : s->dummy_hash, login_done);
	a->uid = rc == 0 ? u.id : 0;
	snprintf(a->username, sizeof a->username, "%s", req->username);
	client_job_start(c, &a->job);
}

void
handle_RESUME(struct client *c, uint32_t rid, const struct wire_RESUME *req)
{
	struct server *s = c->srv;
	struct store_session ss;
	struct wire_SESSION si;
	struct store_user u;
	uint8_t hash[32];

	auth_token_hash(req->token.ptr, hash);
	if (c->uid) {
		if (auth_equal(hash, c->token_hash, 32) &&
		    store_user_by_id(s->store, c->uid, &u) == 0) {
			if (session_info(c, rid, &u, req->token.ptr,
			    c->expires_at, &si) == 0)
				client_send(c, WIRE_OP_SESSION, rid, &si);
		} else {
			client_error(c, rid, WIRE_E_ALREADY_LOGGED_IN,
			    WIRE_OP_RESUME, "already logged in as %s",
			    c->username);
		}
		return;
	}
	if (store_session_find(s->store, hash, &ss) != 0 ||
	    server_now(s) >= ss.expires_at ||
	    store_user_by_id(s->store, ss.uid, &u) != 0) {
		client_error(c, rid, WIRE_E_BAD_TOKEN, WIRE_OP_RESUME,
		    "session unknown or expired; log in again");
		return;
	}
	if (session_info(c, rid, &u, req->token.ptr, ss.expires_at, &si) < 0)
		return;
	client_login(c, u.id, u.name, hash, ss.expires_at);
	client_send(c, WIRE_OP_SESSION, rid, &si);
	/* Debug: after a failover every client resumes at once. */
	log_debug("%s resumed a session from %s", u.name, conn_peer(c->conn));
}

/* ---- LOGOUT / DELETE_ACCOUNT -------------------------------------------------- */

void
handle_LOGOUT(struct client *c, uint32_t rid, const struct wire_LOGOUT *req)
{
	struct wire_R_SESSION_END rec;
	struct wire_OK ok;
	struct mut m = { req->client_id, req->seq };
	uint64_t uid = c->uid;

	memset(&rec, 0, sizeof rec);
	snprintf(rec.username, sizeof rec.username, "%s", c->username);
	memset(&ok, 0, sizeof ok);
	log_info("%s logged out", c->username);
	/* This connection is out at once; the others when it commits. */
	client_logout(c);
	server_write(c, rid, &m, uid, WIRE_OP_R_SESSION_END, &rec, WIRE_OP_OK,
	    &ok);
}

static void
delete_done(struct auth_job *j)
{
	struct account_job *a = (struct account_job *)j;
	struct client *c = client_job_finish(j);
	struct wire_R_USER_DEL rec;
	struct wire_OK ok;

	if (c == NULL)
		goto out;
	if (server_retry_answer(c, a->request_id, &a->m))
		goto out;
	if (pw_slowed(c, a->request_id, WIRE_OP_DELETE_ACCOUNT, a->username)) {
		if (!j->ok)
			pw_result(c, a->username, 0);
		goto out;
	}
	pw_result(c, a->username, j->ok);
	if (!j->ok) {
		log_info("wrong password to delete account '%s' from %s",
		    a->username, conn_peer(c->conn));
		client_error(c, a->request_id, WIRE_E_BAD_PASSWORD,
		    WIRE_OP_DELETE_ACCOUNT, "wrong password");
		goto out;
	}
	if (c->uid != a->uid) {
		client_error(c, a->request_id, WIRE_E_NOT_LOGGED_IN,
		    WIRE_OP_DELETE_ACCOUNT, "the session ended meanwhile");
		goto out;
	}
	memset(&rec, 0, sizeof rec);
	snprintf(rec.username, sizeof rec.username, "%s", c->username);
	memset(&ok, 0, sizeof ok);
	log_info("deleting account %s", c->username);
	client_logout(c);
	server_write(c, a->request_id, &a->m, a->uid, WIRE_OP_R_USER_DEL, &rec,
	    WIRE_OP_OK, &ok);
out:
	account_job_free(a);
}

void
handle_DELETE_ACCOUNT(struct client *c, uint32_t rid,
		      const struct wire_DELETE_ACCOUNT *req)
{
	struct store_user u;
	struct account_job *a;

	if (pw_slowed(c, rid, WIRE_OP_DELETE_ACCOUNT, c->username))
		return;
	if (store_user_by_id(c->srv->store, c->uid, &u) != 0) {
		client_error(c, rid, WIRE_E_INTERNAL, WIRE_OP_DELETE_ACCOUNT,
		    "account not found");
		return;
	}
	a = account_job_new(AUTH_VERIFY, rid, req->client_id, req->seq,
	    req->password, u.pwhash, delete_done);
	a->uid = c->uid;
	snprintf(a->username, sizeof a->username, "%s", c->username);
	client_job_start(c, &a->job);
}
