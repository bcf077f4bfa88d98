/*
 * repl_vote.c — elections: rounds, ballots, announcement, acceptance.
 *
 * A round is named by its epoch. Whoever has no primary starts round
 * E = (highest epoch it has seen or promised) + 1 with ROUND{E}. Every
 * replica that hears of a round newer than its promise (by ROUND or by a
 * BALLOT) first writes the promise to disk (rule 1), then broadcasts its
 * BALLOT; from then on it refuses anything of an older epoch. Every
 * replica collects the round's ballots; once it holds one from each peer
 * its link is up to (or half the election timeout passed) it runs the pure
 * decision (repl_elect.c: rules 2 and 4). All who hold the same ballots
 * reach the same decision.
 *
 * The winner announces itself to everyone who cast a ballot and serves
 * nothing until each of them has accepted or gone away (rule 3). A voter
 * in the ISR whose log is ahead of the winner's refuses; the winner then
 * steps down having written nothing, and a later round (with a higher
 * epoch) follows. Once established, the winner writes R_EPOCH and the new
 * ISR: itself and the voters whose logs equal its own.
 */
#include <stdio.h>
#include <string.h>
#include "auth.h"
#include "log.h"
#include "repl.h"
#include "server.h"

static void
own_ballot(struct repl *r, struct ballot *b)
{
	memset(b, 0, sizeof *b);
	b->id = r->srv->self->id;
	b->promised = r->promised;
	repl_self_last(r, &b->last);
	b->isr = r->isr;
	b->eligible = repl_self_eligible(r);
	b->ballot = auth_random_u64();
	b->timestamp = wall_ms();
}

static void
send_ballot(struct repl *r, struct peer *p, const struct ballot *b)
{
	struct wire_BALLOT m;
	struct wire_enc e;
	size_t mark;

	if (p->conn == NULL || p->state != LINK_UP)
		return;
	memset(&m, 0, sizeof m);
	m.epoch = b->promised;
	m.last_epoch = b->last.epoch;
	m.last_lsn = b->last.lsn;
	m.isr_epoch = b->isr.set_at.epoch;
	m.isr_lsn = b->isr.set_at.lsn;
	m.eligible = (uint8_t)b->eligible;
	m.round_epoch = r->round.epoch;
	m.ballot = b->ballot;
	m.timestamp = b->timestamp;
	mark = repl_frame_mark(p);
	wire_encode_begin(&e, conn_outbuf(p->conn), WIRE_OP_BALLOT, 0, &m);
	repl_encode_isr(&e, &b->isr);
	wire_encode_end(&e);
	repl_seal(p, mark);
}

static struct ballot *
find_ballot(struct round *rd, uint32_t id)
{
	size_t i;

	for (i = 0; i < rd->n; i++)
		if (rd->ballots[i].id == id)
			return &rd->ballots[i];
	return NULL;
}

static void
put_ballot(struct round *rd, const struct ballot *b)
{
	struct ballot *slot = find_ballot(rd, b->id);

	if (slot == NULL && rd->n < ELECT_MAX)
		slot = &rd->ballots[rd->n++];
	if (slot)
		*slot = *b;
}

/* Promise epoch (durably) and take part in its round with our ballot. */
static void
join_round(struct repl *r, uint64_t epoch)
{
	struct server *s = r->srv;
	struct ballot mine;
	size_t i;

	if (epoch <= r->promised && r->round.epoch == epoch)
		return;
	if (epoch > r->promised) {
		if (repl_persist(r, "promised", epoch) < 0)
			return;		/* a storage failure: stopping */
		r->promised = epoch;
	}
	if (s->role == ROLE_PRIMARY)
		repl_step_down(r, "a round for a newer epoch began");
	if (s->role == ROLE_BACKUP)
		s->role = ROLE_ELECTING;
	if (s->role == ROLE_STARTING || s->role == ROLE_WAITING)
		s->role = ROLE_ELECTING;
	memset(&r->round, 0, sizeof r->round);
	r->round.epoch = epoch;
	r->round.started = mono_ms();
	own_ballot(r, &mine);
	put_ballot(&r->round, &mine);
	for (i = 0; i < r->npeers; i++)
		send_ballot(r, &r->peers[i], &mine);
	log_info("round for epoch %llu: our log (%llu,%llu), %s",
	    (unsigned long long)epoch, (unsigned long long)mine.last.epoch,
	    (unsigned long long)mine.last.lsn,
	    mine.eligible ? "eligible" : "not eligible");
}

void
repl_start_round(struct repl *r, const char *why)
{
	struct server *s = r->srv;

	if (s->stopping || r->removed)
		return;
	struct wire_ROUND m;
	uint64_t epoch = r->promised > s->epoch ? r->promised : s->epoch;
	size_t i;

	/* Never below an epoch any peer told us about. */
	for (i = 0; i < r->npeers; i++)
		if (r->peers[i].epoch > epoch)
			epoch = r->peers[i].epoch;
	epoch++;
	log_info("starting an election for epoch %llu: %s",
	    (unsigned long long)epoch, why);
	join_round(r, epoch);
	if (r->round.epoch != epoch)
		return;
	m.round_epoch = epoch;
	for (i = 0; i < r->npeers; i++)
		if (r->peers[i].state == LINK_UP)
			repl_send(&r->peers[i], WIRE_OP_ROUND, 0, &m);
	repl_round_tick(r);
}

void
repl_on_round(struct repl *r, struct peer *p, const uint8_t *payload,
	      size_t len)
{
	struct wire_ROUND m;
	struct ballot *mine;

	if (wire_decode(wire_op(WIRE_OP_ROUND), payload, len, &m, NULL) < 0)
		return;
	if (m.round_epoch > r->promised)
		join_round(r, m.round_epoch);
	/* Whatever it asked, tell it where we stand (a higher promise tells
	 * it its round is stale). */
	mine = find_ballot(&r->round, r->srv->self->id);
	if (mine)
		send_ballot(r, p, mine);
	repl_round_tick(r);
}

void
repl_on_ballot(struct repl *r, struct peer *p, const uint8_t *payload,
	       size_t len)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_BALLOT);
	struct wire_BALLOT m;
	struct ballot b;

	if (wire_decode(d, payload, len, &m, NULL) < 0)
		return;
	memset(&b, 0, sizeof b);
	b.id = p->id;
	b.promised = m.epoch;
	b.last.epoch = m.last_epoch;
	b.last.lsn = m.last_lsn;
	repl_isr_from_list(d, &m.isr, (struct logpos){ m.isr_epoch,
	    m.isr_lsn }, &b.isr);
	b.eligible = m.eligible;
	b.ballot = m.ballot;
	b.timestamp = m.timestamp;
	p->heard_state = 1;
	repl_adopt_isr(r, &b.isr);
	p->epoch = m.epoch > p->epoch ? m.epoch : p->epoch;
	/* A ballot for a newer round is as good as a ROUND. */
	if (m.round_epoch > r->promised)
		join_round(r, m.round_epoch);
	if (m.round_epoch == r->round.epoch && !r->round.decided)
		put_ballot(&r->round, &b);
	repl_round_tick(r);
}

/* ---- deciding ------------------------------------------------------------ */

/* A ballot from every peer that may cast one: each whose link is up, and
 * each we have not heard from since we started unless its process is
 * provably gone (refused). The latter may well be alive and in this
 * round: a replica that restarted and lost its primary before its other
 * links came back up once decided alone, won, and led the same epoch as
 * the winner of the others (check_members). Half the election timeout
 * still ends the wait (repl_round_tick). */
static int
have_all_ballots(struct repl *r)
{
	size_t i;

	for (i = 0; i < r->npeers; i++) {
		const struct peer *p = &r->peers[i];

		if (find_ballot(&r->round, p->id) != NULL)
			continue;
		if (p->state == LINK_UP || (p->last_heard == 0 && !p->refused))
			return 0;
	}
	return 1;
}

/* Have we accepted (or followed) another primary for the round's epoch?
 * Then we must never lead it ourselves: one primary per epoch. */
static int
follows_another(const struct repl *r)
{
	return r->accepted_epoch == r->round.epoch &&
	    r->accepted_primary != 0 &&
	    r->accepted_primary != r->srv->self->id;
}

static void
establish(struct repl *r)
{
	struct server *s = r->srv;

	if (s->stopping)
		return;
	if (follows_another(r)) {
		log_info("round %llu: not taking it: we follow replica %u in "
		    "that epoch", (unsigned long long)r->round.epoch,
		    r->accepted_primary);
		r->round.announced = 0;
		return;
	}
	struct wire_R_EPOCH ep;
	struct isr isr;
	struct logpos mine;
	struct buf payload;
	size_t i;

	r->round.announced = 0;
	repl_self_last(r, &mine);
	if (repl_persist(r, "epoch", r->round.epoch) < 0)
		return;
	s->epoch = r->round.epoch;
	r->accepted_epoch = s->epoch;
	r->accepted_primary = s->self->id;
	s->role = ROLE_PRIMARY;
	s->primary_id = s->self->id;
	r->recovering = 0;
	r->waiting_for = 0;
	r->primary_since = mono_ms();
	snprintf(r->note, sizeof r->note, "primary of epoch %llu",
	    (unsigned long long)s->epoch);
	log_info("primary for epoch %llu (log at (%llu,%llu))",
	    (unsigned long long)s->epoch, (unsigned long long)mine.epoch,
	    (unsigned long long)mine.lsn);
	server_became_primary(s);

	/* The first record of the epoch, then the ISR: us and every voter
	 * that accepted with exactly our log. */
	memset(&ep, 0, sizeof ep);
	ep.primary_id = s->self->id;
	buf_init(&payload);
	wire_encode_payload(&payload, &wire_op(WIRE_OP_R_EPOCH)->body, &ep);
	server_write_system(s, WIRE_OP_R_EPOCH, &payload);
	buf_free(&payload);
	memset(&isr, 0, sizeof isr);
	isr.ids[isr.n++] = s->self->id;
	for (i = 0; i < r->round.naccepted; i++) {
		struct peer *p = repl_peer(r, r->round.accepted[i]);
		struct ballot *b = find_ballot(&r->round, r->round.accepted[i]);

		if (p && b && p->state == LINK_UP &&
		    logpos_cmp(b->last, mine) == 0) {
			isr.ids[isr.n++] = p->id;
			/* It holds our log up to the R_EPOCH: stream on. */
			p->shipping = 1;
			p->next_lsn = mine.lsn + 1;
			p->acked_lsn = mine.lsn;
			p->last_ack_at = mono_ms();
		}
	}
	repl_write_isr(r, &isr, "new primary");
	repl_serve_catchups(r);
	repl_ship_all(r);
}

/* Winner side: did every voter accept, or crash? A voter whose link
 * closed has not necessarily crashed — it may be busy accepting someone
 * else — so only a refused reconnection (its process is gone) counts. */
static void
check_established(struct repl *r)
{
	size_t i, k;

	if (!r->round.announced)
		return;
	for (i = 0; i < r->round.nvoters; i++) {
		struct peer *p = repl_peer(r, r->round.voters[i]);
		int ok = p == NULL || (p->state != LINK_UP && p->refused);

		for (k = 0; k < r->round.naccepted && !ok; k++)
			ok = r->round.accepted[k] == r->round.voters[i];
		if (!ok)
			return;
	}
	establish(r);
}

static void
announce(struct repl *r)
{
	struct server *s = r->srv;
	struct wire_ANNOUNCE a;
	struct logpos mine;
	size_t i;

	repl_self_last(r, &mine);
	memset(&a, 0, sizeof a);
	a.epoch = r->round.epoch;
	a.primary_id = s->self->id;
	a.last_epoch = mine.epoch;
	a.last_lsn = mine.lsn;
	r->round.nvoters = r->round.naccepted = 0;
	for (i = 0; i < r->round.n; i++) {
		struct peer *p = repl_peer(r, r->round.ballots[i].id);

		if (p == NULL)
			continue;
		r->round.voters[r->round.nvoters++] = p->id;
		repl_send(p, WIRE_OP_ANNOUNCE, 0, &a);
	}
	r->round.announced = 1;
	check_established(r);
}

/*
 * Can a round among the replicas we reach give a primary that commits
 * anything? Not if they are fewer than min_isr: the winner could
 * acknowledge nothing, yet its new epoch would make its log the freshest
 * once the others are back, and they would be resynced to it — losing
 * what they acknowledged meanwhile. A backup cut off from the other two
 * did exactly that (tests/cluster/check_netns.c, partition_backup). With
 * min_isr 1 this never holds back a round.
 */
static int
enough_voters(struct repl *r, size_t n)
{
	unsigned min = r->srv->cfg->min_isr;

	if (n >= min)
		return 1;
	if (r->srv->role != ROLE_WAITING)
		log_info("no election: %zu replica(s) reachable, min_isr is %u",
		    n, min);
	r->srv->role = ROLE_WAITING;
	snprintf(r->note, sizeof r->note, "no election: %zu replica(s) "
	    "reachable, min_isr is %u", n, min);
	return 0;
}

/* Ourselves and the peers whose links are up and not silent. */
static size_t
reachable(const struct repl *r, uint64_t now)
{
	size_t i, n = 1;

	for (i = 0; i < r->npeers; i++)
		n += r->peers[i].state == LINK_UP && now -
		    r->peers[i].last_heard <= r->srv->cfg->election_timeout_ms;
	return n;
}

static void
decide(struct repl *r)
{
	struct server *s = r->srv;
	struct elect_decision d;
	size_t i;

	if (!enough_voters(r, r->round.n))
		return;		/* the round runs out; no winner */
	/* Ballots promising a newer epoch mean this round is stale. */
	for (i = 0; i < r->round.n; i++)
		if (r->round.ballots[i].promised > r->round.epoch) {
			join_round(r, r->round.ballots[i].promised);
			return;
		}
	elect_decide(r->round.ballots, r->round.n, &d);
	r->round.decided = 1;
	r->round.winner = d.outcome == ELECT_WINNER ? d.winner : 0;
	log_info("round %llu: %s", (unsigned long long)r->round.epoch, d.why);
	switch (d.outcome) {
	case ELECT_WINNER:
		r->waiting_for = 0;
		if (d.winner == s->self->id && follows_another(r))
			log_info("round %llu: not announcing: we follow replica "
			    "%u in that epoch", (unsigned long long)
			    r->round.epoch, r->accepted_primary);
		else if (d.winner == s->self->id)
			announce(r);
		else if (s->role == ROLE_BACKUP && s->epoch == r->round.epoch &&
		    s->primary_id == d.winner)
			;	/* its announcement came first: already following */
		else
			snprintf(r->note, sizeof r->note, "waiting for replica "
			    "%u to take epoch %llu", d.winner,
			    (unsigned long long)r->round.epoch);
		break;
	case ELECT_WAIT:
	case ELECT_NONE:
		s->role = ROLE_WAITING;
		/* Whom we wait for: our own eligibility's answer (set when we
		 * cast our ballot) when we are not eligible, else the round's —
		 * never ourselves. */
		if (repl_self_eligible(r) && d.waiting_for != s->self->id)
			r->waiting_for = d.waiting_for;
		snprintf(r->note, sizeof r->note, "%s", d.why);
		break;
	}
}

/* Should a replica without a primary start a round now? */
static int
may_start_round(struct repl *r, uint64_t now)
{
	struct server *s = r->srv;
	uint64_t timeout = s->cfg->election_timeout_ms;
	size_t i;

	if (s->role == ROLE_PRIMARY)
		return 0;
	if (s->role == ROLE_BACKUP) {
		struct peer *p = repl_peer(r, s->primary_id);

		if (p && p->state == LINK_UP && now - p->last_heard <= timeout)
			return 0;
		/* Gone: refused at once, or silent for the timeout. */
		if (r->lost_primary_at == 0)
			r->lost_primary_at = now;
		if (!(p && p->refused) && now - r->lost_primary_at < timeout &&
		    !(p && p->state == LINK_UP))
			return 0;
		s->role = ROLE_ELECTING;
		s->primary_id = 0;
		log_info("primary %u lost (%s)", p ? p->id : 0,
		    p && p->refused ? "its process is gone" : "silent");
		return 1;
	}
	/* Starting, electing or waiting: a running round has its time. */
	if (r->round.epoch && now - r->round.started < timeout)
		return 0;
	/* Nobody we can reach may win (we are not eligible, and no
	 * connected peer says it is): a round would only burn an epoch. */
	if (!repl_self_eligible(r)) {
		int someone = 0;

		for (i = 0; i < r->npeers; i++)
			someone |= r->peers[i].state == LINK_UP &&
			    r->peers[i].eligible;
		if (!someone) {
			s->role = ROLE_WAITING;
			return 0;
		}
	}
	/* At start, give the links a chance, and listen for a primary: a
	 * peer whose link is up but whose state we have not heard yet may be
	 * a healthy primary, and a round would depose it. */
	for (i = 0; i < r->npeers; i++) {
		struct peer *p = &r->peers[i];

		if (p->state == LINK_UP && !p->heard_state)
			return 0;

		/* A peer that leads, or follows a primary, of an epoch we
		 * have not promised past: no round; that primary's
		 * heartbeat (or its followers noticing its loss) decides. */
		if (p->state == LINK_UP && p->primary_id != 0 &&
		    p->epoch >= r->promised)
			return 0;
		if (s->role == ROLE_STARTING && p->state != LINK_UP &&
		    !p->refused && now - s->start_ms < timeout)
			return 0;
	}
	return 1;
}

void
repl_round_tick(struct repl *r)
{
	struct server *s = r->srv;
	uint64_t now = mono_ms();

	if (s->stopping || r->removed)
		return;		/* a stopping replica changes nothing, nor
				   one that is no longer a member */

	if (r->round.epoch && !r->round.decided && s->role != ROLE_PRIMARY &&
	    (have_all_ballots(r) ||
	    now - r->round.started > s->cfg->election_timeout_ms / 2))
		decide(r);
	if (r->round.announced)
		check_established(r);
	if (r->round.announced && s->role != ROLE_PRIMARY &&
	    now - r->round.started > s->cfg->election_timeout_ms) {
		log_info("round %llu: not every voter accepted in time; giving up",
		    (unsigned long long)r->round.epoch);
		r->round.announced = 0;
		s->role = ROLE_ELECTING;
	}
	if (may_start_round(r, now) && enough_voters(r, reachable(r, now)))
		repl_start_round(r, s->role == ROLE_STARTING ? "start-up" :
		    "no primary");
}

/* ---- announcement -------------------------------------------------------- */

void
repl_on_announce(struct repl *r, struct peer *p, const uint8_t *payload,
		 size_t len)
{
	struct server *s = r->srv;
	struct wire_ANNOUNCE a;
	struct wire_ANNOUNCE_REPLY rep;
	struct logpos mine, theirs;

	if (wire_decode(wire_op(WIRE_OP_ANNOUNCE), payload, len, &a, NULL) < 0)
		return;
	repl_self_last(r, &mine);
	theirs.epoch = a.last_epoch;
	theirs.lsn = a.last_lsn;
	memset(&rep, 0, sizeof rep);
	rep.epoch = a.epoch;
	rep.last_epoch = mine.epoch;
	rep.last_lsn = mine.lsn;
	if (a.epoch < r->promised) {
		snprintf(rep.reason, sizeof rep.reason, "promised epoch %llu",
		    (unsigned long long)r->promised);
	} else if (r->accepted_epoch == a.epoch &&
	    r->accepted_primary != a.primary_id) {
		snprintf(rep.reason, sizeof rep.reason, "accepted replica %u "
		    "for epoch %llu", r->accepted_primary,
		    (unsigned long long)a.epoch);
	} else if (isr_has(&r->isr, s->self->id) &&
	    logpos_cmp(mine, theirs) > 0) {
		snprintf(rep.reason, sizeof rep.reason, "our log (%llu,%llu) "
		    "is ahead of yours", (unsigned long long)mine.epoch,
		    (unsigned long long)mine.lsn);
	} else {
		rep.accept = 1;
	}
	repl_send(p, WIRE_OP_ANNOUNCE_REPLY, 0, &rep);
	if (!rep.accept) {
		log_info("refused replica %u for epoch %llu: %s", p->id,
		    (unsigned long long)a.epoch, rep.reason);
		return;
	}
	repl_become_backup(r, a.epoch, a.primary_id);
}

void
repl_on_announce_reply(struct repl *r, struct peer *p, const uint8_t *payload,
		       size_t len)
{
	struct server *s = r->srv;
	struct wire_ANNOUNCE_REPLY a;

	if (wire_decode(wire_op(WIRE_OP_ANNOUNCE_REPLY), payload, len, &a,
	    NULL) < 0 || !r->round.announced || a.epoch != r->round.epoch)
		return;
	if (!a.accept) {
		log_warn("replica %u refused us for epoch %llu: %s", p->id,
		    (unsigned long long)a.epoch, a.reason);
		r->round.announced = 0;
		s->role = ROLE_ELECTING;
		snprintf(r->note, sizeof r->note, "refused by replica %u: %.150s",
		    p->id, a.reason);
		return;
	}
	if (r->round.naccepted < ELECT_MAX)
		r->round.accepted[r->round.naccepted++] = p->id;
	/* Its ballot's log is what counts for the ISR; refresh it. */
	{
		struct ballot *b = find_ballot(&r->round, p->id);
		if (b) {
			b->last.epoch = a.last_epoch;
			b->last.lsn = a.last_lsn;
		}
	}
	check_established(r);
}

void
repl_vote_peer_lost(struct repl *r, struct peer *p)
{
	(void)p;
	if (r->round.announced)
		check_established(r);
	else if (r->round.epoch && !r->round.decided)
		repl_round_tick(r);
}
