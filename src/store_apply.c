/*
 * store_apply.c — store_apply(), the one place that defines what every log
 * record does to the tables.
 *
 * A record is checked completely before anything is written: an open
 * transaction, lsn = last + 1, an epoch not below the last one, a known
 * record type (port WIRE_PORT_RECORD), field limits of the RECORD item and
 * a payload that decodes. Then the effect (one static function per record
 * type, called from the switch in store_apply), the log row, and the
 * stored result for retries (store_results.c). Effects never fail for a valid record whose
 * users or rows are missing: they do nothing, the same on every replica.
 * An SQLite error half-way returns -1 and the caller rolls the whole
 * transaction back (and exits).
 *
 * Everything an effect writes comes from the record and the current rows:
 * times from r->at, message and draft ids from the payload, user ids from
 * r->lsn. Nothing reads the clock or depends on rowid allocation.
 *
 * Hot path (R_MSG_ADD): three cached statements (message insert resolving
 * both users in SQL, id high-water mark, log row); the stored result is
 * the log row's until its batch moves (store_results.c); the decoded
 * payload lives in a union on the stack.
 */
#include <stdint.h>
#include <string.h>
#include "log.h"
#include "store_internal.h"

/* Any decoded record payload. */
union record {
	struct wire_R_USER_ADD      user_add;
	struct wire_R_USER_DEL      user_del;
	struct wire_R_SESSION_OPEN  session_open;
	struct wire_R_SESSION_TOUCH session_touch;
	struct wire_R_SESSION_END   session_end;
	struct wire_R_MSG_ADD       msg_add;
	struct wire_R_MSG_READ      msg_read;
	struct wire_R_MSG_HIDE      msg_hide;
	struct wire_R_DRAFT_PUT     draft_put;
	struct wire_R_DRAFT_DEL     draft_del;
	struct wire_R_DRAFT_SENT    draft_sent;
	struct wire_R_ISR           isr;
	struct wire_R_MEMBERS       members;
	struct wire_R_EPOCH         epoch;
};

/* ---- helpers ----------------------------------------------------------- */

/* The id of user name (any case): 0 found, 1 no such user, -1 error. */
static int
user_id(struct store *s, const char *name, uint64_t *uid)
{
	sqlite3_stmt *st = store_stmt(s, ST_USER_ID,
	    "SELECT id FROM users WHERE name = ?1");
	int rc;

	if (st == NULL)
		return -1;
	store_bind_text(s, st, 1, name);
	rc = store_step(s, st, "user id");
	if (rc < 0)
		return -1;
	if (rc == SQLITE_ROW)
		*uid = store_col_u64(st, 0);
	store_reset(st);
	return rc == SQLITE_ROW ? 0 : 1;
}

/* Store (epoch, lsn) of r under key_epoch / key_lsn. */
static int
meta_pos(struct store *s, const struct wire_item_RECORD *r,
	 const char *key_epoch, const char *key_lsn)
{
	if (store_meta_set_u64(s, key_epoch, r->epoch) < 0 ||
	    store_meta_set_u64(s, key_lsn, r->lsn) < 0)
		return -1;
	return 0;
}

/* ---- users and sessions ------------------------------------------------ */

/* A new account; its id is the record's lsn. A taken name (any case) is
 * left alone. */
static int
apply_user_add(struct store *s, const struct wire_item_RECORD *r,
	       const struct wire_R_USER_ADD *m)
{
	sqlite3_stmt *st = store_stmt(s, ST_USER_ADD,
	    "INSERT INTO users(id, name, fullname, pwhash, created_at)"
	    " SELECT ?1, ?2, ?3, ?4, ?5"
	    " WHERE NOT EXISTS (SELECT 1 FROM users WHERE name = ?2)");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, r->lsn);
	store_bind_text(s, st, 2, m->username);
	store_bind_text(s, st, 3, m->fullname);
	store_bind_text(s, st, 4, m->pwhash);
	store_bind_u64(s, st, 5, r->at);
	return store_exec(s, st, "user add");
}

/*
 * Delete an account: its drafts and sessions go; it leaves both sides of
 * every message (inbox hidden_r, sent hidden_s). Rows that become hidden
 * on both sides — the other side already hidden, or a message to oneself —
 * are deleted first, so the updates never create a doubly hidden row.
 * Messages it sent stay in their recipients' views under the stored name.
 */
static int
apply_user_del(struct store *s, const struct wire_item_RECORD *r,
	       const struct wire_R_USER_DEL *m)
{
	uint64_t uid;
	int rc = user_id(s, m->username, &uid);

	(void)r;
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (store_exec1(s, ST_DEL_DRAFTS, "DELETE FROM drafts WHERE owner_id = ?1",
	    uid, "user del drafts") < 0 ||
	    store_exec1(s, ST_DEL_SESSIONS, "DELETE FROM sessions"
	    " WHERE user_id = ?1", uid, "user del sessions") < 0 ||
	    store_exec1(s, ST_DEL_INBOX_GONE, "DELETE FROM messages"
	    " WHERE recipient_id = ?1 AND hidden_r = 0"
	    " AND (hidden_s = 1 OR sender_id = ?1)", uid,
	    "user del inbox") < 0 ||
	    store_exec1(s, ST_DEL_SENT_GONE, "DELETE FROM messages"
	    " WHERE sender_id = ?1 AND hidden_s = 0"
	    " AND (hidden_r = 1 OR recipient_id = ?1)", uid,
	    "user del sent") < 0 ||
	    store_exec1(s, ST_DEL_HIDE_IN, "UPDATE messages SET hidden_r = 1"
	    " WHERE recipient_id = ?1 AND hidden_r = 0", uid,
	    "user del hide inbox") < 0 ||
	    store_exec1(s, ST_DEL_HIDE_OUT, "UPDATE messages SET hidden_s = 1"
	    " WHERE sender_id = ?1 AND hidden_s = 0", uid,
	    "user del hide sent") < 0 ||
	    store_exec1(s, ST_DEL_USER, "DELETE FROM users WHERE id = ?1",
	    uid, "user del") < 0)
		return -1;
	return 0;
}

/* Expired sessions (expires_at < r->at) go; then the new one is stored if
 * its user exists. */
static int
apply_session_open(struct store *s, const struct wire_item_RECORD *r,
		   const struct wire_R_SESSION_OPEN *m)
{
	sqlite3_stmt *st;
	uint64_t uid;
	int rc;

	if (store_exec1(s, ST_SESSION_EXPIRE, "DELETE FROM sessions"
	    " WHERE expires_at < ?1", r->at, "session expire") < 0)
		return -1;
	rc = user_id(s, m->username, &uid);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	st = store_stmt(s, ST_SESSION_PUT, "INSERT OR REPLACE INTO"
	    " sessions(token_hash, user_id, expires_at) VALUES(?1, ?2, ?3)");
	if (st == NULL)
		return -1;
	store_bind_blob(s, st, 1, m->token_hash.ptr, m->token_hash.len);
	store_bind_u64(s, st, 2, uid);
	store_bind_u64(s, st, 3, m->expires_at);
	return store_exec(s, st, "session open");
}

static int
apply_session_touch(struct store *s, const struct wire_item_RECORD *r,
		    const struct wire_R_SESSION_TOUCH *m)
{
	sqlite3_stmt *st = store_stmt(s, ST_SESSION_TOUCH,
	    "UPDATE sessions SET expires_at = ?2 WHERE token_hash = ?1");

	(void)r;
	if (st == NULL)
		return -1;
	store_bind_blob(s, st, 1, m->token_hash.ptr, m->token_hash.len);
	store_bind_u64(s, st, 2, m->expires_at);
	return store_exec(s, st, "session touch");
}

static int
apply_session_end(struct store *s, const struct wire_item_RECORD *r,
		  const struct wire_R_SESSION_END *m)
{
	uint64_t uid;
	int rc = user_id(s, m->username, &uid);

	(void)r;
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return store_exec1(s, ST_SESSION_END, "DELETE FROM sessions"
	    " WHERE user_id = ?1", uid, "session end");
}

/* ---- messages ---------------------------------------------------------- */

/* Insert the message, both users resolved (ids and registered names) in
 * the same statement: a missing user means no row. The id is consumed
 * either way. An id already present (impossible in a valid log) is left
 * alone rather than stopping every replica on the same record. */
static int
apply_msg_add(struct store *s, const struct wire_item_RECORD *r,
	      const struct wire_R_MSG_ADD *m)
{
	sqlite3_stmt *st = store_stmt(s, ST_MSG_ADD,
	    "INSERT OR IGNORE INTO messages(id, sender_id, sender,"
	    " recipient_id, recipient, sent_at, body)"
	    " SELECT ?1, a.id, a.name, b.id, b.name, ?4, ?5"
	    " FROM users a, users b WHERE a.name = ?2 AND b.name = ?3");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, m->id);
	store_bind_text(s, st, 2, m->from);
	store_bind_text(s, st, 3, m->to);
	store_bind_u64(s, st, 4, r->at);
	store_bind_text(s, st, 5, m->body);
	if (store_exec(s, st, "msg add") < 0)
		return -1;
	return store_meta_raise(s, "max_msg_id", m->id);
}

static int
apply_msg_read(struct store *s, const struct wire_item_RECORD *r,
	       const struct wire_R_MSG_READ *m)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_R_MSG_READ);
	struct wire_item_MSGID item;
	struct wire_list_iter it;
	sqlite3_stmt *st;
	uint64_t uid;
	int rc = user_id(s, m->reader, &uid);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	st = store_stmt(s, ST_MSG_READ, "UPDATE messages SET read_at = ?3"
	    " WHERE id = ?1 AND recipient_id = ?2 AND read_at = 0");
	if (st == NULL)
		return -1;
	wire_list_begin(&it, d, &m->ids);
	while (wire_list_next(&it, &item)) {
		store_bind_u64(s, st, 1, item.id);
		store_bind_u64(s, st, 2, uid);
		store_bind_u64(s, st, 3, r->at);
		if (store_exec(s, st, "msg read") < 0)
			return -1;
	}
	return 0;
}

/* Hide one message from uid's view: the sender's flag if uid sent it, the
 * recipient's if uid received it (both for a message to oneself); a row
 * hidden on both sides is deleted. */
static int
hide_one(struct store *s, uint64_t id, uint64_t uid)
{
	if (store_exec2(s, ST_MSG_HIDE, "UPDATE messages SET"
	    " hidden_s = CASE WHEN sender_id = ?2 THEN 1 ELSE hidden_s END,"
	    " hidden_r = CASE WHEN recipient_id = ?2 THEN 1 ELSE hidden_r END"
	    " WHERE id = ?1 AND (sender_id = ?2 OR recipient_id = ?2)",
	    id, uid, "msg hide") < 0 ||
	    store_exec1(s, ST_MSG_HIDE_GONE, "DELETE FROM messages WHERE id = ?1"
	    " AND hidden_s = 1 AND hidden_r = 1", id, "msg hide delete") < 0)
		return -1;
	return 0;
}

static int
apply_msg_hide(struct store *s, const struct wire_item_RECORD *r,
	       const struct wire_R_MSG_HIDE *m)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_R_MSG_HIDE);
	struct wire_item_MSGID item;
	struct wire_list_iter it;
	uint64_t uid;
	int rc = user_id(s, m->owner, &uid);

	(void)r;
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	wire_list_begin(&it, d, &m->ids);
	while (wire_list_next(&it, &item))
		if (hide_one(s, item.id, uid) < 0)
			return -1;
	return 0;
}

/* ---- drafts ------------------------------------------------------------ */

/* Create, or replace the owner's own draft with that id (a draft of
 * another owner is never taken over). The id is consumed either way. */
static int
apply_draft_put(struct store *s, const struct wire_item_RECORD *r,
		const struct wire_R_DRAFT_PUT *m)
{
	sqlite3_stmt *st = store_stmt(s, ST_DRAFT_PUT,
	    "INSERT INTO drafts(id, owner_id, recipient, body, updated_at)"
	    " SELECT ?1, id, ?3, ?4, ?5 FROM users WHERE name = ?2"
	    " ON CONFLICT(id) DO UPDATE SET recipient = excluded.recipient,"
	    " body = excluded.body, updated_at = excluded.updated_at"
	    " WHERE drafts.owner_id = excluded.owner_id");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, m->id);
	store_bind_text(s, st, 2, m->owner);
	store_bind_text(s, st, 3, m->to);
	store_bind_text(s, st, 4, m->body);
	store_bind_u64(s, st, 5, r->at);
	if (store_exec(s, st, "draft put") < 0)
		return -1;
	return store_meta_raise(s, "max_draft_id", m->id);
}

static int
apply_draft_del(struct store *s, const struct wire_item_RECORD *r,
		const struct wire_R_DRAFT_DEL *m)
{
	uint64_t uid;
	int rc = user_id(s, m->owner, &uid);

	(void)r;
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return store_exec2(s, ST_DRAFT_DEL, "DELETE FROM drafts"
	    " WHERE id = ?1 AND owner_id = ?2", m->id, uid, "draft del");
}

/* Turn the owner's draft into message msg_id (if the draft exists and its
 * recipient is a user), then drop the draft. */
static int
send_draft(struct store *s, uint64_t draft_id, uint64_t uid, uint64_t msg_id,
	   uint64_t at)
{
	sqlite3_stmt *st = store_stmt(s, ST_DRAFT_SEND,
	    "INSERT OR IGNORE INTO messages(id, sender_id, sender,"
	    " recipient_id, recipient, sent_at, body)"
	    " SELECT ?1, d.owner_id, o.name, u.id, u.name, ?4, d.body"
	    " FROM drafts d JOIN users o ON o.id = d.owner_id"
	    " JOIN users u ON u.name = d.recipient"
	    " WHERE d.id = ?2 AND d.owner_id = ?3");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, msg_id);
	store_bind_u64(s, st, 2, draft_id);
	store_bind_u64(s, st, 3, uid);
	store_bind_u64(s, st, 4, at);
	if (store_exec(s, st, "draft send") < 0)
		return -1;
	return store_exec2(s, ST_DRAFT_SENT_DEL, "DELETE FROM drafts"
	    " WHERE id = ?1 AND owner_id = ?2", draft_id, uid,
	    "draft sent delete");
}

/* The i-th listed draft becomes message first_id + i; a skipped draft
 * (missing, another owner's, recipient gone) still consumes its id. */
static int
apply_draft_sent(struct store *s, const struct wire_item_RECORD *r,
		 const struct wire_R_DRAFT_SENT *m)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_R_DRAFT_SENT);
	struct wire_item_MSGID item;
	struct wire_list_iter it;
	uint64_t uid, i = 0;
	int rc = user_id(s, m->owner, &uid);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		wire_list_begin(&it, d, &m->drafts);
		while (wire_list_next(&it, &item))
			if (send_draft(s, item.id, uid, m->first_id + i++,
			    r->at) < 0)
				return -1;
	}
	return store_meta_raise(s, "max_msg_id",
	    m->first_id + m->drafts.count - 1);
}

/* ---- cluster state ----------------------------------------------------- */

static int
apply_isr(struct store *s, const struct wire_item_RECORD *r,
	  const struct wire_R_ISR *m)
{
	(void)m;
	if (store_meta_set_blob(s, "isr", r->payload.ptr, r->payload.len) < 0)
		return -1;
	return meta_pos(s, r, "isr_pos_epoch", "isr_pos_lsn");
}

static int
apply_members(struct store *s, const struct wire_item_RECORD *r,
	      const struct wire_R_MEMBERS *m)
{
	(void)m;
	if (store_meta_set_blob(s, "members", r->payload.ptr,
	    r->payload.len) < 0)
		return -1;
	return meta_pos(s, r, "members_pos_epoch", "members_pos_lsn");
}

static int
apply_epoch(struct store *s, const struct wire_item_RECORD *r,
	    const struct wire_R_EPOCH *m)
{
	(void)r;
	return store_meta_set_u64(s, "epoch_primary", m->primary_id);
}

/* ---- the log row and stored results ------------------------------------ */

static int
log_insert(struct store *s, const struct wire_item_RECORD *r)
{
	sqlite3_stmt *st = store_stmt(s, ST_LOG_INSERT,
	    "INSERT INTO log(lsn, epoch, type, client_id, seq, at, payload,"
	    " reply_op, reply) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, r->lsn);
	store_bind_u64(s, st, 2, r->epoch);
	store_bind_u64(s, st, 3, r->type);
	store_bind_u64(s, st, 4, r->client_id);
	store_bind_u64(s, st, 5, r->seq);
	store_bind_u64(s, st, 6, r->at);
	store_bind_blob(s, st, 7, r->payload.ptr, r->payload.len);
	store_bind_u64(s, st, 8, r->reply_op);
	store_bind_blob(s, st, 9, r->reply.ptr, r->reply.len);
	return store_exec(s, st, "log insert");
}

/* ---- apply ------------------------------------------------------------- */

/* Everything about r that can be checked before writing; on success *rec
 * holds the decoded payload. */
static int
check_record(struct store *s, const struct wire_item_RECORD *r,
	     union record *rec)
{
	static const uint8_t empty[1];
	const struct wire_opdesc *d = wire_op(r->type);
	struct wire_decode_error derr;
	const uint8_t *p = r->payload.ptr ? r->payload.ptr : empty;

	if (!store_in_txn(s)) {
		log_error("store: apply lsn %llu: no open transaction",
		    (unsigned long long)r->lsn);
		return -1;
	}
	if (r->lsn != s->last_lsn + 1 || r->epoch < s->last_epoch ||
	    r->epoch == 0) {
		log_error("store: apply: record (%llu, %llu) does not follow "
		    "(%llu, %llu)", (unsigned long long)r->epoch,
		    (unsigned long long)r->lsn,
		    (unsigned long long)s->last_epoch,
		    (unsigned long long)s->last_lsn);
		return -1;
	}
	if (d == NULL || d->port != WIRE_PORT_RECORD) {
		log_error("store: apply lsn %llu: unknown record type %s",
		    (unsigned long long)r->lsn, wire_op_name(r->type));
		return -1;
	}
	if (r->payload.len > WIRE_MAX_RECORD || r->reply.len > WIRE_MAX_REPLY ||
	    (r->payload.len > 0 && r->payload.ptr == NULL) ||
	    (r->reply.len > 0 && r->reply.ptr == NULL)) {
		log_error("store: apply lsn %llu: bad payload or reply size",
		    (unsigned long long)r->lsn);
		return -1;
	}
	if (wire_decode_struct(&d->body, p, r->payload.len, rec, &derr) < 0) {
		log_error("store: apply lsn %llu: %s does not decode: %s",
		    (unsigned long long)r->lsn, d->name, derr.text);
		return -1;
	}
	if (r->type == WIRE_OP_R_DRAFT_SENT &&
	    rec->draft_sent.first_id > UINT64_MAX -
	    (rec->draft_sent.drafts.count - 1u)) {
		log_error("store: apply lsn %llu: draft ids overflow",
		    (unsigned long long)r->lsn);
		return -1;
	}
	return 0;
}

int
store_apply(struct store *s, const struct wire_item_RECORD *r)
{
	union record rec;
	int rc;

	if (check_record(s, r, &rec) < 0)
		return -1;
	switch (r->type) {
	case WIRE_OP_R_USER_ADD:
		rc = apply_user_add(s, r, &rec.user_add);
		break;
	case WIRE_OP_R_USER_DEL:
		rc = apply_user_del(s, r, &rec.user_del);
		break;
	case WIRE_OP_R_SESSION_OPEN:
		rc = apply_session_open(s, r, &rec.session_open);
		break;
	case WIRE_OP_R_SESSION_TOUCH:
		rc = apply_session_touch(s, r, &rec.session_touch);
		break;
	case WIRE_OP_R_SESSION_END:
		rc = apply_session_end(s, r, &rec.session_end);
		break;
	case WIRE_OP_R_MSG_ADD:
		rc = apply_msg_add(s, r, &rec.msg_add);
		break;
	case WIRE_OP_R_MSG_READ:
		rc = apply_msg_read(s, r, &rec.msg_read);
		break;
	case WIRE_OP_R_MSG_HIDE:
		rc = apply_msg_hide(s, r, &rec.msg_hide);
		break;
	case WIRE_OP_R_DRAFT_PUT:
		rc = apply_draft_put(s, r, &rec.draft_put);
		break;
	case WIRE_OP_R_DRAFT_DEL:
		rc = apply_draft_del(s, r, &rec.draft_del);
		break;
	case WIRE_OP_R_DRAFT_SENT:
		rc = apply_draft_sent(s, r, &rec.draft_sent);
		break;
	case WIRE_OP_R_ISR:
		rc = apply_isr(s, r, &rec.isr);
		break;
	case WIRE_OP_R_MEMBERS:
		rc = apply_members(s, r, &rec.members);
		break;
	case WIRE_OP_R_EPOCH:
		rc = apply_epoch(s, r, &rec.epoch);
		break;
	default:
		/* A record type in wire.def that this switch does not know:
		 * refused before anything was written. */
		log_error("store: apply lsn %llu: no effect defined for %s",
		    (unsigned long long)r->lsn, wire_op_name(r->type));
		return -1;
	}
	if (rc < 0 || log_insert(s, r) < 0 || store_results_apply(s, r) < 0)
		return -1;
	s->last_epoch = r->epoch;
	s->last_lsn = r->lsn;
	return 0;
}
