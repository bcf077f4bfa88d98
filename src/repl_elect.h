/*
 * repl_elect.h — the election decision (DESIGN.md §6), as pure functions:
 * no I/O, no clock, no globals. Unit-tested by tests/check_elect.c with a
 * table of cases and the four counterexamples of DESIGN.md §6.
 *
 * A round is identified by its epoch. Every replica that takes part
 * durably promises the round's epoch, then broadcasts a ballot; every
 * replica that holds the ballots of a round computes the same decision
 * from them with elect_decide(). Announcement and acceptance (rule 3) and
 * the promises themselves (rule 1) are carried out by repl_*.c; this file
 * decides who may win (rules 2 and 4).
 */
#ifndef CHATD_REPL_ELECT_H
#define CHATD_REPL_ELECT_H

#include <stddef.h>
#include <stdint.h>

#define ELECT_MAX 16		/* replicas in a round (WIRE_MAX_REPLICAS) */

/* A log position or a record position: compared by (epoch, lsn). */
struct logpos {
	uint64_t epoch;
	uint64_t lsn;
};
/* <0, 0, >0 like strcmp. */
int logpos_cmp(struct logpos a, struct logpos b);

/* An in-sync set, with the position of the record that set it (newer
 * positions win when replicas disagree). */
struct isr {
	struct logpos set_at;
	uint32_t      ids[ELECT_MAX];
	unsigned      n;
};
int isr_has(const struct isr *isr, uint32_t id);

/* One replica's answer in a round. */
struct ballot {
	uint32_t      id;
	uint64_t      promised;	/* the epoch it promised (>= the round's) */
	struct logpos last;	/* its last log record */
	struct isr    isr;	/* the newest ISR it knows */
	int           eligible;	/* rule 4, as computed by elect_eligible() */
	uint64_t      ballot;	/* random */
	uint64_t      timestamp;	/* wall clock ms when cast */
};

enum elect_outcome {
	ELECT_WINNER,		/* .winner may announce itself */
	ELECT_WAIT,		/* nobody may win yet; .waiting_for says whom
				   the round waits for */
	ELECT_NONE,		/* no ballots, or no ISR member answered */
};

struct elect_decision {
	enum elect_outcome outcome;
	uint32_t   winner;
	uint64_t   epoch;	/* max promised over the ballots: the epoch the
				   winner takes */
	struct isr round_isr;	/* the newest ISR among the ballots */
	uint32_t   waiting_for;	/* ELECT_WAIT: a replica id, or 0 */
	char       why[200];	/* one line for logs and STATUS */
};

/*
 * Decide a round from its ballots (any order; ids unique).
 *  - The round's ISR is the one with the newest set_at among the ballots.
 *  - Only members of that ISR count for freshness; replicas outside it do
 *    not (whatever they hold beyond the members' logs was never
 *    acknowledged), and they can never win.
 *  - The winner is an eligible member whose last position is >= the last
 *    position of EVERY member that answered (eligible or not).
 *  - Among those: the highest ballot, then the earlier timestamp, then the
 *    lower id.
 *  - If a member that answered is fresher than every eligible member, the
 *    round waits (ELECT_WAIT) and names it. Members of the round's ISR that
 *    did not answer are not waited for here: eligibility (rule 4) already
 *    keeps a restarted replica from winning without them. When several
 *    members are equally fresh and none is eligible, the lowest id is named.
 * Defensive (callers should not need it): ballots with id 0, repeated ids
 * (all but the first) and ballots beyond the first ELECT_MAX usable ones
 * are ignored; isr.n is read as at most ELECT_MAX; two different ISRs with
 * the same set_at (only possible after a divergence) are merged (union):
 * a member listed by either counts. n == 0 or b == NULL: ELECT_NONE.
 * d is always filled: d->why says why in every outcome.
 * Returns d->outcome.
 */
enum elect_outcome elect_decide(const struct ballot *b, size_t n,
				struct elect_decision *d);

/*
 * Rule 4: may this replica win now?
 *   self_id      this replica
 *   isr          the newest ISR it knows
 *   recovering   it restarted after a crash (or a stop) and has not yet been
 *                readmitted to an ISR since
 *   connected    ids of the replicas it is connected to NOW (links up and
 *                authenticated), n_connected of them
 * Eligible iff it is a member of isr and, when recovering, every other
 * member of isr is in connected. If not, *waiting_for gets the first
 * missing member (0 if it is simply not a member) and why says it; when
 * eligible, *waiting_for is 0. waiting_for and why may be NULL; connected
 * may be NULL when n_connected is 0.
 */
int elect_eligible(uint32_t self_id, const struct isr *isr, int recovering,
		   const uint32_t *connected, size_t n_connected,
		   uint32_t *waiting_for, char *why, size_t whylen);

#endif
