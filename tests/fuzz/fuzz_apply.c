/*
 * fuzz_apply.c — store_apply() on a sequence of log records, then every
 * read query over the rows they made.
 *
 * Input: records, one after another, until the input ends (a truncated
 * record at the end is ignored) or APPLY_MAX_RECORDS:
 *
 *   u8  ctl       bit 0: a request trailer follows the payload
 *                 bit 1: commit after this record (else the transaction
 *                        stays open and the next record joins it)
 *                 bits 2-3: epoch step (epoch starts at 1, += step)
 *                 bits 4-7: clock step k (at starts at T0, += k^3 minutes)
 *   u16 type      record type (0x03xx are the known ones), with two
 *                 flags cleared from it: bit 15 gives the record lsn
 *                 last + 2 (a gap), bit 14 epoch last - 1 (0 if none);
 *                 either must be refused
 *   u16 len       payload bytes, then the payload
 *   trailer (bit 0 only):
 *     u8  client_id   (0 = no stored result)
 *     u16 seq
 *     u16 reply_op
 *     u16 reply_len   then the reply bytes
 *
 * All integers big-endian. lsn is always the store's last lsn + 1.
 * Payloads and replies are exact-size heap copies.
 *
 * One in-memory store (store_open_memory), emptied between inputs (every
 * table's rows deleted: a fresh store, but its prepared statements kept,
 * which triples the speed; FUZZ_FRESH_STORE=1 opens a new store for each
 * input instead). Records are applied inside store_begin ...
 * store_commit; a record store_apply refuses rolls the open transaction
 * back. Checked, besides ASan/UBSan/LSan:
 *   - store_apply accepts exactly the records that are valid: a known
 *     record type whose payload decodes with its descriptor and sizes are
 *     within limits (and R_DRAFT_SENT ids that do not wrap) — the effects
 *     "never fail for a valid record";
 *   - the log position follows every apply, commit and rollback;
 *   - every query over the result succeeds (no "corrupt row" from rows
 *     that only store_apply wrote), hands out items the wire encoder
 *     accepts (it aborts on out-of-range values), and agrees with the
 *     others: user by name and by id, messages listed are found one by
 *     one, drafts likewise, unread count = unread rows, page order;
 *   - store_log_read gives back exactly the committed records;
 *   - stored results (client_id, seq) hold the last reply stored;
 *   - the isr / members meta blobs decode;
 *   - store_dump works, and pruning the log changes only the log.
 *
 * Replaying one input with FUZZ_DUMP=1 in the environment prints the
 * resulting state and log (store_dump) on stdout (twice when the log
 * was pruned: before and after).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "buf.h"
#include "fuzz.h"
#include "store.h"
#include "store_internal.h"	/* src/: the db handle, to empty it */
#include "wire.h"

#define T0 1700000000000ull
#define APPLY_MAX_RECORDS 256
#define MAX_QUERY_USERS   12	/* users whose views are queried */
#define MAX_PEERS         4	/* history peers per queried user */
#define MAX_IDS           128	/* message / draft ids followed up */
#define MAX_HASHES        32	/* session token hashes looked up */

struct req {
	uint64_t       client_id, seq;
	uint16_t       reply_op;
	const uint8_t *reply;
	uint32_t       len;
};

struct run {
	struct store             *s;
	struct wire_item_RECORD   log[APPLY_MAX_RECORDS];
	size_t                    nlog, ncommitted;
	/* The largest message / draft id each logged record names (for the
	 * max_msg_id / max_draft_id high-water marks), as SQLite orders
	 * them (signed); has_* = 0 when it names none. */
	int64_t                   msg_hi[APPLY_MAX_RECORDS];
	int64_t                   draft_hi[APPLY_MAX_RECORDS];
	uint8_t                   has_msg[APPLY_MAX_RECORDS];
	uint8_t                   has_draft[APPLY_MAX_RECORDS];
	struct req                reqs[APPLY_MAX_RECORDS];
	size_t                    nreqs, nreqs_committed;
	uint8_t                   hashes[MAX_HASHES][32];
	size_t                    nhashes, nhashes_committed;
	uint8_t                  *copies[2 * APPLY_MAX_RECORDS];
	size_t                    ncopies;
};

/* Users, messages and drafts collected by the query callbacks. */
struct seen {
	uint64_t uids[MAX_QUERY_USERS];
	char     names[MAX_QUERY_USERS][CHAT_MAX_USERNAME + 1];
	size_t   nusers, rows;
	uint64_t ids[MAX_IDS];
	size_t   nids, nrows;
	int64_t  prev;		/* last id seen, for the order check */
	const char *what;
};

static const struct wire_struct *item_user, *item_msg, *item_draft,
    *item_record;

static uint8_t *
keep_copy(struct run *run, const uint8_t *p, size_t n)
{
	uint8_t *q = fz_dup(p, n);

	run->copies[run->ncopies++] = q;
	return q;
}

/* Encode an item as the server would; the encoder aborts on any value
 * outside the item's limits. */
static void
encode_item(const struct wire_struct *s, const void *item)
{
	struct buf b;

	buf_init(&b);
	wire_encode_payload(&b, s, item);
	buf_free(&b);
}

/* ---- predicting store_apply ------------------------------------------- */

/* Is r a record store_apply must accept (see store.h / store_apply.c's
 * check_record)? If so: if it opens a session, remember the hash, and
 * note the ids it raises the high-water marks to in log slot run->nlog. */
static int
valid_record(struct run *run, const struct wire_item_RECORD *r, int bad_pos)
{
	const struct wire_opdesc *d = wire_op(r->type);
	size_t k = run->nlog;
	void *m;
	int ok;

	run->has_msg[k] = run->has_draft[k] = 0;
	if (bad_pos || d == NULL || d->port != WIRE_PORT_RECORD ||
	    r->payload.len > WIRE_MAX_RECORD || r->reply.len > WIRE_MAX_REPLY)
		return 0;
	m = fz_malloc(d->body.size);
	ok = wire_decode(d, r->payload.ptr, r->payload.len, m, NULL) == 0;
	if (ok && r->type == WIRE_OP_R_DRAFT_SENT) {
		const struct wire_R_DRAFT_SENT *ds = m;
		/* Message ids first_id .. first_id + count - 1 must not wrap. */
		if (ds->first_id - 1 > UINT64_MAX - ds->drafts.count)
			ok = 0;
	}
	if (ok && r->type == WIRE_OP_R_MSG_ADD) {
		run->has_msg[k] = 1;
		run->msg_hi[k] = (int64_t)((struct wire_R_MSG_ADD *)m)->id;
	}
	if (ok && r->type == WIRE_OP_R_DRAFT_SENT) {
		const struct wire_R_DRAFT_SENT *ds = m;
		run->has_msg[k] = 1;
		run->msg_hi[k] = (int64_t)(ds->first_id + ds->drafts.count - 1);
	}
	if (ok && r->type == WIRE_OP_R_DRAFT_PUT) {
		run->has_draft[k] = 1;
		run->draft_hi[k] = (int64_t)((struct wire_R_DRAFT_PUT *)m)->id;
	}
	if (ok && r->type == WIRE_OP_R_SESSION_OPEN &&
	    run->nhashes < MAX_HASHES) {
		const struct wire_R_SESSION_OPEN *so = m;
		memcpy(run->hashes[run->nhashes++], so->token_hash.ptr, 32);
	}
	free(m);
	return ok;
}

/* ---- applying ---------------------------------------------------------- */

static void
check_pos(struct run *run, const char *when)
{
	uint64_t e, l, we = 0, wl = 0;

	if (run->nlog > 0) {
		we = run->log[run->nlog - 1].epoch;
		wl = run->log[run->nlog - 1].lsn;
	}
	store_last(run->s, &e, &l);
	if (e != we || l != wl)
		fz_fail("store_last after %s: (%llu, %llu), want (%llu, %llu)",
		    when, (unsigned long long)e, (unsigned long long)l,
		    (unsigned long long)we, (unsigned long long)wl);
}

static void
commit(struct run *run)
{
	if (store_commit(run->s) != 0)
		fz_fail("store_commit failed");
	if (store_in_txn(run->s))
		fz_fail("transaction still open after commit");
	run->ncommitted = run->nlog;
	run->nreqs_committed = run->nreqs;
	run->nhashes_committed = run->nhashes;
	check_pos(run, "commit");
}

static void
apply_all(struct run *run, const uint8_t *data, size_t size)
{
	uint64_t epoch = 1, at = T0, e, l;
	size_t off = 0, n;
	int in_txn = 0;

	for (n = 0; n < APPLY_MAX_RECORDS; n++) {
		struct wire_item_RECORD r;
		unsigned ctl, step, bad_lsn, bad_epoch;
		size_t len, rlen = 0;
		const uint8_t *payload, *reply = NULL;
		int valid, rc;

		if (size - off < 5)
			break;
		ctl = data[off];
		memset(&r, 0, sizeof r);
		r.type = get_be16(data + off + 1);
		bad_lsn = r.type & 0x8000;
		bad_epoch = r.type & 0x4000;
		r.type &= 0x3FFF;
		len = get_be16(data + off + 3);
		off += 5;
		if (len > size - off)
			break;
		payload = data + off;
		off += len;
		if (ctl & 1) {
			if (size - off < 7)
				break;
			r.client_id = data[off];
			r.seq = get_be16(data + off + 1);
			r.reply_op = get_be16(data + off + 3);
			rlen = get_be16(data + off + 5);
			off += 7;
			if (rlen > size - off)
				break;
			reply = data + off;
			off += rlen;
		}
		epoch += (ctl >> 2) & 3;
		step = ctl >> 4;
		at += (uint64_t)step * step * step * 60000;

		store_last(run->s, &e, &l);
		r.epoch = bad_epoch ? (e > 0 ? e - 1 : 0) : epoch;
		r.lsn = bad_lsn ? l + 2 : l + 1;
		r.at = at;
		r.payload.ptr = keep_copy(run, payload, len);
		r.payload.len = (uint32_t)len;
		if (reply) {
			r.reply.ptr = keep_copy(run, reply, rlen);
			r.reply.len = (uint32_t)rlen;
		}
		valid = valid_record(run, &r, bad_lsn || bad_epoch);

		if (!in_txn) {
			if (store_begin(run->s) != 0)
				fz_fail("store_begin failed");
			in_txn = 1;
		}
		rc = store_apply(run->s, &r);
		if (rc != 0 && rc != -1)
			fz_fail("store_apply returned %d", rc);
		if (rc == 0 && !valid)
			fz_fail("store_apply accepted an invalid %s record "
			    "(lsn %llu)", wire_op_name(r.type),
			    (unsigned long long)r.lsn);
		if (rc != 0 && valid)
			fz_fail("store_apply refused a valid %s record "
			    "(lsn %llu)", wire_op_name(r.type),
			    (unsigned long long)r.lsn);
		if (rc < 0) {
			if (store_rollback(run->s) != 0)
				fz_fail("store_rollback failed");
			if (store_in_txn(run->s))
				fz_fail("transaction open after rollback");
			in_txn = 0;
			run->nlog = run->ncommitted;
			run->nreqs = run->nreqs_committed;
			run->nhashes = run->nhashes_committed;
			check_pos(run, "rollback");
			continue;
		}
		run->log[run->nlog++] = r;
		if (r.client_id != 0) {
			struct req *q = &run->reqs[run->nreqs++];
			q->client_id = r.client_id;
			q->seq = r.seq;
			q->reply_op = r.reply_op;
			q->reply = r.reply.ptr;
			q->len = r.reply.len;
		}
		check_pos(run, "apply");
		if (ctl & 2) {
			commit(run);
			in_txn = 0;
		}
	}
	if (in_txn)
		commit(run);
}

/* ---- queries ------------------------------------------------------------ */

static void
on_user(void *ud, const struct wire_item_USER *u, uint64_t uid)
{
	struct seen *sn = ud;

	encode_item(item_user, u);
	if (uid == 0)
		fz_fail("users page: user id 0");
	if (sn->nusers < MAX_QUERY_USERS) {
		sn->uids[sn->nusers] = uid;
		memcpy(sn->names[sn->nusers], u->username,
		    sizeof sn->names[0]);
		sn->nusers++;
	}
	sn->rows++;
}

/* Messages arrive oldest first: ids strictly increasing (in SQLite's
 * signed order, see store_internal.h on integers). */
static int
on_msg(void *ud, const struct wire_item_MSG *m)
{
	struct seen *sn = ud;

	encode_item(item_msg, m);
	if (sn->nrows > 0 && (int64_t)m->id <= sn->prev)
		fz_fail("%s: message %llu after %lld", sn->what,
		    (unsigned long long)m->id, (long long)sn->prev);
	sn->prev = (int64_t)m->id;
	if (sn->nids < MAX_IDS)
		sn->ids[sn->nids++] = m->id;
	sn->nrows++;
	return 0;
}

static int
on_draft(void *ud, const struct wire_item_DRAFT *d)
{
	struct seen *sn = ud;

	encode_item(item_draft, d);
	if (sn->nrows > 0 && (int64_t)d->id <= sn->prev)
		fz_fail("drafts: draft %llu after %lld",
		    (unsigned long long)d->id, (long long)sn->prev);
	sn->prev = (int64_t)d->id;
	if (sn->nids < MAX_IDS)
		sn->ids[sn->nids++] = d->id;
	sn->nrows++;
	return 0;
}

/* Stops the query after the first row. */
static int
first_only(void *ud, const struct wire_item_MSG *m)
{
	(void)m;
	++*(size_t *)ud;
	return 1;
}

static int
first_draft_only(void *ud, const struct wire_item_DRAFT *d)
{
	(void)d;
	++*(size_t *)ud;
	return 1;
}

static void
start(struct seen *sn, const char *what)
{
	sn->nids = sn->nrows = 0;
	sn->prev = 0;
	sn->what = what;
}

/* Every message query for one user, and the follow-ups. */
static void
query_user(struct store *s, struct seen *users, size_t k)
{
	uint64_t uid = users->uids[k], last_id;
	struct store_user u;
	struct wire_item_MSG m;
	struct wire_item_DRAFT d;
	struct seen sn;
	uint32_t unread, total;
	uint64_t peer;
	size_t i, j, stopped;

	memset(&sn, 0, sizeof sn);
	if (store_user_by_id(s, uid, &u) != 0 ||
	    strcmp(u.name, users->names[k]) != 0)
		fz_fail("store_user_by_id(%llu) does not find %s",
		    (unsigned long long)uid, users->names[k]);
	if (store_user_find(s, users->names[k], &u) != 0 || u.id != uid)
		fz_fail("store_user_find(%s) does not find it",
		    users->names[k]);
	if (store_inbox_counts(s, uid, &unread, &total, &last_id) != 0)
		fz_fail("store_inbox_counts failed");
	if (unread > total)
		fz_fail("inbox: %u unread of %u", unread, total);

	start(&sn, "unread");
	if (store_unread(s, uid, CHAT_MAX_PAGE, on_msg, &sn) != 0)
		fz_fail("store_unread failed");
	if (sn.nrows > CHAT_MAX_PAGE ||
	    (unread <= CHAT_MAX_PAGE && sn.nrows != unread))
		fz_fail("store_unread gave %zu rows for %u unread", sn.nrows,
		    unread);
	for (i = 0; i < sn.nids; i++)
		if (store_message(s, uid, sn.ids[i], &m) != 0 ||
		    m.id != sn.ids[i])
			fz_fail("unread message %llu not in the view",
			    (unsigned long long)sn.ids[i]);

	start(&sn, "after");
	if (store_after(s, uid, 0, CHAT_MAX_PAGE, on_msg, &sn) != 0)
		fz_fail("store_after failed");
	if (sn.nrows > CHAT_MAX_PAGE)
		fz_fail("store_after gave %zu rows", sn.nrows);
	/* A callback that stops: one call, and the query is reusable. */
	stopped = 0;
	if (store_after(s, uid, 0, CHAT_MAX_PAGE, first_only, &stopped) != 0 ||
	    stopped != (sn.nrows > 0))
		fz_fail("store_after with a stopping callback");
	if (sn.nids > 1) {
		/* Pages after / before a listed id. */
		uint64_t mid = sn.ids[sn.nids / 2];
		struct seen pg;

		memset(&pg, 0, sizeof pg);
		start(&pg, "after mid");
		if (store_after(s, uid, mid, 2, on_msg, &pg) != 0 ||
		    pg.nrows > 2 || (pg.nrows && (int64_t)pg.ids[0] <=
		    (int64_t)mid))
			fz_fail("store_after(after_id %llu)",
			    (unsigned long long)mid);
		for (j = 0; j < users->nusers && j < MAX_PEERS; j++) {
			start(&pg, "history before mid");
			if (store_history(s, uid, users->uids[j], mid, 3,
			    on_msg, &pg) != 0 || pg.nrows > 3 || (pg.nrows &&
			    pg.prev >= (int64_t)mid))
				fz_fail("store_history(before_id %llu)",
				    (unsigned long long)mid);
		}
	}
	for (i = 0; i < sn.nids; i++)
		if (store_message(s, uid, sn.ids[i], &m) != 0 ||
		    m.id != sn.ids[i])
			fz_fail("message %llu listed but not found",
			    (unsigned long long)sn.ids[i]);

	for (j = 0; j < users->nusers && j < MAX_PEERS; j++) {
		start(&sn, "history");
		if (store_history(s, uid, users->uids[j], 0, CHAT_MAX_PAGE,
		    on_msg, &sn) != 0)
			fz_fail("store_history failed");
		if (store_former_user(s, uid, users->names[j], &peer) < 0)
			fz_fail("store_former_user failed");
	}

	start(&sn, "drafts");
	if (store_drafts(s, uid, on_draft, &sn) != 0)
		fz_fail("store_drafts failed");
	stopped = 0;
	if (store_drafts(s, uid, first_draft_only, &stopped) != 0 ||
	    stopped != (sn.nrows > 0))
		fz_fail("store_drafts with a stopping callback");
	for (i = 0; i < sn.nids; i++)
		if (store_draft(s, uid, sn.ids[i], &d) != 0 ||
		    d.id != sn.ids[i])
			fz_fail("draft %llu listed but not found",
			    (unsigned long long)sn.ids[i]);
}

struct logcheck {
	struct run *run;
	size_t      n;
};

static int
on_record(void *ud, const struct wire_item_RECORD *r)
{
	struct logcheck *lc = ud;
	const struct wire_item_RECORD *w;

	encode_item(item_record, r);	/* as repl_ship.c sends it */
	if (lc->n >= lc->run->ncommitted)
		fz_fail("log read: more records than committed");
	w = &lc->run->log[lc->n++];
	if (r->lsn != w->lsn || r->epoch != w->epoch || r->type != w->type ||
	    r->client_id != w->client_id || r->seq != w->seq ||
	    r->at != w->at || r->reply_op != w->reply_op ||
	    r->payload.len != w->payload.len || r->reply.len != w->reply.len ||
	    (w->payload.len && memcmp(r->payload.ptr, w->payload.ptr,
	    w->payload.len) != 0) ||
	    (w->reply.len && memcmp(r->reply.ptr, w->reply.ptr,
	    w->reply.len) != 0))
		fz_fail("log read: record %llu differs from the one applied",
		    (unsigned long long)w->lsn);
	return 0;
}

/* store_dump with the log, as a malloc'd string; *state_len gets the
 * length of the part before the log (which store_dump prints last). With
 * FUZZ_DUMP=1 in the environment it is also printed on stdout. */
static char *
dump(struct store *s, size_t *state_len)
{
	char *text = NULL, *log;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	if (f == NULL)
		fz_fail("open_memstream failed");
	if (store_dump(s, f, 1) != 0)
		fz_fail("store_dump failed");
	fclose(f);
	if (getenv("FUZZ_DUMP"))
		fputs(text, stdout);
	log = strncmp(text, "log ", 4) == 0 ? text : strstr(text, "\nlog ");
	*state_len = log ? (size_t)(log - text) : n;
	return text;
}

static void
query_all(struct run *run)
{
	static const char *const globs[] = { "", "*", "a*", "?*?", "*[" };
	struct store *s = run->s;
	struct seen users;
	struct logcheck lc = { run, 0 };
	uint64_t msg_id, draft_id, epoch;
	struct store_session ss;
	struct buf b;
	uint32_t total;
	uint16_t op;
	size_t i, j, blen, alen;
	char *before, *after;

	memset(&users, 0, sizeof users);
	for (i = 0; i < sizeof globs / sizeof globs[0]; i++) {
		struct seen g;

		memset(&g, 0, sizeof g);
		if (store_users_page(s, globs[i], 0, 1000, &total, on_user,
		    i == 0 ? (void *)&users : (void *)&g) != 0)
			fz_fail("store_users_page(\"%s\") failed", globs[i]);
		if ((i == 0 ? users.rows : g.rows) != total)
			fz_fail("users page: %zu rows, total %u",
			    i == 0 ? users.rows : g.rows, total);
	}
	{
		struct seen g;

		memset(&g, 0, sizeof g);
		if (store_users_page(s, NULL, 1, 2, &total, on_user, &g) != 0 ||
		    store_users_page(s, "", UINT32_MAX, 100, &total, on_user,
		    &g) != 0)
			fz_fail("store_users_page (paged) failed");
	}
	for (i = 0; i < users.nusers && i < MAX_QUERY_USERS; i++)
		query_user(s, &users, i);

	for (i = 0; i < run->nhashes_committed; i++)
		if (store_session_find(s, run->hashes[i], &ss) < 0)
			fz_fail("store_session_find failed");

	/* The last reply stored for each (client_id, seq), unless pruned. */
	buf_init(&b);
	for (i = 0; i < run->nreqs_committed; i++) {
		const struct req *q = &run->reqs[i];
		int rc;

		for (j = i + 1; j < run->nreqs_committed; j++)
			if (run->reqs[j].client_id == q->client_id &&
			    run->reqs[j].seq == q->seq)
				break;
		if (j < run->nreqs_committed)
			continue;	/* replaced later */
		rc = store_request_find(s, q->client_id, q->seq, &op, &b);
		if (rc < 0)
			fz_fail("store_request_find failed");
		if (rc == 0 && (op != q->reply_op ||
		    buf_pending(&b) != q->len || (q->len &&
		    memcmp(buf_head(&b), q->reply, q->len) != 0)))
			fz_fail("stored result (%llu, %llu) differs",
			    (unsigned long long)q->client_id,
			    (unsigned long long)q->seq);
	}

	/* Cluster state in meta decodes as repl_ship.c decodes it. */
	if (store_meta_get_blob(s, "isr", &b) == 0 &&
	    wire_decode(wire_op(WIRE_OP_R_ISR), buf_head(&b),
	    buf_pending(&b), &(struct wire_R_ISR){0}, NULL) != 0)
		fz_fail("meta isr does not decode");
	if (store_meta_get_blob(s, "members", &b) == 0 &&
	    wire_decode(wire_op(WIRE_OP_R_MEMBERS), buf_head(&b),
	    buf_pending(&b), &(struct wire_R_MEMBERS){0}, NULL) != 0)
		fz_fail("meta members does not decode");
	buf_free(&b);
	/* The high-water marks: the largest id any committed record named,
	 * consumed or not (in SQLite's signed order: see store_internal.h;
	 * the primary's ids never get near 2^63). */
	if (store_max_ids(s, &msg_id, &draft_id) != 0)
		fz_fail("store_max_ids failed");
	{
		int64_t mh = 0, dh = 0;
		int hm = 0, hd = 0;

		for (i = 0; i < run->ncommitted; i++) {
			if (run->has_msg[i] && (!hm || run->msg_hi[i] > mh))
				mh = run->msg_hi[i];
			if (run->has_draft[i] &&
			    (!hd || run->draft_hi[i] > dh))
				dh = run->draft_hi[i];
			hm |= run->has_msg[i];
			hd |= run->has_draft[i];
		}
		if ((int64_t)msg_id != mh || (int64_t)draft_id != dh)
			fz_fail("max ids (%lld, %lld), want (%lld, %lld)",
			    (long long)msg_id, (long long)draft_id,
			    (long long)mh, (long long)dh);
	}
	/* store.c: "A row with both flags set is deleted in the same
	 * record, so such rows never exist." */
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM messages"
		    " WHERE hidden_s <> 0 AND hidden_r <> 0", -1, &st,
		    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
			fz_fail("invariant query: %s", sqlite3_errmsg(s->db));
		if (sqlite3_column_int64(st, 0) != 0)
			fz_fail("%lld message rows hidden on both sides",
			    sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
	}

	if (store_log_read(s, 1, on_record, &lc) != 0 ||
	    lc.n != run->ncommitted)
		fz_fail("store_log_read: %zu of %zu records", lc.n,
		    run->ncommitted);
	if (store_log_first(s) != (run->ncommitted ? 1 : 0))
		fz_fail("store_log_first is not 1");
	if (run->ncommitted && (store_log_epoch(s, run->ncommitted,
	    &epoch) != 0 || epoch != run->log[run->ncommitted - 1].epoch))
		fz_fail("store_log_epoch of the last record");
	/* Pruning changes only the log, and keeps the last record and
	 * every record whose stored result has not moved yet. */
	before = dump(s, &blen);
	if (run->ncommitted >= 2) {
		uint64_t moved = run->ncommitted -
		    run->ncommitted % STORE_RESULTS_BATCH;
		uint64_t below = moved + 1 < run->ncommitted ? moved + 1 :
		    run->ncommitted;
		int pruned = store_log_prune(s, run->ncommitted, 1000);

		if (pruned != (int)below - 1)
			fz_fail("store_log_prune removed %d of %llu", pruned,
			    (unsigned long long)below - 1);
		after = dump(s, &alen);
		if (alen != blen || memcmp(before, after, blen) != 0)
			fz_fail("store_log_prune changed the state");
		if (store_log_first(s) != below)
			fz_fail("store_log_first after prune");
		free(after);
	}
	free(before);
}

/* A store with no rows: the one kept from the last input, emptied, or a
 * new one. */
static struct store *
empty_store(void)
{
	static struct store *kept;
	static int fresh = -1;
	uint64_t e, l;

	if (fresh < 0)
		fresh = getenv("FUZZ_FRESH_STORE") != NULL;
	if (fresh || kept == NULL) {
		struct store *s = store_open_memory();

		if (s == NULL)
			fz_fail("store_open_memory failed");
		if (!fresh)
			kept = s;
		return s;
	}
	if (store_in_txn(kept) ||
	    sqlite3_exec(kept->db, "DELETE FROM log; DELETE FROM users;"
	    " DELETE FROM messages; DELETE FROM drafts; DELETE FROM sessions;"
	    " DELETE FROM requests; DELETE FROM request_floors;"
	    " DELETE FROM meta WHERE key <> 'schema_version'", NULL, NULL,
	    NULL) != SQLITE_OK || store_rollback(kept) != 0)
		fz_fail("cannot empty the store: %s", sqlite3_errmsg(kept->db));
	store_last(kept, &e, &l);
	if (e != 0 || l != 0)
		fz_fail("emptied store is at (%llu, %llu)",
		    (unsigned long long)e, (unsigned long long)l);
	return kept;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run run;
	size_t i;

	if (item_user == NULL) {
		item_user = fz_item("USER");
		item_msg = fz_item("MSG");
		item_draft = fz_item("DRAFT");
		item_record = fz_item("RECORD");
	}
	memset(&run, 0, sizeof run);
	run.s = empty_store();
	apply_all(&run, data, size);
	query_all(&run);
	if (getenv("FUZZ_FRESH_STORE"))
		store_close(run.s);
	for (i = 0; i < run.ncopies; i++)
		free(run.copies[i]);
	return 0;
}
