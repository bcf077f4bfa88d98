/*
 * server.h — one replica's client-facing state, shared by server.c (the
 * connection life cycle, dispatch, the write path and group commit),
 * push.c (effects after commit) and the handle_*.c request handlers.
 *
 * The write path, in one place:
 *   1. a handler validates a request against the store and calls
 *      server_write(): the record gets the next lsn, is applied to the store
 *      inside this loop turn's open transaction, and its reply is queued as
 *      a `pending` entry;
 *   2. before the loop sleeps, server_commit() commits the transaction
 *      (one fsync for every record of the turn), then releases the queued
 *      replies in order and makes the records' pushes (push.c).
 * A request whose reply may only leave after a commit (a retry answered
 * from the stored-result table while that result is still uncommitted)
 * queues a reply-only pending entry, so per-connection order holds.
 */
#ifndef CHATD_SERVER_H
#define CHATD_SERVER_H

#include <stdint.h>
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "net.h"
#include "ratelimit.h"
#include "repl.h"
#include "store.h"
#include "wire.h"

enum role {
	ROLE_STARTING = 0,
	ROLE_PRIMARY  = 1,
	ROLE_BACKUP   = 2,
	ROLE_ELECTING = 3,
	ROLE_WAITING  = 4,
};
const char *role_name(enum role r);

#define ONLINE_BUCKETS 4096	/* power of two */

struct server;

/* One connection on the client port. */
struct client {
	struct server *srv;
	struct conn   *conn;
	uint64_t       serial;		/* unique in this process, for logs */
	int            hello_done;
	struct timer  *hello_timer;
	uint64_t       last_active;	/* mono ms: last frame in or answer
					   out (the idle sweep, server.c) */
	unsigned       inflight;	/* requests not yet answered */
	unsigned       npending;	/* of those, replies queued in pending */
	/* A running password job. Input is paused meanwhile, so there is at
	 * most one, and the connection's requests stay in order. */
	struct auth_job *job;

	/* Session, when logged in (uid != 0). */
	uint64_t       uid;
	char           username[CHAT_MAX_USERNAME + 1];
	uint8_t        token_hash[32];
	uint64_t       expires_at;	/* ms, wall clock */
	struct client *online_next;	/* chain in srv->online[uid & mask] */

	struct client *next, *prev;	/* srv->clients */
};

/* A write waiting for its commit: its reply and the record's effects. */
struct pending {
	struct client  *client;		/* NULL once that client went away */
	uint32_t        request_id;	/* 0: nothing to answer */
	uint64_t        lsn;		/* 0: reply-only entry */
	uint64_t        wait_lsn;	/* released once committed to here */
	uint64_t        at;		/* the record's time */
	uint16_t        type;		/* record type */
	uint64_t        uid;		/* the acting user (for effects) */
	uint16_t        reply_op;
	struct buf      reply;		/* reply payload */
	struct buf      payload;	/* record payload (for push.c) */
	struct pending *next;
};

struct server {
	const struct config       *cfg;
	const struct replica_addr *self;
	struct loop               *loop;
	struct store              *store;
	uint64_t                   start_ms;
	uint64_t                   now;	/* wall clock of the event being
					   handled: a record and its reply
					   carry the same time */
	char                       dummy_hash[CHAT_MAX_PWHASH + 1];
	struct ratelimit          *logins;	/* failed password checks
						   (handle_account.c) */
	struct timer              *idle_sweep;	/* server.c */

	enum role  role;
	uint64_t   epoch;
	uint32_t   primary_id;

	uint64_t   last_msg_id;		/* highest id assigned, incl. pending */
	uint64_t   last_draft_id;

	struct client *clients;
	unsigned       nclients;
	uint64_t       next_serial;
	uint64_t       full_logged_ms;	/* mono ms: last "max_clients" line */
	struct client *online[ONLINE_BUCKETS];

	struct pending *pending, *pending_tail;
	struct buf      scratch;	/* record payload encoding */
	struct buf      scratch_reply;	/* reply payload encoding */
	struct buf      scratch_push;	/* a push, encoded once for all */
	struct pending *spare;		/* freed entries kept for reuse */
	unsigned        nspare;

	struct listener *client_listener;
	struct listener *internal_listener;
	int              fatal;		/* a storage failure: stop serving */
	int              stopping;	/* SIGTERM/SIGINT: finishing this pass */
	const char      *data_dir;
	uint64_t         committed_lsn;	/* last lsn of the last local commit */
	struct repl      repl;
};

/* ---- server.c ----------------------------------------------------------- */

int  server_init(struct server *s, const struct config *cfg,
		 const struct replica_addr *self, struct loop *l,
		 struct store *st, const char *data_dir, char *err,
		 size_t errlen);
void server_shutdown(struct server *s);

/* ---- what replication needs from the server -------------------------- */

/* The lsn up to which our own store has committed. */
uint64_t server_committed_lsn(const struct server *s);
/* Send the queued replies whose records the whole ISR now holds. */
void server_release(struct server *s);
/* Primary: a record nobody asked for (R_EPOCH, R_ISR). 0 or -1. */
int  server_write_system(struct server *s, uint16_t type,
			 const struct buf *payload);
/* Apply a record (the primary's own, or one from the primary on a
 * backup) inside this turn's transaction. 0, or -1 after a storage
 * failure (fatal). */
int  server_apply_record(struct server *s,
			 const struct wire_item_RECORD *rec);
/* A write to the store failed (what: which): roll back this turn, drop
 * every unacknowledged reply, and stop — a replica whose disk fails
 * fail-stops, and the others take over. */
void server_storage_failed(struct server *s, const char *what);
/* Backup: replace the store by a received snapshot. 0 or -1 (fatal). */
int  server_install_snapshot(struct server *s, const char *path);
/* This replica now leads (reload what a primary keeps in memory). */
void server_became_primary(struct server *s);
/* This replica no longer leads: nothing unacknowledged will ever be
 * acknowledged by it, and its clients should find the new primary. */
void server_lost_primacy(struct server *s);

/*
 * Answer a request (request_id != 0) or push (request_id 0). A reply is
 * sent at once unless replies of this client are still waiting for a
 * commit; then it queues behind them, so a connection's answers always
 * leave in request order.
 */
void client_send(struct client *c, uint16_t op, uint32_t request_id,
		 const void *msg);
/* Same with the payload already encoded (replies with lists). */
void client_send_encoded(struct client *c, uint16_t op, uint32_t request_id,
			 const uint8_t *payload, size_t len);
void client_error(struct client *c, uint32_t request_id, uint16_t code,
		  uint16_t about_op, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The first two fields of every mutating request. */
struct mut { uint64_t client_id, seq; };

/*
 * Make a record of type rec_type from rec (a struct wire_R_*), apply it,
 * and queue reply (a struct of reply_op, or NULL with reply_op 0 for no
 * reply) for after the commit. m is the request's (client_id, seq), or
 * NULL for records no client asked for. uid: the acting user, kept for
 * push.c. Returns 0, or -1 after a storage failure (already answered with
 * ERROR INTERNAL; the replica stops serving writes).
 */
int server_write(struct client *c, uint32_t request_id, const struct mut *m,
		 uint64_t uid, uint16_t rec_type, const void *rec,
		 uint16_t reply_op, const void *reply);
/* Same with payload and reply already encoded (records or replies with
 * lists); reply may be NULL. store_result: remember the reply for retries
 * (0 for LOGIN, whose reply holds a secret token). */
int server_write_encoded(struct client *c, uint32_t request_id,
			 const struct mut *m, uint64_t uid, uint16_t rec_type,
			 const struct buf *payload, uint16_t reply_op,
			 const struct buf *reply, int store_result);
/* Commit this turn's records and release their replies and effects
 * (the loop's before-sleep hook; also called at shutdown). */
void server_commit(struct server *s);

/* Sessions. */
void client_login(struct client *c, uint64_t uid, const char *username,
		  const uint8_t token_hash[32], uint64_t expires_at);
void client_logout(struct client *c);
/* Every logged-in client of uid, for pushes: iterate with
 * for (x = online_first(s, uid); x; x = online_next(x, uid)). */
struct client *online_first(struct server *s, uint64_t uid);
struct client *online_next(struct client *c, uint64_t uid);
int  user_online(struct server *s, uint64_t uid);

/* Start a password job for c: j->kind, password, hash and done are set by
 * the caller (usually j is the first member of a context struct). Input of
 * c is paused until client_job_finish. */
void client_job_start(struct client *c, struct auth_job *j);
/* In done(): the job's client, or NULL if it went away meanwhile; resumes
 * the client's input. The caller frees its context afterwards. */
struct client *client_job_finish(struct auth_job *j);

/* If (client_id, seq) m already has a stored reply, send it as the answer
 * to request_id and return 1 (used again after a password job, since a
 * retry may have overtaken the original meanwhile). */
int  server_retry_answer(struct client *c, uint32_t request_id,
			 const struct mut *m);

/* Helpers for handlers. */
int  username_valid(const char *name);
/* Wall clock (ms) of the event being handled; fixed during a handler. */
uint64_t server_now(const struct server *s);

/* ---- handle_info.c ------------------------------------------------------ */

/* Append this replica's STATUS_INFO payload to out (STATUS on the client
 * port, ADMIN_STATUS on the internal port). */
void server_status_encode(struct server *s, struct buf *out);

/* ---- push.c ------------------------------------------------------------- */

/* After p's record committed: push messages, receipts, session ends. */
void push_effects(struct server *s, const struct pending *p);

/* ---- handlers (handle_*.c) ----------------------------------------------- */

/*
 * One handler per client request opcode, named handle_<OPCODE>, generated
 * from the table: the dispatcher in server.c has already checked HELLO,
 * decoded and validated every field, checked the login for WIRE_F_AUTH,
 * that this replica is the primary (unless WIRE_F_ANY), and answered
 * retried mutating requests from the stored results.
 */
#define HANDLER_DECL_WIRE_DIR_REQUEST(NAME) \
	void handle_##NAME(struct client *c, uint32_t request_id, \
			   const struct wire_##NAME *req);
#define HANDLER_DECL_WIRE_DIR_ANY(NAME)
#define HANDLER_DECL_WIRE_DIR_RESPONSE(NAME)
#define HANDLER_DECL_WIRE_DIR_PUSH(NAME)
#define HANDLER_DECL_WIRE_DIR_PEER(NAME)
#define HANDLER_DECL_WIRE_DIR_LOG(NAME)
#define HANDLER_DECL(NAME, num, port, dir, flags, doc) HANDLER_DECL_##dir(NAME)
WIRE_OPS(HANDLER_DECL)

#endif
