/*
 * store_query.c — the read queries of store.h, and store_dump().
 *
 * Queries only read. Each row becomes a fully filled wire item (or struct
 * store_user / store_session) through one row_to_* function that checks
 * every value against the item's limits: text is copied only if it fits
 * the fixed array and is valid UTF-8, ids must be non-zero. A row that
 * fails is corruption and the query returns -1 — it never overflows an
 * array or hands an encoder a value it would abort on.
 *
 * Message views use the partial indexes described in store.c: "in U's
 * view" is split into the sent side (sender_id = U AND hidden_s = 0) and
 * the received side (recipient_id = U AND hidden_r = 0), each an ordered
 * index range with its own LIMIT, merged with UNION ALL. A message to
 * oneself visible on both sides is taken from the sent side only (the
 * received side excludes rows the sent side already has).
 *
 * Callbacks must not re-run the query that is calling them (its cached
 * statement is in use); other store calls are fine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "store_internal.h"

#define MSG_COLS "id, sender, recipient, sent_at, read_at, body"

/* A u64 bound as the largest valid SQLite integer when it is above it, so
 * range conditions keep their meaning. */
static uint64_t
clamp63(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : v;
}

static uint32_t
clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* ---- rows -------------------------------------------------------------- */

/* Columns: id, name, fullname, pwhash. */
static int
row_to_user(sqlite3_stmt *st, struct store_user *u)
{
	u->id = store_col_u64(st, 0);
	if (u->id == 0 ||
	    store_col_text(st, 1, u->name, sizeof u->name, 1) < 0 ||
	    store_col_text(st, 2, u->fullname, sizeof u->fullname, 0) < 0 ||
	    store_col_text(st, 3, u->pwhash, sizeof u->pwhash, 1) < 0)
		return -1;
	return 0;
}

/* Columns: MSG_COLS. */
static int
row_to_msg(sqlite3_stmt *st, struct wire_item_MSG *m)
{
	memset(m, 0, sizeof *m);
	m->id = store_col_u64(st, 0);
	m->sent_at = store_col_u64(st, 3);
	m->read_at = store_col_u64(st, 4);
	if (m->id == 0 ||
	    store_col_text(st, 1, m->from, sizeof m->from, 1) < 0 ||
	    store_col_text(st, 2, m->to, sizeof m->to, 1) < 0 ||
	    store_col_text(st, 5, m->body, sizeof m->body, 1) < 0)
		return -1;
	return 0;
}

/* Columns: id, recipient, updated_at, body. */
static int
row_to_draft(sqlite3_stmt *st, struct wire_item_DRAFT *d)
{
	memset(d, 0, sizeof *d);
	d->id = store_col_u64(st, 0);
	d->updated_at = store_col_u64(st, 2);
	if (d->id == 0 ||
	    store_col_text(st, 1, d->to, sizeof d->to, 1) < 0 ||
	    store_col_text(st, 3, d->body, sizeof d->body, 1) < 0)
		return -1;
	return 0;
}

static int
corrupt(sqlite3_stmt *st, const char *what)
{
	log_error("store: %s: corrupt row (id %lld)", what,
	    sqlite3_column_int64(st, 0));
	store_reset(st);
	return -1;
}

/*
 * Step a bound statement expected to return at most one row and convert
 * it with conv: 0 found, 1 not found, -1 error. st is reset.
 */
static int
one_row(struct store *s, sqlite3_stmt *st, int (*conv)(sqlite3_stmt *,
	void *), void *out, const char *what)
{
	int rc = store_step(s, st, what);

	if (rc < 0)
		return -1;
	if (rc == SQLITE_DONE) {
		store_reset(st);
		return 1;
	}
	if (conv(st, out) < 0)
		return corrupt(st, what);
	store_reset(st);
	return 0;
}

static int
conv_user(sqlite3_stmt *st, void *out)
{
	return row_to_user(st, out);
}

static int
conv_msg(sqlite3_stmt *st, void *out)
{
	return row_to_msg(st, out);
}

static int
conv_draft(sqlite3_stmt *st, void *out)
{
	return row_to_draft(st, out);
}

/* ---- users and sessions ------------------------------------------------ */

int
store_user_find(struct store *s, const char *name, struct store_user *u)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_USER_NAME,
	    "SELECT id, name, fullname, pwhash FROM users WHERE name = ?1");

	if (st == NULL)
		return -1;
	store_bind_text(s, st, 1, name);
	return one_row(s, st, conv_user, u, "user find");
}

int
store_user_by_id(struct store *s, uint64_t id, struct store_user *u)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_USER_ID,
	    "SELECT id, name, fullname, pwhash FROM users WHERE id = ?1");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, id);
	return one_row(s, st, conv_user, u, "user by id");
}

/* The newest id the name had among the messages in uid's view (a deleted
 * account's messages keep its name). */
int
store_former_user(struct store *s, uint64_t uid, const char *name,
		  uint64_t *peer_uid)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_FORMER_USER,
	    "SELECT max(peer) FROM ("
	    " SELECT max(sender_id) AS peer FROM messages"
	    "  WHERE recipient_id = ?1 AND hidden_r = 0 AND sender = ?2"
	    "  COLLATE NOCASE"
	    " UNION ALL"
	    " SELECT max(recipient_id) FROM messages"
	    "  WHERE sender_id = ?1 AND hidden_s = 0 AND recipient = ?2"
	    "  COLLATE NOCASE)");
	int rc;

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, uid);
	store_bind_text(s, st, 2, name);
	rc = store_step(s, st, "former user");
	if (rc < 0)
		return -1;
	rc = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (rc)
		*peer_uid = store_col_u64(st, 0);
	store_reset(st);
	return rc ? 0 : 1;
}

#define USERS_MATCH " WHERE ?1 = '' OR lower(name) GLOB lower(?1)"

static int
users_count(struct store *s, const char *glob, uint32_t *total)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_USERS_COUNT,
	    "SELECT count(*) FROM users" USERS_MATCH);
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(s, st, 1, glob);
	rc = store_step(s, st, "users count");
	if (rc < 0)
		return -1;
	*total = rc == SQLITE_ROW ? clamp32(store_col_u64(st, 0)) : 0;
	store_reset(st);
	return 0;
}

int
store_users_page(struct store *s, const char *glob, uint32_t page,
		 uint32_t page_size, uint32_t *total, store_user_cb *cb,
		 void *ud)
{
	sqlite3_stmt *st;
	struct wire_item_USER u;
	int rc;

	if (glob == NULL)
		glob = "";
	if (users_count(s, glob, total) < 0)
		return -1;
	st = store_stmt(s, ST_Q_USERS_PAGE, "SELECT id, name, fullname"
	    " FROM users" USERS_MATCH " ORDER BY lower(name), id"
	    " LIMIT ?2 OFFSET ?3");
	if (st == NULL)
		return -1;
	store_bind_text(s, st, 1, glob);
	store_bind_u64(s, st, 2, page_size);
	store_bind_u64(s, st, 3, clamp63((uint64_t)page * page_size));
	while ((rc = store_step(s, st, "users page")) == SQLITE_ROW) {
		memset(&u, 0, sizeof u);
		if (sqlite3_column_int64(st, 0) == 0 ||
		    store_col_text(st, 1, u.username, sizeof u.username, 1) < 0 ||
		    store_col_text(st, 2, u.fullname, sizeof u.fullname, 0) < 0)
			return corrupt(st, "users page");
		cb(ud, &u, store_col_u64(st, 0));
	}
	if (rc < 0)
		return -1;
	store_reset(st);
	return 0;
}

int
store_session_find(struct store *s, const uint8_t hash[32],
		   struct store_session *out)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_SESSION,
	    "SELECT s.user_id, u.name, s.expires_at FROM sessions s"
	    " JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1");
	int rc;

	if (st == NULL)
		return -1;
	store_bind_blob(s, st, 1, hash, 32);
	rc = store_step(s, st, "session find");
	if (rc < 0)
		return -1;
	if (rc == SQLITE_DONE) {
		store_reset(st);
		return 1;
	}
	out->uid = store_col_u64(st, 0);
	out->expires_at = store_col_u64(st, 2);
	if (store_col_text(st, 1, out->username, sizeof out->username, 1) < 0)
		return corrupt(st, "session find");
	store_reset(st);
	return 0;
}

/* ---- messages ---------------------------------------------------------- */

int
store_inbox_counts(struct store *s, uint64_t uid, uint32_t *unread,
		   uint32_t *total, uint64_t *last_id)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_INBOX,
	    "SELECT (SELECT count(*) FROM messages WHERE recipient_id = ?1"
	    "   AND hidden_r = 0 AND read_at = 0),"
	    " (SELECT count(*) FROM messages WHERE recipient_id = ?1"
	    "   AND hidden_r = 0),"
	    " max(coalesce((SELECT id FROM messages WHERE sender_id = ?1"
	    "   AND hidden_s = 0 ORDER BY id DESC LIMIT 1), 0),"
	    "  coalesce((SELECT id FROM messages WHERE recipient_id = ?1"
	    "   AND hidden_r = 0 ORDER BY id DESC LIMIT 1), 0))");
	int rc;

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, uid);
	rc = store_step(s, st, "inbox counts");
	if (rc < 0)
		return -1;
	*unread = rc == SQLITE_ROW ? clamp32(store_col_u64(st, 0)) : 0;
	*total = rc == SQLITE_ROW ? clamp32(store_col_u64(st, 1)) : 0;
	*last_id = rc == SQLITE_ROW ? store_col_u64(st, 2) : 0;
	store_reset(st);
	return 0;
}

/* Hand every row of a bound message query to cb until it returns
 * non-zero. */
static int
each_msg(struct store *s, sqlite3_stmt *st, store_msg_cb *cb, void *ud,
	 const char *what)
{
	struct wire_item_MSG m;
	int rc;

	while ((rc = store_step(s, st, what)) == SQLITE_ROW) {
		if (row_to_msg(st, &m) < 0)
			return corrupt(st, what);
		if (cb(ud, &m) != 0)
			break;
	}
	if (rc < 0)
		return -1;
	store_reset(st);
	return 0;
}

int
store_unread(struct store *s, uint64_t uid, uint32_t max, store_msg_cb *cb,
	     void *ud)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_UNREAD, "SELECT " MSG_COLS
	    " FROM messages WHERE recipient_id = ?1 AND hidden_r = 0"
	    " AND read_at = 0 ORDER BY id LIMIT ?2");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, uid);
	store_bind_u64(s, st, 2, max);
	return each_msg(s, st, cb, ud, "unread");
}

int
store_after(struct store *s, uint64_t uid, uint64_t after_id, uint32_t max,
	    store_msg_cb *cb, void *ud)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_AFTER,
	    "SELECT * FROM (SELECT " MSG_COLS " FROM messages"
	    "  WHERE sender_id = ?1 AND hidden_s = 0 AND id > ?2"
	    "  ORDER BY id LIMIT ?3)"
	    " UNION ALL"
	    " SELECT * FROM (SELECT " MSG_COLS " FROM messages"
	    "  WHERE recipient_id = ?1 AND hidden_r = 0 AND id > ?2"
	    "  AND NOT (sender_id = ?1 AND hidden_s = 0)"
	    "  ORDER BY id LIMIT ?3)"
	    " ORDER BY id LIMIT ?3");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, uid);
	store_bind_u64(s, st, 2, clamp63(after_id));
	store_bind_u64(s, st, 3, max);
	return each_msg(s, st, cb, ud, "after");
}

/* Collects the newest-first rows of the history query. */
struct msg_array {
	struct wire_item_MSG *m;
	uint32_t              n, cap;
};

static int
collect_msg(void *ud, const struct wire_item_MSG *m)
{
	struct msg_array *a = ud;

	if (a->n >= a->cap)
		return 1;
	a->m[a->n++] = *m;
	return 0;
}

/* max is capped at CHAT_MAX_PAGE (the rows are held in memory to be
 * reported oldest first). */
int
store_history(struct store *s, uint64_t uid, uint64_t peer_uid,
	      uint64_t before_id, uint32_t max, store_msg_cb *cb, void *ud)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_HISTORY,
	    "SELECT * FROM (SELECT " MSG_COLS " FROM messages"
	    "  WHERE sender_id = ?1 AND hidden_s = 0 AND id < ?3"
	    "  AND recipient_id = ?2 ORDER BY id DESC LIMIT ?4)"
	    " UNION ALL"
	    " SELECT * FROM (SELECT " MSG_COLS " FROM messages"
	    "  WHERE recipient_id = ?1 AND hidden_r = 0 AND id < ?3"
	    "  AND sender_id = ?2 AND NOT (sender_id = ?1 AND hidden_s = 0)"
	    "  ORDER BY id DESC LIMIT ?4)"
	    " ORDER BY id DESC LIMIT ?4");
	struct msg_array a = { NULL, 0, max < CHAT_MAX_PAGE ? max :
	    CHAT_MAX_PAGE };
	uint32_t i;
	int rc;

	if (st == NULL)
		return -1;
	if (a.cap == 0)
		return 0;
	a.m = malloc(a.cap * sizeof *a.m);
	if (a.m == NULL) {
		log_error("store: history: out of memory");
		return -1;
	}
	store_bind_u64(s, st, 1, uid);
	store_bind_u64(s, st, 2, peer_uid);
	store_bind_u64(s, st, 3, before_id == 0 ? (uint64_t)INT64_MAX :
	    clamp63(before_id));
	store_bind_u64(s, st, 4, a.cap);
	rc = each_msg(s, st, collect_msg, &a, "history");
	for (i = a.n; rc == 0 && i > 0; i--)
		if (cb(ud, &a.m[i - 1]) != 0)
			break;
	free(a.m);
	return rc;
}

int
store_message(struct store *s, uint64_t uid, uint64_t id,
	      struct wire_item_MSG *m)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_MESSAGE, "SELECT " MSG_COLS
	    " FROM messages WHERE id = ?2 AND ((sender_id = ?1 AND"
	    " hidden_s = 0) OR (recipient_id = ?1 AND hidden_r = 0))");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, uid);
	store_bind_u64(s, st, 2, id);
	return one_row(s, st, conv_msg, m, "message");
}

/* ---- drafts, stored results, ids --------------------------------------- */

/* The user's drafts by id (creation order). */
int
store_drafts(struct store *s, uint64_t uid, store_draft_cb *cb, void *ud)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_DRAFTS,
	    "SELECT id, recipient, updated_at, body FROM drafts"
	    " WHERE owner_id = ?1 ORDER BY id");
	struct wire_item_DRAFT d;
	int rc;

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, uid);
	while ((rc = store_step(s, st, "drafts")) == SQLITE_ROW) {
		if (row_to_draft(st, &d) < 0)
			return corrupt(st, "drafts");
		if (cb(ud, &d) != 0)
			break;
	}
	if (rc < 0)
		return -1;
	store_reset(st);
	return 0;
}

int
store_draft(struct store *s, uint64_t uid, uint64_t id,
	    struct wire_item_DRAFT *d)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_DRAFT,
	    "SELECT id, recipient, updated_at, body FROM drafts"
	    " WHERE id = ?2 AND owner_id = ?1");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, uid);
	store_bind_u64(s, st, 2, id);
	return one_row(s, st, conv_draft, d, "draft");
}

int
store_max_ids(struct store *s, uint64_t *msg_id, uint64_t *draft_id)
{
	int rc;

	*msg_id = *draft_id = 0;
	rc = store_meta_get_u64(s, "max_msg_id", msg_id);
	if (rc >= 0)
		rc = store_meta_get_u64(s, "max_draft_id", draft_id);
	return rc < 0 ? -1 : 0;
}

/* ---- dump -------------------------------------------------------------- */

/* Text with C-style escapes for quotes, backslashes and non-printing
 * bytes, so one row stays on one line. */
static void
dump_text(FILE *out, const unsigned char *p, int n)
{
	int i;

	fputc('"', out);
	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(out, "\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] == 0x7F)
			fprintf(out, "\\x%02x", p[i]);
		else
			fputc(p[i], out);
	}
	fputc('"', out);
}

static void
dump_value(FILE *out, sqlite3_stmt *st, int col)
{
	const unsigned char *p;
	int i, n;

	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		fprintf(out, "%lld", sqlite3_column_int64(st, col));
		break;
	case SQLITE_FLOAT:
		fprintf(out, "%.17g", sqlite3_column_double(st, col));
		break;
	case SQLITE_TEXT:
		p = sqlite3_column_text(st, col);
		dump_text(out, p, sqlite3_column_bytes(st, col));
		break;
	case SQLITE_BLOB:
		p = sqlite3_column_blob(st, col);
		n = sqlite3_column_bytes(st, col);
		fputs("x'", out);
		for (i = 0; i < n; i++)
			fprintf(out, "%02x", p[i]);
		fputc('\'', out);
		break;
	default:
		fputs("NULL", out);
	}
}

/* Print every row of sql as "name col=value ...". */
static int
dump_query(struct store *s, FILE *out, const char *name, const char *sql)
{
	sqlite3_stmt *st;
	int rc, i;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("store: dump %s: %s", name, store_db_error(s->db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fputs(name, out);
		for (i = 0; i < sqlite3_column_count(st); i++) {
			fprintf(out, " %s=", sqlite3_column_name(st, i));
			dump_value(out, st, i);
		}
		fputc('\n', out);
	}
	if (rc != SQLITE_DONE)
		log_error("store: dump %s: %s", name, store_db_error(s->db));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_dump(struct store *s, FILE *out, int with_log)
{
	static const char *const tables[][2] = {
		{ "meta", "SELECT key, value FROM meta WHERE key IN"
		  " ('max_msg_id', 'max_draft_id', 'isr', 'isr_pos_epoch',"
		  " 'isr_pos_lsn', 'members', 'members_pos_epoch',"
		  " 'members_pos_lsn', 'epoch_primary') ORDER BY key" },
		{ "users", "SELECT * FROM users ORDER BY id" },
		{ "messages", "SELECT * FROM messages ORDER BY id" },
		{ "drafts", "SELECT * FROM drafts ORDER BY id" },
		{ "sessions", "SELECT * FROM sessions ORDER BY token_hash" },
		{ "requests", "SELECT * FROM requests"
		  " ORDER BY client_id, seq" },
		{ "request_floors", "SELECT * FROM request_floors"
		  " ORDER BY client_id" },
		{ "log", "SELECT * FROM log ORDER BY lsn" },
	};
	size_t i, n = sizeof tables / sizeof tables[0];

	for (i = 0; i < n; i++) {
		if (!with_log && strcmp(tables[i][0], "log") == 0)
			continue;
		if (dump_query(s, out, tables[i][0], tables[i][1]) < 0)
			return -1;
	}
	return 0;
}
