/*
 * store.h — a replica's SQLite store: the commit log, the chat tables, and
 * the one apply() that turns a log record into its effect.
 *
 * Only src/store*.c include sqlite3.h. Everything above sees records (the
 * RECORD item of the wire table, struct wire_item_RECORD) and plain structs.
 *
 * Durability: WAL mode, synchronous=FULL (or NORMAL by setting). A write
 * is a record; store_apply() inserts the record into the log table and
 * makes its effect in the same transaction, so after a crash the tables are
 * exactly the log up to its last committed lsn. The caller groups records:
 * store_begin() ... store_apply() * N ... store_commit() once per loop turn.
 *
 * Determinism: apply() depends only on the store's state and the record
 * (ids and times come from the record, never from the clock or rowid
 * luck), so every replica that applies the same log holds the same rows.
 *
 * Errors: functions return 0 on success, 1 for "not found" where that is
 * an answer, and -1 for a storage failure (logged with SQLite's message).
 * A storage failure inside a write transaction is fatal for a replica: the
 * caller must not acknowledge anything and should exit.
 */
#ifndef CHATD_STORE_H
#define CHATD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "wire.h"

struct store;

/* Open (creating if needed) DIR/chatd.db. sync_full: synchronous=FULL. */
struct store *store_open(const char *dir, int sync_full, char *err,
			 size_t errlen);
/* mkdir -p DIR (mode 0700 for what it creates), as store_open does
 * first. 0, or -1 with err. */
int           store_make_dirs(const char *dir, char *err, size_t errlen);
/* In-memory store for tests and fuzzing. */
struct store *store_open_memory(void);
void          store_close(struct store *s);

int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);
int store_in_txn(const struct store *s);

/*
 * Apply one record inside the open transaction: append it to the log and
 * make its effect. The record's lsn must be exactly last_lsn + 1.
 * A record whose payload does not decode, or whose type is unknown, is a
 * storage-level error (-1): the log is corrupt or we are talking to a
 * broken peer, and nothing must be half-applied.
 * If client_id != 0, the (client_id, seq) -> (reply_op, reply) result is
 * remembered for retries (see store_request_find).
 */
int store_apply(struct store *s, const struct wire_item_RECORD *r);

/* Log position: the (epoch, lsn) of the last record, (0, 0) if empty. */
void store_last(const struct store *s, uint64_t *epoch, uint64_t *lsn);

/* Small persistent key/value state (epoch promises, ISR, vote state).
 * get: 0 found, 1 absent, -1 error; get_blob resets out, then appends.
 * Keys written by store_apply (read them, never set them): max_msg_id,
 * max_draft_id, isr and members (the R_ISR / R_MEMBERS payload bytes,
 * decode with that opcode's body), isr_pos_epoch, isr_pos_lsn,
 * members_pos_epoch, members_pos_lsn (the record that set them),
 * epoch_primary (R_EPOCH.primary_id); schema_version is the store's. */
int store_meta_get_u64(struct store *s, const char *key, uint64_t *v);
int store_meta_set_u64(struct store *s, const char *key, uint64_t v);
int store_meta_get_blob(struct store *s, const char *key, struct buf *out);
int store_meta_set_blob(struct store *s, const char *key, const void *p,
			size_t n);

/* ---- queries (read the state the applied records made) ---------------- */

struct store_user {
	uint64_t id;
	char     name[CHAT_MAX_USERNAME + 1];	/* as registered */
	char     fullname[CHAT_MAX_FULLNAME + 1];
	char     pwhash[CHAT_MAX_PWHASH + 1];
};

/* Look up by name, ignoring ASCII case. 0 found, 1 not found, -1 error. */
int store_user_find(struct store *s, const char *name, struct store_user *u);
int store_user_by_id(struct store *s, uint64_t id, struct store_user *u);

/* Users whose name matches glob (only * and ?; case-insensitive), ordered
 * by lower-case name, page (from 0) of page_size. cb gets each user (its
 * online flag left 0 for the caller). *total gets the match count. */
typedef void store_user_cb(void *ud, const struct wire_item_USER *u,
			   uint64_t uid);
int store_users_page(struct store *s, const char *glob, uint32_t page,
		     uint32_t page_size, uint32_t *total, store_user_cb *cb,
		     void *ud);

/* A name that is no longer an account (deleted) may still name the other
 * side of uid's conversations: the newest user id that name had among the
 * messages in uid's view. 0 found, 1 not, -1 error. */
int store_former_user(struct store *s, uint64_t uid, const char *name,
		      uint64_t *peer_uid);

struct store_session {
	uint64_t uid;
	char     username[CHAT_MAX_USERNAME + 1];
	uint64_t expires_at;
};
/* By token hash (32 bytes). 0 found (even if expired: caller checks), 1
 * not found, -1 error. */
int store_session_find(struct store *s, const uint8_t hash[32],
		       struct store_session *out);

/* Messages in uid's view. cb returns 0 to continue, 1 to stop (e.g. the
 * frame is full). Each query reports messages oldest first. */
typedef int store_msg_cb(void *ud, const struct wire_item_MSG *m);
int store_inbox_counts(struct store *s, uint64_t uid, uint32_t *unread,
		       uint32_t *total, uint64_t *last_id);
/* The max oldest unread messages to uid. */
int store_unread(struct store *s, uint64_t uid, uint32_t max,
		 store_msg_cb *cb, void *ud);
/* Messages to or from uid with id > after_id, at most max. */
int store_after(struct store *s, uint64_t uid, uint64_t after_id,
		uint32_t max, store_msg_cb *cb, void *ud);
/* The conversation between uid and peer_uid: the max newest with
 * id < before_id (0 = no bound), reported oldest first. */
int store_history(struct store *s, uint64_t uid, uint64_t peer_uid,
		  uint64_t before_id, uint32_t max, store_msg_cb *cb, void *ud);
/* One message if it is in uid's view: 0 found, 1 not. */
int store_message(struct store *s, uint64_t uid, uint64_t id,
		  struct wire_item_MSG *m);

typedef int store_draft_cb(void *ud, const struct wire_item_DRAFT *d);
int store_drafts(struct store *s, uint64_t uid, store_draft_cb *cb, void *ud);
int store_draft(struct store *s, uint64_t uid, uint64_t id,
		struct wire_item_DRAFT *d);	/* 0 found, 1 not */

/* Stored results move from the log rows into the requests table in
 * batches, at every lsn that is a multiple of this (the same on every
 * replica); the log keeps every record above the last such lsn, whatever
 * log_keep says (store_log_prune). */
#define STORE_RESULTS_BATCH 256

/* The stored result of a client request: 0 found (reply_op may be 0 for
 * requests that store no reply, e.g. LOGIN), 1 not found, 2 not found
 * because its result was pruned (the client's floor is at or above seq). */
int store_request_find(struct store *s, uint64_t client_id, uint64_t seq,
		       uint16_t *reply_op, struct buf *reply);

/* Highest message id and draft id ever assigned (ids are never reused,
 * even after deletes). */
int store_max_ids(struct store *s, uint64_t *msg_id, uint64_t *draft_id);

/* ---- snapshots ------------------------------------------------------- */

/* Copy the committed store into a self-contained SQLite file at path, in
 * steps. store_copy_step copies up to `pages` more pages (-1: all) and must
 * run with no transaction open; commits made between steps are carried
 * into the copy, so a finished copy holds the store as of that last step.
 * It returns 0 (more to do), 1 (done: the file is complete and closed, c
 * is freed) or -1 (failed, err filled: call store_copy_abort). Abort
 * removes the file and frees c. */
struct store_copy;
struct store_copy *store_copy_start(struct store *s, const char *path,
				    char *err, size_t errlen);
int  store_copy_step(struct store *s, struct store_copy *c, int pages,
		     char *err, size_t errlen);
void store_copy_abort(struct store_copy *c);
/* Replace the store in dir with the snapshot file (renamed into place;
 * the old store and its WAL are gone afterwards) and open it. s is closed
 * in every case; returns the new store, or NULL with err filled (then the
 * replica has no store and must stop). */
struct store *store_install(struct store *s, const char *dir,
			    const char *snapshot, int sync_full, char *err,
			    size_t errlen);

/* ---- the log, for replication ----------------------------------------- */

/* Records with lsn >= from, in order, until cb returns non-zero or the
 * end; the record handed to cb is valid only during the call. */
typedef int store_record_cb(void *ud, const struct wire_item_RECORD *r);
int store_log_read(struct store *s, uint64_t from, store_record_cb *cb,
		   void *ud);
/* The epoch of the record at lsn: 0 found, 1 no such record. */
int store_log_epoch(struct store *s, uint64_t lsn, uint64_t *epoch);
/* The lowest lsn still in the log (0: empty). */
uint64_t store_log_first(struct store *s);
/* Delete log records below lsn `below` (never the last record, nor one
 * above the last multiple of STORE_RESULTS_BATCH), at most
 * `batch` of them; inside or outside a transaction. Returns how many, or
 * -1. Pruning changes only the log, not the state it produced. */
int store_log_prune(struct store *s, uint64_t below, unsigned batch);

/*
 * Debugging and replication tests: print the replicated state, one line
 * per row, in a canonical order — the meta keys store_apply writes, then
 * users, messages, drafts, sessions, requests (each by primary key) and,
 * if with_log, the log. Integers in decimal, text quoted with C escapes,
 * blobs in hex. Local meta keys (votes, promises) are left out, so two
 * stores that applied the same records print the same text. 0 or -1.
 */
int store_dump(struct store *s, FILE *out, int with_log);

#endif
