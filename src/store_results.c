/*
 * store_results.c — the stored result of every client request, for
 * exactly-once retries (DESIGN.md §7, PROTOCOL.md §6).
 *
 * A record made for a client request carries (client_id, seq) and the
 * reply in its log row. The requests table keeps results beyond the log:
 * at least the last REQUESTS_PER_CLIENT of each client, for a day; below a
 * client's floor (request_floors) a retry is answered RETRY_TOO_OLD.
 *
 * Results reach the table in batches. Applying the record whose lsn is a
 * multiple of STORE_RESULTS_BATCH copies the results of the last batch of
 * records from the log, in (client_id, seq) order, and prunes each client
 * of the batch to its last REQUESTS_PER_CLIENT. One row per request had
 * put every client's newest result on its own page, dirtied in every turn
 * on every replica: 25-30% of the CPU per acknowledged send (NOTEBOOK,
 * 2026-11-21); a batch touches each client's page once. Every replica
 * moves at the same lsns, so their tables stay identical, and the log is
 * never pruned above the last move (store_log_prune).
 *
 * Until its batch moves, a result is found through s->tail: an in-memory
 * index (client_id, seq) -> lsn of the records after the last move,
 * rebuilt from the log whenever the log position is (re)loaded (open,
 * rollback). It holds fewer than STORE_RESULTS_BATCH entries in twice as
 * many slots.
 */
#include <stdint.h>
#include <string.h>
#include "log.h"
#include "store_internal.h"

#define REQUESTS_PER_CLIENT 1024	/* stored results kept per client */
#define REQUEST_MAX_AGE_MS  (24ull * 3600 * 1000)
#define REQUEST_PRUNE_EVERY 1000	/* lsns between age-based prunes */
#define REQUEST_FLOOR_AGE_MS (7ull * 24 * 3600 * 1000)	/* floor kept */

#define TAIL_SLOTS (2 * STORE_RESULTS_BATCH)

/* ---- the in-memory tail ---------------------------------------------------- */

/* The last lsn whose batch has moved into the requests table. */
static uint64_t
moved_upto(uint64_t last_lsn)
{
	return last_lsn - last_lsn % STORE_RESULTS_BATCH;
}

static unsigned
slot_of(uint64_t client_id, uint64_t seq)
{
	uint64_t h = client_id * 0x9E3779B97F4A7C15ull ^
	    (seq + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;

	return (unsigned)(h >> 32) & (TAIL_SLOTS - 1);
}

/* The tail entry of (client_id, seq), or the empty slot it would take. */
static struct store_result_slot *
tail_find(struct store *s, uint64_t client_id, uint64_t seq)
{
	unsigned i = slot_of(client_id, seq);

	while (s->tail[i].lsn != 0 && (s->tail[i].client_id != client_id ||
	    s->tail[i].seq != seq))
		i = (i + 1) & (TAIL_SLOTS - 1);
	return &s->tail[i];
}

static int
tail_add(struct store *s, uint64_t client_id, uint64_t seq, uint64_t lsn)
{
	struct store_result_slot *e;

	if (s->tail_n >= STORE_RESULTS_BATCH) {
		/* Impossible while every batch moves: say so, do not loop. */
		log_error("store: stored-result tail full at lsn %llu",
		    (unsigned long long)lsn);
		return -1;
	}
	e = tail_find(s, client_id, seq);
	if (e->lsn == 0)
		s->tail_n++;
	e->client_id = client_id;
	e->seq = seq;
	e->lsn = lsn;
	return 0;
}

static void
tail_clear(struct store *s)
{
	memset(s->tail, 0, sizeof s->tail);
	s->tail_n = 0;
}

int
store_results_load(struct store *s)
{
	sqlite3_stmt *st = store_stmt(s, ST_RES_TAIL,
	    "SELECT lsn, client_id, seq FROM log"
	    " WHERE lsn > ?1 AND client_id != 0");
	int rc;

	tail_clear(s);
	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, moved_upto(s->last_lsn));
	while ((rc = store_step(s, st, "result tail")) == SQLITE_ROW)
		if (tail_add(s, store_col_u64(st, 1), store_col_u64(st, 2),
		    store_col_u64(st, 0)) < 0) {
			store_reset(st);
			return -1;
		}
	if (rc < 0)
		return -1;
	store_reset(st);
	return 0;
}

uint64_t
store_results_moved(const struct store *s)
{
	return moved_upto(s->last_lsn);
}

/* ---- writing --------------------------------------------------------------- */

/* Each client of the batch (from, upto] keeps its last
 * REQUESTS_PER_CLIENT results; what goes raises its floor. */
static int
prune_clients(struct store *s, uint64_t from, uint64_t upto)
{
	sqlite3_stmt *st = store_stmt(s, ST_RES_CLIENTS,
	    "SELECT client_id, max(seq), max(at) FROM log"
	    " WHERE lsn > ?1 AND lsn <= ?2 AND client_id != 0"
	    " GROUP BY client_id ORDER BY client_id");
	sqlite3_stmt *fl;
	int rc;

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, from);
	store_bind_u64(s, st, 2, upto);
	while ((rc = store_step(s, st, "batch clients")) == SQLITE_ROW) {
		uint64_t client = store_col_u64(st, 0), seq = store_col_u64(st, 1);

		if (seq <= REQUESTS_PER_CLIENT)
			continue;
		seq -= REQUESTS_PER_CLIENT;
		fl = store_stmt(s, ST_REQ_FLOOR_SEQ,
		    "INSERT INTO request_floors(client_id, seq, at)"
		    " VALUES(?1, ?2, ?3) ON CONFLICT(client_id) DO UPDATE SET"
		    " seq = max(seq, excluded.seq), at = excluded.at");
		if (fl == NULL)
			goto fail;
		store_bind_u64(s, fl, 1, client);
		store_bind_u64(s, fl, 2, seq);
		store_bind_u64(s, fl, 3, store_col_u64(st, 2));
		if (store_exec(s, fl, "request floor") < 0 ||
		    store_exec2(s, ST_REQ_PRUNE_SEQ, "DELETE FROM requests"
		    " WHERE client_id = ?1 AND seq <= ?2", client, seq,
		    "request prune") < 0)
			goto fail;
	}
	if (rc < 0)
		return -1;
	store_reset(st);
	return 0;
fail:
	store_reset(st);
	return -1;
}

/* The batch ending at lsn upto moves from the log into the table. */
static int
move_batch(struct store *s, uint64_t upto)
{
	uint64_t from = upto - STORE_RESULTS_BATCH;

	if (store_exec2(s, ST_RES_MOVE, "INSERT OR REPLACE INTO requests"
	    "(client_id, seq, lsn, at, reply_op, reply)"
	    " SELECT client_id, seq, lsn, at, reply_op, reply FROM log"
	    " WHERE lsn > ?1 AND lsn <= ?2 AND client_id != 0"
	    " ORDER BY client_id, seq", from, upto, "result move") < 0 ||
	    prune_clients(s, from, upto) < 0)
		return -1;
	tail_clear(s);
	return 0;
}

/* Every REQUEST_PRUNE_EVERY lsns drop results older than a day (by record
 * time, so the same on every replica), raising the floors they leave, and
 * floors that have not risen for a week. */
static int
prune_by_age(struct store *s, const struct wire_item_RECORD *r)
{
	uint64_t cut;

	if (r->lsn % REQUEST_PRUNE_EVERY != 0 || r->at <= REQUEST_MAX_AGE_MS)
		return 0;
	cut = r->at - REQUEST_MAX_AGE_MS;
	/* INDEXED BY: for the GROUP BY the planner would rather walk the
	 * whole table in key order than sort the (usually empty) range. */
	if (store_exec2(s, ST_REQ_FLOOR_AT, "INSERT INTO request_floors"
	    "(client_id, seq, at) SELECT client_id, max(seq), ?2 FROM requests"
	    " INDEXED BY requests_at WHERE at < ?1 GROUP BY client_id"
	    " ON CONFLICT(client_id) DO UPDATE SET"
	    " seq = max(seq, excluded.seq), at = excluded.at", cut, r->at,
	    "request floor by age") < 0 ||
	    store_exec2(s, ST_REQ_PRUNE_AT, "DELETE FROM requests WHERE at < ?1",
	    cut, 0, "request age prune") < 0)
		return -1;
	if (r->at <= REQUEST_FLOOR_AGE_MS)
		return 0;
	return store_exec2(s, ST_REQ_FLOOR_PRUNE, "DELETE FROM request_floors"
	    " WHERE at < ?1", r->at - REQUEST_FLOOR_AGE_MS, 0,
	    "request floor prune");
}

int
store_results_apply(struct store *s, const struct wire_item_RECORD *r)
{
	if (r->client_id != 0 && tail_add(s, r->client_id, r->seq, r->lsn) < 0)
		return -1;
	if (r->lsn % STORE_RESULTS_BATCH == 0 && move_batch(s, r->lsn) < 0)
		return -1;
	return prune_by_age(s, r);
}

/* ---- reading --------------------------------------------------------------- */

/* 2 if the client's results up to seq were pruned, else 1 (never seen). */
static int
below_floor(struct store *s, uint64_t client_id, uint64_t seq)
{
	sqlite3_stmt *st = store_stmt(s, ST_Q_REQUEST_FLOOR,
	    "SELECT seq FROM request_floors WHERE client_id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	store_bind_u64(s, st, 1, client_id);
	rc = store_step(s, st, "request floor");
	if (rc < 0)
		return -1;
	rc = rc == SQLITE_ROW &&
	    (uint64_t)sqlite3_column_int64(st, 0) >= seq ? 2 : 1;
	store_reset(st);
	return rc;
}

int
store_request_find(struct store *s, uint64_t client_id, uint64_t seq,
		   uint16_t *reply_op, struct buf *reply)
{
	const struct store_result_slot *e = tail_find(s, client_id, seq);
	sqlite3_stmt *st;
	sqlite3_int64 op;
	int rc;

	if (e->lsn != 0) {
		st = store_stmt(s, ST_Q_REQUEST_LOG,
		    "SELECT reply_op, reply FROM log WHERE lsn = ?1");
		if (st != NULL)
			store_bind_u64(s, st, 1, e->lsn);
	} else {
		st = store_stmt(s, ST_Q_REQUEST,
		    "SELECT reply_op, reply FROM requests"
		    " WHERE client_id = ?1 AND seq = ?2");
		if (st != NULL) {
			store_bind_u64(s, st, 1, client_id);
			store_bind_u64(s, st, 2, seq);
		}
	}
	if (st == NULL)
		return -1;
	rc = store_step(s, st, "request find");
	if (rc < 0)
		return -1;
	if (rc == SQLITE_DONE) {
		store_reset(st);
		if (e->lsn != 0) {
			log_error("store: stored result at lsn %llu is missing",
			    (unsigned long long)e->lsn);
			return -1;
		}
		return below_floor(s, client_id, seq);
	}
	op = sqlite3_column_int64(st, 0);
	if (op < 0 || op > UINT16_MAX ||
	    sqlite3_column_bytes(st, 1) > (int)WIRE_MAX_REPLY) {
		log_error("store: request find: corrupt stored result");
		store_reset(st);
		return -1;
	}
	*reply_op = (uint16_t)op;
	buf_reset(reply);
	buf_append(reply, sqlite3_column_blob(st, 1),
	    (size_t)sqlite3_column_bytes(st, 1));
	store_reset(st);
	return 0;
}
