/*
 * repl_ship.c — log shipping and the in-sync set.
 *
 * Primary. Every backup that asked (CATCHUP) has a cursor, next_lsn.
 * repl_ship_all() sends each backup the records from its cursor to the end
 * of our log, read back from the store — the same path serves a backup 10
 * records behind and one 100,000 behind, and records of the current turn
 * leave before our own commit (the store reads its open transaction), so
 * the backups' fsyncs overlap ours. Sending is pipelined (no waiting for
 * acks) and bounded by what a backup has not yet acknowledged and by the
 * link's output buffer.
 *
 * The commit point is the highest lsn that the primary has committed and
 * every member of the ISR has acknowledged; a client is answered only when
 * its record is at or below it (server.c releases replies).
 *
 * The ISR changes only through R_ISR records, written by the primary: a
 * member whose link is gone or that stopped acknowledging for the failure
 * timeout leaves; a backup that has acknowledged our whole log joins.
 *
 * Backup. APPENDs are applied strictly in order with the same apply(); a
 * record already held (same lsn and epoch) is skipped; a gap or a
 * conflicting record means our log is not a prefix of the primary's, and
 * we ask again with CATCHUP, which the primary answers with a snapshot.
 * The acknowledgement goes out after the local commit (server.c's
 * before-sleep), so an ack always means "on disk".
 */
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "repl.h"
#include "server.h"

#define SHIP_MAX_UNACKED   20000	/* records in flight to one backup */
#define SHIP_MAX_OUTPUT    (4u * 1024 * 1024)	/* link buffer bound */
#define SHIP_BATCH_BYTES   (1u * 1024 * 1024)	/* one APPEND */

/* ---- primary ---------------------------------------------------------------- */

struct batch {
	struct wire_enc enc;
	unsigned        n;
	uint64_t        last_lsn;
};

static int
add_record(void *ud, const struct wire_item_RECORD *rec)
{
	struct batch *b = ud;

	wire_encode_item(&b->enc, rec);
	b->n++;
	b->last_lsn = rec->lsn;
	return b->n >= WIRE_MAX_RECORDS ||
	    wire_enc_size(&b->enc) >= SHIP_BATCH_BYTES;
}

static void
ship(struct repl *r, struct peer *p, uint64_t last_lsn)
{
	struct server *s = r->srv;
	struct wire_APPEND a;
	struct batch b;
	size_t mark;

	while (p->shipping && p->state == LINK_UP && !p->snap_out &&
	    p->next_lsn <= last_lsn &&
	    p->next_lsn - p->acked_lsn <= SHIP_MAX_UNACKED &&
	    conn_output_pending(p->conn) < SHIP_MAX_OUTPUT) {
		memset(&a, 0, sizeof a);
		a.epoch = s->epoch;
		a.commit_lsn = r->commit_lsn;
		memset(&b, 0, sizeof b);
		mark = repl_frame_mark(p);
		wire_encode_begin(&b.enc, conn_outbuf(p->conn), WIRE_OP_APPEND,
		    0, &a);
		if (store_log_read(s->store, p->next_lsn, add_record, &b) < 0 ||
		    b.n == 0) {
			/* Cannot read our own log: do not send half a frame. */
			wire_encode_end(&b.enc);
			conn_close(p->conn, "log read failed", 0);
			return;
		}
		wire_encode_end(&b.enc);
		repl_seal(p, mark);
		log_debug("APPEND to %u: %u records %llu..%llu", p->id, b.n,
		    (unsigned long long)p->next_lsn,
		    (unsigned long long)b.last_lsn);
		p->next_lsn = b.last_lsn + 1;
	}
}

void
repl_ship_all(struct repl *r)
{
	struct logpos last;
	size_t i;

	if (r->srv->role != ROLE_PRIMARY)
		return;
	repl_self_last(r, &last);
	for (i = 0; i < r->npeers; i++) {
		struct peer *p = &r->peers[i];

		if (p->snap_out)
			repl_snap_pump(r, p);
		else
			ship(r, p, last.lsn);
	}
}

int
repl_update_commit(struct repl *r)
{
	struct server *s = r->srv;
	uint64_t c = server_committed_lsn(s);
	unsigned i;

	/* Below min_isr nothing more commits. A write admitted while the
	 * ISR was large enough must not be acknowledged by the ISR that
	 * shrank under it: a primary cut off from its backups would hold
	 * it alone, acknowledge it, and lose it when it rejoins. */
	if (r->isr.n < s->cfg->min_isr)
		return 0;
	for (i = 0; i < r->isr.n; i++) {
		struct peer *p;

		if (r->isr.ids[i] == s->self->id)
			continue;
		p = repl_peer(r, r->isr.ids[i]);
		if (p == NULL)
			continue;	/* not in our configuration */
		if (p->acked_lsn < c)
			c = p->acked_lsn;
	}
	if (c > r->commit_lsn) {
		r->commit_lsn = c;
		return 1;
	}
	return 0;
}

int
repl_write_isr(struct repl *r, const struct isr *isr, const char *why)
{
	struct server *s = r->srv;
	struct wire_R_ISR rec;
	struct wire_enc e;
	struct buf payload;
	char ids[100];
	size_t n = 0;
	unsigned i;
	int rc;

	ids[0] = '\0';
	for (i = 0; i < isr->n; i++)
		n += (size_t)snprintf(ids + n, sizeof ids - n, "%s%u",
		    i ? "," : "", isr->ids[i]);
	log_info("ISR -> {%s}: %s", ids, why);
	memset(&rec, 0, sizeof rec);
	buf_init(&payload);
	wire_payload_begin(&e, &payload, &wire_op(WIRE_OP_R_ISR)->body, &rec);
	repl_encode_isr(&e, isr);
	wire_encode_end(&e);
	rc = server_write_system(s, WIRE_OP_R_ISR, &payload);
	buf_free(&payload);
	return rc;
}

/*
 * A member has failed when its process is gone (its link is down and a
 * reconnection was refused), or it has been silent, or has not
 * acknowledged while records wait for it, for the failure timeout — all
 * on our own clock since our last pause. A link that merely closed is not
 * enough: the peer may be alive and about to tell us of a newer epoch.
 */
static int
member_failed(struct repl *r, struct peer *p, uint64_t now)
{
	uint64_t timeout = r->srv->cfg->election_timeout_ms;
	uint64_t last_lsn = server_committed_lsn(r->srv);

	if (p->state != LINK_UP)
		return p->refused || now - p->last_heard > timeout;
	if (!p->shipping)
		return now - p->last_heard > timeout;
	/* Time counts from when it fell behind, not from its last ack: a
	 * backup that had nothing to acknowledge during a quiet spell is
	 * not late the moment the next write arrives. */
	if (p->acked_lsn >= last_lsn) {
		p->last_ack_at = now;
		return 0;
	}
	return now - p->last_ack_at > timeout;
}

void
repl_check_isr(struct repl *r)
{
	struct server *s = r->srv;
	struct logpos last;
	struct isr next = r->isr;
	uint64_t now = mono_ms();
	const char *why = NULL;
	unsigned i;
	size_t k;

	if (s->role != ROLE_PRIMARY || s->fatal || s->stopping)
		return;
	repl_self_last(r, &last);
	/* The primary is always in its own ISR. */
	next.n = 0;
	next.ids[next.n++] = s->self->id;
	for (i = 0; i < r->isr.n; i++) {
		struct peer *p = repl_peer(r, r->isr.ids[i]);

		if (r->isr.ids[i] == s->self->id)
			continue;
		if (p && member_failed(r, p, now)) {
			why = p->state != LINK_UP ? "a member's link is down" :
			    "a member stopped acknowledging";
			continue;
		}
		next.ids[next.n++] = r->isr.ids[i];
	}
	for (k = 0; k < r->npeers; k++) {
		struct peer *p = &r->peers[k];

		/* Caught up with everything we hold, committed or not. */
		if (!isr_has(&next, p->id) && p->state == LINK_UP &&
		    !p->leaving &&
		    p->shipping && !p->snap_out && p->acked_lsn == last.lsn &&
		    next.n < ELECT_MAX) {
			next.ids[next.n++] = p->id;
			log_info("replica %u caught up to lsn %llu", p->id,
			    (unsigned long long)last.lsn);
			why = why ? why : "a backup caught up";
		}
	}
	if (!isr_has(&r->isr, s->self->id))
		why = why ? why : "the primary was missing from its ISR";
	if (why)
		repl_write_isr(r, &next, why);
}

/* Start shipping to p from p->last, or send a snapshot when our log does
 * not contain that position. */
static void
serve_catchup(struct repl *r, struct peer *p)
{
	struct server *s = r->srv;
	struct logpos last;
	uint64_t epoch_at = 0, first;
	int rc;

	p->wants_catchup = 0;
	repl_self_last(r, &last);
	/* Its next record must still be in our log (we may have pruned). */
	first = store_log_first(s->store);
	rc = first > p->last.lsn + 1 ? 1 :
	    p->last.lsn == 0 ? 0 : p->last.lsn > last.lsn ? 1 :
	    store_log_epoch(s->store, p->last.lsn, &epoch_at);
	if (rc < 0)
		return;
	repl_snap_cancel(p);
	if (rc == 0 && (p->last.lsn == 0 || epoch_at == p->last.epoch)) {
		log_info("replica %u catches up from lsn %llu (we are at %llu)",
		    p->id, (unsigned long long)p->last.lsn + 1,
		    (unsigned long long)last.lsn);
		p->shipping = 1;
		p->next_lsn = p->last.lsn + 1;
		p->acked_lsn = p->last.lsn;
		p->last_ack_at = mono_ms();
		ship(r, p, last.lsn);
		return;
	}
	log_info("replica %u's log (%llu,%llu) is not a prefix of ours "
	    "(%llu,%llu), or we pruned past it: sending a snapshot", p->id,
	    (unsigned long long)p->last.epoch, (unsigned long long)p->last.lsn,
	    (unsigned long long)last.epoch, (unsigned long long)last.lsn);
	p->shipping = 0;
	repl_snap_start(r, p);
}

void
repl_on_catchup(struct repl *r, struct peer *p, const uint8_t *payload,
		size_t len)
{
	struct wire_CATCHUP c;

	if (wire_decode(wire_op(WIRE_OP_CATCHUP), payload, len, &c, NULL) < 0)
		return;
	p->last.epoch = c.last_epoch;
	p->last.lsn = c.last_lsn;
	if (r->srv->role != ROLE_PRIMARY) {
		/* We may be about to lead (announced, not yet accepted by
		 * all): remember, establish() serves it. */
		p->wants_catchup = 1;
		return;
	}
	serve_catchup(r, p);
}

void
repl_serve_catchups(struct repl *r)
{
	size_t i;

	for (i = 0; i < r->npeers; i++)
		if (r->peers[i].wants_catchup && r->peers[i].state == LINK_UP &&
		    !r->peers[i].shipping)
			serve_catchup(r, &r->peers[i]);
}

void
repl_on_append_ack(struct repl *r, struct peer *p, const uint8_t *payload,
		   size_t len)
{
	struct server *s = r->srv;
	struct wire_APPEND_ACK a;

	if (wire_decode(wire_op(WIRE_OP_APPEND_ACK), payload, len, &a,
	    NULL) < 0 || s->role != ROLE_PRIMARY || a.epoch != s->epoch)
		return;
	if (a.lsn > p->acked_lsn)
		p->acked_lsn = a.lsn;
	p->last_ack_at = mono_ms();
	if (repl_update_commit(r))
		server_release(s);
	if (!isr_has(&r->isr, p->id))
		repl_check_isr(r);
	repl_ship_all(r);
}

/* ---- backup ------------------------------------------------------------------- */

void
repl_send_catchup(struct repl *r)
{
	struct server *s = r->srv;
	struct peer *p = repl_peer(r, s->primary_id);
	struct wire_CATCHUP c;
	struct logpos last;

	if (s->role != ROLE_BACKUP || p == NULL || p->state != LINK_UP ||
	    p->snap_in)
		return;
	repl_self_last(r, &last);
	memset(&c, 0, sizeof c);
	c.epoch = s->epoch;
	c.last_epoch = last.epoch;
	c.last_lsn = last.lsn;
	r->last_catchup_at = mono_ms();
	repl_send(p, WIRE_OP_CATCHUP, 0, &c);
}

void
repl_send_ack(struct repl *r)
{
	struct server *s = r->srv;
	struct peer *p = repl_peer(r, s->primary_id);
	struct wire_APPEND_ACK a;
	struct logpos last;

	r->need_ack = 0;
	if (s->role != ROLE_BACKUP || p == NULL || p->state != LINK_UP)
		return;
	repl_self_last(r, &last);
	a.epoch = s->epoch;
	a.lsn = last.lsn;
	repl_send(p, WIRE_OP_APPEND_ACK, 0, &a);
}

void
repl_on_append(struct repl *r, struct peer *p, const uint8_t *payload,
	       size_t len)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_APPEND);
	struct server *s = r->srv;
	struct wire_item_RECORD rec;
	struct wire_list_iter it;
	struct wire_APPEND a;
	struct logpos last;
	uint64_t held;

	if (wire_decode(d, payload, len, &a, NULL) < 0)
		return;
	log_debug("APPEND from %u: epoch %llu, %u records", p->id,
	    (unsigned long long)a.epoch, a.records.count);
	if (a.epoch < r->promised) {
		struct wire_ERROR e;
		memset(&e, 0, sizeof e);
		e.code = WIRE_E_STALE_EPOCH;
		e.about_op = WIRE_OP_APPEND;
		snprintf(e.text, sizeof e.text, "epoch %llu is over: we "
		    "promised %llu", (unsigned long long)a.epoch,
		    (unsigned long long)r->promised);
		repl_send(p, WIRE_OP_ERROR, 0, &e);
		return;
	}
	if (s->role != ROLE_BACKUP || s->primary_id != p->id ||
	    a.epoch != s->epoch)
		repl_become_backup(r, a.epoch, p->id);
	if (p->snap_in)
		return;		/* a snapshot is on its way; records follow */
	r->last_append_at = mono_ms();
	r->commit_lsn = a.commit_lsn;
	wire_list_begin(&it, d, &a.records);
	while (wire_list_next(&it, &rec)) {
		repl_self_last(r, &last);
		if (rec.lsn <= last.lsn) {
			if (store_log_epoch(s->store, rec.lsn, &held) == 0 &&
			    held == rec.epoch)
				continue;	/* already have it */
			log_warn("record (%llu,%llu) conflicts with ours: "
			    "asking the primary to resync us",
			    (unsigned long long)rec.epoch,
			    (unsigned long long)rec.lsn);
			repl_send_catchup(r);
			return;
		}
		if (rec.lsn != last.lsn + 1) {
			repl_send_catchup(r);	/* a gap */
			return;
		}
		if (server_apply_record(s, &rec) < 0)
			return;		/* fatal, already handled */
	}
	r->need_ack = 1;
}

/* The ISR in the store changed: adopt it; a backup readmitted to the ISR
 * has caught up, so it is no longer a recovering replica. */
void
repl_isr_applied(struct repl *r)
{
	struct server *s = r->srv;
	struct wire_R_ISR rec;
	struct buf b;
	struct isr isr;
	uint64_t e = 0, l = 0;

	buf_init(&b);
	if (store_meta_get_blob(s->store, "isr", &b) == 0 &&
	    store_meta_get_u64(s->store, "isr_pos_epoch", &e) == 0 &&
	    store_meta_get_u64(s->store, "isr_pos_lsn", &l) == 0 &&
	    wire_decode_struct(&wire_op(WIRE_OP_R_ISR)->body, buf_head(&b),
	    buf_pending(&b), &rec, NULL) == 0) {
		repl_isr_from_list(wire_op(WIRE_OP_R_ISR), &rec.isr,
		    (struct logpos){ e, l }, &isr);
		if (logpos_cmp(isr.set_at, r->isr.set_at) >= 0)
			r->isr = isr;
		if (r->recovering && isr_has(&isr, s->self->id) &&
		    s->role == ROLE_BACKUP && isr.set_at.epoch == s->epoch) {
			r->recovering = 0;
			r->waiting_for = 0;
			snprintf(r->note, sizeof r->note, "backup of replica %u, "
			    "in the ISR", s->primary_id);
			log_info("back in the ISR (set at (%llu,%llu))",
			    (unsigned long long)isr.set_at.epoch,
			    (unsigned long long)isr.set_at.lsn);
		}
	}
	buf_free(&b);
}

/*
 * Keep the log bounded: records more than log_keep behind the commit
 * point are deleted, in batches so the loop never stalls on it. Every
 * replica prunes its own log by the commit point it knows; a backup that
 * falls behind the pruned point is sent a snapshot instead.
 */
void
repl_prune(struct repl *r)
{
	struct server *s = r->srv;
	uint64_t keep = s->cfg->log_keep;

	if (r->commit_lsn <= keep + 1 || s->fatal)
		return;
	{
	int n = store_log_prune(s->store, r->commit_lsn - keep, 5000);

	if (n < 0)
		log_warn("pruning the log failed");
	else if (n > 0)
		log_debug("pruned %d log records below lsn %llu", n,
		    (unsigned long long)(r->commit_lsn - keep));
	}
}
