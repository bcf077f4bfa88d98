/*
 * store.c — opening the SQLite store, its schema, pragmas, transactions,
 * meta values, the log position, the prepared-statement cache and reading
 * the log back. The effect of records is in store_apply.c, the read
 * queries in store_query.c. See store.h for the contracts.
 *
 * Schema (version 3; meta.schema_version; version 1 lacked request_floors,
 * which opening creates; version 3 fills requests in batches from the log
 * (store_results.c), so an older chatd, which looks only at requests,
 * would miss the newest results: it refuses a version-3 store):
 *
 *   meta(key TEXT PRIMARY KEY, value)
 *       Small state. Written by apply: max_msg_id, max_draft_id (id
 *       high-water marks, never lowered), isr / members (the R_ISR /
 *       R_MEMBERS payload bytes), isr_pos_epoch/lsn, members_pos_epoch/lsn
 *       (position of that record), epoch_primary (R_EPOCH.primary_id).
 *       Other keys are the caller's (local, not replicated).
 *   log(lsn INTEGER PRIMARY KEY, epoch, type, client_id, seq, at,
 *       payload BLOB, reply_op, reply BLOB)       the commit log
 *   users(id INTEGER PRIMARY KEY, name TEXT UNIQUE COLLATE NOCASE,
 *         fullname, pwhash, created_at)
 *       id = the lsn of the R_USER_ADD record that created the account:
 *       taken from the log (deterministic on every replica, no dependence
 *       on rowid allocation or sqlite_sequence) and never reused, since
 *       lsns are not, so a new account with a freed name never sees the
 *       old account's messages.
 *   messages(id INTEGER PRIMARY KEY, sender_id, sender, recipient_id,
 *            recipient, sent_at, read_at DEFAULT 0, body,
 *            hidden_s DEFAULT 0, hidden_r DEFAULT 0)
 *       In user U's view iff (sender_id = U AND hidden_s = 0) OR
 *       (recipient_id = U AND hidden_r = 0). A row with both flags set is
 *       deleted in the same record, so such rows never exist. Partial
 *       indexes serve each side of the view:
 *         messages_out(sender_id, id)    WHERE hidden_s = 0
 *         messages_in(recipient_id, id)  WHERE hidden_r = 0
 *         messages_unread(recipient_id, id) WHERE hidden_r = 0 AND read_at = 0
 *       (queries spell "hidden_s = 0" etc. literally so they qualify).
 *   drafts(id INTEGER PRIMARY KEY, owner_id, recipient, body, updated_at)
 *       index drafts_owner(owner_id, id)
 *   sessions(token_hash BLOB PRIMARY KEY, user_id, expires_at) WITHOUT ROWID
 *       indexes sessions_user(user_id), sessions_expiry(expires_at)
 *   requests(client_id, seq, lsn, at, reply_op, reply BLOB,
 *            PRIMARY KEY(client_id, seq)) WITHOUT ROWID
 *       index requests_at(at) for the periodic age-based pruning. Holds
 *       the results of records up to the last multiple of
 *       STORE_RESULTS_BATCH; newer ones are read from their log rows.
 *   request_floors(client_id INTEGER PRIMARY KEY, seq, at)
 *       The client's stored results with seq <= this were pruned (by count
 *       or age), so a retry of one is answered RETRY_TOO_OLD instead of
 *       running again; at = time of the record that raised it. Floors are
 *       dropped a week after they last rose (index request_floors_at).
 *
 * The log position (last epoch, lsn) is the log row with the largest lsn,
 * read at open and then kept in struct store: apply() advances it after a
 * record succeeded, rollback re-reads it from the database (and with it
 * the index of results not yet moved, store_results.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "log.h"
#include "store_internal.h"

#define SCHEMA_VERSION 3
/* WAL frames before an automatic checkpoint (SQLite's default is 1000).
 * A checkpoint writes each page once however often the WAL holds it, and
 * the hot pages (index leaves, the newest rows of each table) are
 * rewritten every turn: a longer WAL saves most checkpoint writes. */
#define STORE_WAL_PAGES "10000"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS log("
	" lsn INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,"
	" type INTEGER NOT NULL, client_id INTEGER NOT NULL,"
	" seq INTEGER NOT NULL, at INTEGER NOT NULL, payload BLOB NOT NULL,"
	" reply_op INTEGER NOT NULL, reply BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS users("
	" id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" fullname TEXT NOT NULL, pwhash TEXT NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS messages("
	" id INTEGER PRIMARY KEY, sender_id INTEGER NOT NULL,"
	" sender TEXT NOT NULL, recipient_id INTEGER NOT NULL,"
	" recipient TEXT NOT NULL, sent_at INTEGER NOT NULL,"
	" read_at INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL,"
	" hidden_s INTEGER NOT NULL DEFAULT 0,"
	" hidden_r INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS messages_out ON messages(sender_id, id)"
	" WHERE hidden_s = 0;"
	"CREATE INDEX IF NOT EXISTS messages_in ON messages(recipient_id, id)"
	" WHERE hidden_r = 0;"
	"CREATE INDEX IF NOT EXISTS messages_unread"
	" ON messages(recipient_id, id) WHERE hidden_r = 0 AND read_at = 0;"
	"CREATE TABLE IF NOT EXISTS drafts("
	" id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL,"
	" recipient TEXT NOT NULL, body TEXT NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS drafts_owner ON drafts(owner_id, id);"
	"CREATE TABLE IF NOT EXISTS sessions("
	" token_hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);"
	"CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);"
	"CREATE TABLE IF NOT EXISTS requests("
	" client_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" lsn INTEGER NOT NULL, at INTEGER NOT NULL,"
	" reply_op INTEGER NOT NULL, reply BLOB NOT NULL,"
	" PRIMARY KEY(client_id, seq)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS requests_at ON requests(at);"
	"CREATE TABLE IF NOT EXISTS request_floors("
	" client_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
	" at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS request_floors_at ON request_floors(at);";

/* ---- statement cache and helpers --------------------------------------- */

/* What an SQLITE_IOERR was doing: SQLite's text for all of them is just
 * "disk I/O error". */
static const char *
ioerr_what(int extended)
{
	switch (extended) {
	case SQLITE_IOERR_READ:		return "read";
	case SQLITE_IOERR_SHORT_READ:	return "short read";
	case SQLITE_IOERR_WRITE:	return "write";
	case SQLITE_IOERR_FSYNC:	return "fsync";
	case SQLITE_IOERR_DIR_FSYNC:	return "directory fsync";
	case SQLITE_IOERR_TRUNCATE:	return "truncate";
	case SQLITE_IOERR_FSTAT:	return "fstat";
	default:			return NULL;
	}
}

const char *
store_db_error(sqlite3 *db)
{
	static char text[256];
	int ext = sqlite3_extended_errcode(db), os = sqlite3_system_errno(db);
	const char *what = ioerr_what(ext);

	if ((ext & 0xff) != SQLITE_IOERR && (ext & 0xff) != SQLITE_CANTOPEN)
		return sqlite3_errmsg(db);
	/* The OS error is known after some failures only (not after a
	 * short write, e.g. past a file size limit). */
	if (os != 0)
		snprintf(text, sizeof text, "%s (%s%s%s)", sqlite3_errmsg(db),
		    what ? what : "", what ? ": " : "", strerror(os));
	else if (what)
		snprintf(text, sizeof text, "%s (%s failed)",
		    sqlite3_errmsg(db), what);
	else
		snprintf(text, sizeof text, "%s (extended code %d)",
		    sqlite3_errmsg(db), ext);
	return text;
}

sqlite3_stmt *
store_stmt(struct store *s, enum store_stmt_id id, const char *sql)
{
	if (s->stmts[id] == NULL &&
	    sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &s->stmts[id], NULL) != SQLITE_OK) {
		log_error("store: prepare \"%.60s...\": %s", sql,
		    store_db_error(s->db));
		s->stmts[id] = NULL;
	}
	return s->stmts[id];
}

static void
bind_result(struct store *s, int rc)
{
	if (rc != SQLITE_OK && s->bind_rc == SQLITE_OK)
		s->bind_rc = rc;
}

void
store_bind_u64(struct store *s, sqlite3_stmt *st, int i, uint64_t v)
{
	bind_result(s, sqlite3_bind_int64(st, i, (sqlite3_int64)v));
}

void
store_bind_text(struct store *s, sqlite3_stmt *st, int i, const char *text)
{
	bind_result(s, sqlite3_bind_text(st, i, text, (int)strlen(text),
	    SQLITE_STATIC));
}

void
store_bind_blob(struct store *s, sqlite3_stmt *st, int i, const void *p,
		size_t n)
{
	/* A NULL pointer would bind SQL NULL; an empty blob is a blob. */
	if (n == 0)
		bind_result(s, sqlite3_bind_zeroblob(st, i, 0));
	else if (n > INT_MAX)
		bind_result(s, SQLITE_TOOBIG);
	else
		bind_result(s, sqlite3_bind_blob(st, i, p, (int)n,
		    SQLITE_STATIC));
}

void
store_reset(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int
store_exec2(struct store *s, enum store_stmt_id id, const char *sql,
	    uint64_t a, uint64_t b, const char *what)
{
	sqlite3_stmt *st = store_stmt(s, id, sql);

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		store_bind_u64(s, st, 2, b);
	return store_exec(s, st, what);
}

int
store_step(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (s->bind_rc != SQLITE_OK) {
		log_error("store: %s: bind: %s", what,
		    sqlite3_errstr(s->bind_rc));
		s->bind_rc = SQLITE_OK;
		store_reset(st);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	log_error("store: %s: %s", what, store_db_error(s->db));
	store_reset(st);
	return -1;
}

int
store_exec(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc;

	while ((rc = store_step(s, st, what)) == SQLITE_ROW)
		;
	if (rc < 0)
		return -1;
	store_reset(st);
	return 0;
}

uint64_t
store_col_u64(sqlite3_stmt *st, int col)
{
	return (uint64_t)sqlite3_column_int64(st, col);
}

int
store_col_text(sqlite3_stmt *st, int col, char *dst, size_t cap, size_t min)
{
	const unsigned char *p = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	dst[0] = '\0';
	if (p == NULL || n < min || n >= cap ||
	    !wire_utf8_valid(p, n))
		return -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* ---- open / close ------------------------------------------------------ */

/* mkdir -p dir with mode 0700 for the parts it creates. */
int
store_make_dirs(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat sb;
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof path) {
		seterr(err, errlen, "bad data directory name");
		return -1;
	}
	memcpy(path, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			seterr(err, errlen, "cannot create %s: %s", path,
			    strerror(errno));
			return -1;
		}
		path[i] = i < n ? '/' : '\0';
	}
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		seterr(err, errlen, "%s is not a directory", dir);
		return -1;
	}
	return 0;
}

/* Run one statement that returns one text row (PRAGMA journal_mode). */
static int
pragma_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (t = sqlite3_column_text(st, 0)) != NULL) {
		snprintf(out, cap, "%s", (const char *)t);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
set_pragmas(struct store *s, int file, int sync_full, char *err,
	    size_t errlen)
{
	char mode[16];

	/* One process owns a store: holding SQLite's locks for good saves
	 * two fcntl() calls per transaction and lets WAL mode keep its index
	 * in heap memory instead of a shared-memory file. It must be set
	 * before the first access. (Another process that opens the file
	 * while chatd runs gets SQLITE_BUSY.) A page cache of 32 MiB keeps
	 * the indexes' hot pages out of pread(). See STORE_WAL_PAGES. */
	if (file && (sqlite3_exec(s->db, "PRAGMA locking_mode=EXCLUSIVE",
	    NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, "PRAGMA cache_size=-32768", NULL, NULL,
	    NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, "PRAGMA wal_autocheckpoint=" STORE_WAL_PAGES,
	    NULL, NULL, NULL) != SQLITE_OK)) {
		seterr(err, errlen, "pragma: %s", store_db_error(s->db));
		return -1;
	}
	if (file && (pragma_text(s->db, "PRAGMA journal_mode=WAL", mode,
	    sizeof mode) < 0 || strcmp(mode, "wal") != 0)) {
		seterr(err, errlen, "cannot enable WAL mode: %s",
		    store_db_error(s->db));
		return -1;
	}
	if (sqlite3_exec(s->db, sync_full ? "PRAGMA synchronous=FULL" :
	    "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, "PRAGMA foreign_keys=OFF", NULL, NULL,
	    NULL) != SQLITE_OK) {
		seterr(err, errlen, "pragma: %s", store_db_error(s->db));
		return -1;
	}
	return 0;
}

/*
 * Create the schema if absent, in one transaction. meta is created first
 * so the version of an existing database can be checked before anything
 * else is touched: a newer schema is refused, not "upgraded" backwards.
 */
static int
setup_schema(struct store *s, char *err, size_t errlen)
{
	uint64_t version = 0;
	int rc;

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE;"
	    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);",
	    NULL, NULL, NULL) != SQLITE_OK)
		goto sqlfail;
	rc = store_meta_get_u64(s, "schema_version", &version);
	if (rc < 0)
		goto sqlfail;
	if (rc == 0 && version > SCHEMA_VERSION) {
		seterr(err, errlen, "database schema version %llu is newer "
		    "than this chatd supports (%d)",
		    (unsigned long long)version, SCHEMA_VERSION);
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    ((rc == 1 || version < SCHEMA_VERSION) &&
	    store_meta_set_u64(s, "schema_version", SCHEMA_VERSION) < 0) ||
	    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto sqlfail;
	return 0;
sqlfail:
	seterr(err, errlen, "schema: %s", store_db_error(s->db));
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Re-read the cached log position from the database, and the index of the
 * stored results that have not moved from the log yet. */
static int
load_last(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, ST_LOG_LAST,
	    "SELECT lsn, epoch FROM log ORDER BY lsn DESC LIMIT 1");
	int rc;

	if (st == NULL)
		return -1;
	rc = store_step(s, st, "log position");
	if (rc < 0)
		return -1;
	s->last_lsn = rc == SQLITE_ROW ? store_col_u64(st, 0) : 0;
	s->last_epoch = rc == SQLITE_ROW ? store_col_u64(st, 1) : 0;
	store_reset(st);
	return store_results_load(s);
}

/*
 * Once per process, before SQLite initializes itself: no allocator
 * statistics (each malloc/free would take a global mutex), and no mutex
 * per connection. Every connection is used by the loop thread only (the
 * password helper thread never touches SQLite). sqlite3_config() fails
 * harmlessly if SQLite was already initialized by someone else.
 */
static void
configure_sqlite(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	(void)sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
}

static struct store *
open_path(const char *path, int file, int sync_full, char *err,
	  size_t errlen)
{
	struct store *s = calloc(1, sizeof *s);

	configure_sqlite();
	if (s == NULL) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		seterr(err, errlen, "cannot open %s: %s", path,
		    s->db ? store_db_error(s->db) : "out of memory");
		store_close(s);
		return NULL;
	}
	if (set_pragmas(s, file, sync_full, err, errlen) < 0 ||
	    setup_schema(s, err, errlen) < 0) {
		store_close(s);
		return NULL;
	}
	if (load_last(s) < 0) {
		seterr(err, errlen, "cannot read the log position: %s",
		    store_db_error(s->db));
		store_close(s);
		return NULL;
	}
	return s;
}

struct store *
store_open(const char *dir, int sync_full, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct store *s;
	char why[256];

	if (store_make_dirs(dir, err, errlen) < 0)
		return NULL;
	if ((size_t)snprintf(path, sizeof path, "%s/chatd.db", dir) >=
	    sizeof path) {
		seterr(err, errlen, "data directory name too long");
		return NULL;
	}
	s = open_path(path, 1, sync_full, why, sizeof why);
	if (s == NULL)
		seterr(err, errlen, "%s: %s", path, why);
	return s;
}

struct store *
store_open_memory(void)
{
	char err[256];
	struct store *s = open_path(":memory:", 0, 0, err, sizeof err);

	if (s == NULL)
		log_error("store: in-memory store: %s", err);
	return s;
}

void
store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmts[i]);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_error("store: close: %s", store_db_error(s->db));
	free(s);
}

/* ---- transactions ------------------------------------------------------ */

int
store_in_txn(const struct store *s)
{
	return !sqlite3_get_autocommit(s->db);
}

int
store_begin(struct store *s)
{
	sqlite3_stmt *st;

	if (store_in_txn(s)) {
		log_error("store: begin: a transaction is already open");
		return -1;
	}
	st = store_stmt(s, ST_BEGIN, "BEGIN IMMEDIATE");
	return st ? store_exec(s, st, "begin") : -1;
}

/*
 * Commit. If COMMIT fails and SQLite rolled the transaction back itself,
 * the cached position is re-read; otherwise the transaction is still open
 * and the caller rolls back.
 */
int
store_commit(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, ST_COMMIT, "COMMIT");

	if (st && store_exec(s, st, "commit") == 0)
		return 0;
	if (!store_in_txn(s))
		load_last(s);
	return -1;
}

/* Roll back the open transaction (no-op without one) and re-read the log
 * position, which the rolled-back records had advanced. */
int
store_rollback(struct store *s)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (store_in_txn(s)) {
		st = store_stmt(s, ST_ROLLBACK, "ROLLBACK");
		rc = st ? store_exec(s, st, "rollback") : -1;
	}
	if (load_last(s) < 0)
		rc = -1;
	return rc;
}

void
store_last(const struct store *s, uint64_t *epoch, uint64_t *lsn)
{
	*epoch = s->last_epoch;
	*lsn = s->last_lsn;
}

/* ---- meta -------------------------------------------------------------- */

/* Look key up; on 0 the statement is positioned on the value (caller
 * resets), on 1 or -1 it has been reset. */
static int
meta_lookup(struct store *s, const char *key, sqlite3_stmt **out)
{
	sqlite3_stmt *st = store_stmt(s, ST_META_GET,
	    "SELECT value FROM meta WHERE key = ?1");
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(s, st, 1, key);
	rc = store_step(s, st, "meta get");
	if (rc < 0)
		return -1;
	if (rc == SQLITE_DONE) {
		store_reset(st);
		return 1;
	}
	*out = st;
	return 0;
}

int
store_meta_get_u64(struct store *s, const char *key, uint64_t *v)
{
	sqlite3_stmt *st;
	int rc = meta_lookup(s, key, &st);

	if (rc != 0)
		return rc;
	*v = store_col_u64(st, 0);
	store_reset(st);
	return 0;
}

/* 0 found (out reset, then the value appended), 1 absent, -1 error. */
int
store_meta_get_blob(struct store *s, const char *key, struct buf *out)
{
	sqlite3_stmt *st;
	int rc = meta_lookup(s, key, &st);

	if (rc != 0)
		return rc;
	buf_reset(out);
	buf_append(out, sqlite3_column_blob(st, 0),
	    (size_t)sqlite3_column_bytes(st, 0));
	store_reset(st);
	return 0;
}

static sqlite3_stmt *
meta_set_stmt(struct store *s, const char *key)
{
	sqlite3_stmt *st = store_stmt(s, ST_META_SET,
	    "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)");

	if (st)
		store_bind_text(s, st, 1, key);
	return st;
}

int
store_meta_set_u64(struct store *s, const char *key, uint64_t v)
{
	sqlite3_stmt *st = meta_set_stmt(s, key);

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 2, v);
	return store_exec(s, st, "meta set");
}

int
store_meta_set_blob(struct store *s, const char *key, const void *p,
		    size_t n)
{
	sqlite3_stmt *st = meta_set_stmt(s, key);

	if (st == NULL)
		return -1;
	store_bind_blob(s, st, 2, p, n);
	return store_exec(s, st, "meta set");
}

int
store_meta_raise(struct store *s, const char *key, uint64_t v)
{
	sqlite3_stmt *st = store_stmt(s, ST_META_RAISE,
	    "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key)"
	    " DO UPDATE SET value = max(value, excluded.value)");

	if (st == NULL)
		return -1;
	store_bind_text(s, st, 1, key);
	store_bind_u64(s, st, 2, v);
	return store_exec(s, st, "meta raise");
}

/* ---- the log ----------------------------------------------------------- */

/*
 * Fill r from a log row (lsn, epoch, type, client_id, seq, at, payload,
 * reply_op, reply). Values a RECORD item cannot carry mean the database is
 * corrupt: -1, so nothing downstream encodes (and aborts on) them.
 */
static int
row_to_record(sqlite3_stmt *st, struct wire_item_RECORD *r)
{
	static const uint8_t empty[1];
	sqlite3_int64 type = sqlite3_column_int64(st, 2);
	sqlite3_int64 reply_op = sqlite3_column_int64(st, 7);

	memset(r, 0, sizeof *r);
	r->lsn = store_col_u64(st, 0);
	r->epoch = store_col_u64(st, 1);
	r->client_id = store_col_u64(st, 3);
	r->seq = store_col_u64(st, 4);
	r->at = store_col_u64(st, 5);
	r->payload.ptr = sqlite3_column_blob(st, 6);
	r->payload.len = (uint32_t)sqlite3_column_bytes(st, 6);
	r->reply.ptr = sqlite3_column_blob(st, 8);
	r->reply.len = (uint32_t)sqlite3_column_bytes(st, 8);
	if (r->payload.ptr == NULL)
		r->payload.ptr = empty;
	if (r->reply.ptr == NULL)
		r->reply.ptr = empty;
	if (type < 0x0300 || type > 0x03FF || reply_op < 0 ||
	    reply_op > 0xFFFF || r->lsn == 0 || r->epoch == 0 ||
	    r->payload.len > WIRE_MAX_RECORD || r->reply.len > WIRE_MAX_REPLY)
		return -1;
	r->type = (uint16_t)type;
	r->reply_op = (uint16_t)reply_op;
	return 0;
}

int
store_log_read(struct store *s, uint64_t from, store_record_cb *cb,
	       void *ud)
{
	sqlite3_stmt *st = store_stmt(s, ST_LOG_READ,
	    "SELECT lsn, epoch, type, client_id, seq, at, payload, reply_op,"
	    " reply FROM log WHERE lsn >= ?1 ORDER BY lsn");
	struct wire_item_RECORD r;
	int rc;

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, from);
	while ((rc = store_step(s, st, "log read")) == SQLITE_ROW) {
		if (row_to_record(st, &r) < 0) {
			log_error("store: log read: corrupt record at lsn "
			    "%lld", sqlite3_column_int64(st, 0));
			store_reset(st);
			return -1;
		}
		if (cb(ud, &r) != 0)
			break;
	}
	if (rc < 0)
		return -1;
	store_reset(st);
	return 0;
}

int
store_log_epoch(struct store *s, uint64_t lsn, uint64_t *epoch)
{
	sqlite3_stmt *st = store_stmt(s, ST_LOG_EPOCH,
	    "SELECT epoch FROM log WHERE lsn = ?1");
	int rc;

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, lsn);
	rc = store_step(s, st, "log epoch");
	if (rc < 0)
		return -1;
	if (rc == SQLITE_ROW)
		*epoch = store_col_u64(st, 0);
	store_reset(st);
	return rc == SQLITE_ROW ? 0 : 1;
}

uint64_t
store_log_first(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, ST_LOG_FIRST,
	    "SELECT min(lsn) FROM log");
	uint64_t first = 0;

	if (st == NULL || store_step(s, st, "log first") != SQLITE_ROW) {
		if (st)
			store_reset(st);
		return 0;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_NULL)
		first = store_col_u64(st, 0);
	store_reset(st);
	return first;
}

int
store_log_prune(struct store *s, uint64_t below, unsigned batch)
{
	sqlite3_stmt *st;
	uint64_t first = store_log_first(s), upto;
	int rc;

	/* Never the last record: it is where the log ends. Never a record
	 * whose stored result has not moved into the requests table. */
	if (below > s->last_lsn)
		below = s->last_lsn;
	if (below > store_results_moved(s) + 1)
		below = store_results_moved(s) + 1;
	if (first == 0 || first >= below)
		return 0;
	upto = below - first > batch ? first + batch : below;
	st = store_stmt(s, ST_LOG_PRUNE, "DELETE FROM log WHERE lsn < ?1");
	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, upto);
	rc = store_step(s, st, "log prune");
	if (rc < 0)
		return -1;
	store_reset(st);
	return sqlite3_changes(s->db);
}
