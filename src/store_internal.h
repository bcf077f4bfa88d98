/*
 * store_internal.h — private to src/store*.c: the struct store, the
 * prepared-statement cache and small binding/stepping helpers.
 *
 * Statements are prepared once, lazily, with SQLITE_PREPARE_PERSISTENT and
 * kept in s->stmts[]. Each statement id is used at exactly one call site,
 * which passes its SQL text: the SQL stays next to the code that runs it,
 * and the cache only remembers the compiled form. After use a statement is
 * reset (store_reset), which also clears its bindings so no statement keeps
 * a pointer to a caller's buffer (text and blobs are bound SQLITE_STATIC).
 *
 * Binding errors are sticky: the bind helpers record the first failure in
 * s->bind_rc and the next store_step()/store_exec() reports it, so call
 * sites bind without checking every return value.
 *
 * Integers: SQLite stores signed 64-bit integers. A uint64_t is stored as
 * its two's complement bit pattern and read back exactly (equality and
 * round trips are exact); ordering in SQL assumes values below 2^63, which
 * holds for ids, lsns, sequence numbers and millisecond times.
 */
#ifndef CHATD_STORE_INTERNAL_H
#define CHATD_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include "store.h"

enum store_stmt_id {
	/* store.c */
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_META_GET, ST_META_SET, ST_META_RAISE,
	ST_LOG_LAST, ST_LOG_READ, ST_LOG_EPOCH, ST_LOG_FIRST, ST_LOG_PRUNE,
	/* store_apply.c */
	ST_LOG_INSERT,
	ST_USER_ID,
	ST_USER_ADD,
	ST_DEL_DRAFTS, ST_DEL_SESSIONS, ST_DEL_INBOX_GONE, ST_DEL_SENT_GONE,
	ST_DEL_HIDE_IN, ST_DEL_HIDE_OUT, ST_DEL_USER,
	ST_SESSION_EXPIRE, ST_SESSION_PUT, ST_SESSION_TOUCH, ST_SESSION_END,
	ST_MSG_ADD, ST_MSG_READ, ST_MSG_HIDE, ST_MSG_HIDE_GONE,
	ST_DRAFT_PUT, ST_DRAFT_DEL, ST_DRAFT_SEND, ST_DRAFT_SENT_DEL,
	/* store_query.c */
	ST_Q_USER_NAME, ST_Q_USER_ID, ST_Q_FORMER_USER, ST_Q_USERS_COUNT, ST_Q_USERS_PAGE,
	ST_Q_SESSION, ST_Q_INBOX, ST_Q_UNREAD, ST_Q_AFTER, ST_Q_HISTORY,
	ST_Q_MESSAGE, ST_Q_DRAFTS, ST_Q_DRAFT,
	/* store_results.c */
	ST_RES_TAIL, ST_RES_MOVE, ST_RES_CLIENTS, ST_REQ_PRUNE_SEQ,
	ST_REQ_PRUNE_AT, ST_REQ_FLOOR_SEQ, ST_REQ_FLOOR_AT, ST_REQ_FLOOR_PRUNE,
	ST_Q_REQUEST, ST_Q_REQUEST_LOG, ST_Q_REQUEST_FLOOR,
	ST_COUNT
};

/* One entry of the tail index: a record after the last move. */
struct store_result_slot {
	uint64_t client_id, seq;
	uint64_t lsn;			/* 0: empty slot */
};

struct store {
	sqlite3      *db;
	sqlite3_stmt *stmts[ST_COUNT];
	uint64_t      last_epoch;	/* of the record with the largest lsn */
	uint64_t      last_lsn;	/* 0: empty log */
	int           bind_rc;	/* first failed bind since the last step */
	/* (client_id, seq) -> lsn of the records whose results have not
	 * moved yet; open addressing, at most half full. */
	struct store_result_slot tail[2 * STORE_RESULTS_BATCH];
	unsigned      tail_n;
};

/* The cached statement id, prepared from sql on first use; NULL (logged)
 * if it does not compile. */
sqlite3_stmt *store_stmt(struct store *s, enum store_stmt_id id,
			 const char *sql);

/* Bind helpers (1-based index i); failures are remembered in s->bind_rc.
 * Text is bound with its strlen and SQLITE_STATIC: the string must stay
 * valid until the statement is reset. */
void store_bind_u64(struct store *s, sqlite3_stmt *st, int i, uint64_t v);
void store_bind_text(struct store *s, sqlite3_stmt *st, int i,
		     const char *text);
void store_bind_blob(struct store *s, sqlite3_stmt *st, int i,
		     const void *p, size_t n);

/* One step. Returns SQLITE_ROW or SQLITE_DONE; on error (including an
 * earlier failed bind) logs "store: <what>: <message>", resets st and
 * returns -1. */
int  store_step(struct store *s, sqlite3_stmt *st, const char *what);
/* sqlite3_errmsg(db), with the operating system's reason after an I/O
 * error ("disk I/O error (No space left on device)"). A static buffer:
 * use it before the next call. */
const char *store_db_error(sqlite3 *db);
/* Step a statement that returns no rows to completion and reset it:
 * 0 or -1 (logged). */
int  store_exec(struct store *s, sqlite3_stmt *st, const char *what);
/* Reset after use and clear bindings. */
void store_reset(sqlite3_stmt *st);
/* Run the cached statement id (sql) with ?1 = a and, if it has a second
 * parameter, ?2 = b, to completion: 0 or -1 (logged). */
int  store_exec2(struct store *s, enum store_stmt_id id, const char *sql,
		 uint64_t a, uint64_t b, const char *what);
static inline int
store_exec1(struct store *s, enum store_stmt_id id, const char *sql,
	    uint64_t a, const char *what)
{
	return store_exec2(s, id, sql, a, 0, what);
}

/* Column helpers: integers as uint64_t; text copied into dst[cap] only if
 * its length is within [min, cap - 1] bytes and it is valid UTF-8 without
 * NUL (else -1, dst left empty): a corrupt row never overflows a fixed
 * array nor reaches an encoder that would reject it. */
uint64_t store_col_u64(sqlite3_stmt *st, int col);
int      store_col_text(sqlite3_stmt *st, int col, char *dst, size_t cap,
			size_t min);

/* meta[key] = max(meta[key], v) (absent counts as 0): id high-water marks. */
int store_meta_raise(struct store *s, const char *key, uint64_t v);

/* store_results.c. After apply's log row: remember r's result (if it has
 * a client), move a full batch into the requests table, prune by age.
 * 0 or -1. */
int      store_results_apply(struct store *s,
			     const struct wire_item_RECORD *r);
/* Rebuild the tail index from the log (after the log position was
 * (re)loaded). 0 or -1. */
int      store_results_load(struct store *s);
/* The highest lsn whose result has moved into the requests table: the
 * log must keep every record above it. */
uint64_t store_results_moved(const struct store *s);

#endif
