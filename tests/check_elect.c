/*
 * check_elect.c — unit tests for src/repl_elect.c, the election decision of
 * DESIGN.md §6 (rules 2 and 4; rules 1 and 3 are carried out by repl_*.c).
 *
 *  - logpos_cmp and isr_has, including extreme values and an oversized n;
 *  - a table of elect_decide cases (every tiebreak key, waiting members,
 *    replicas outside the round's ISR, survivors, stale replicas, ISR
 *    disagreement, empty rounds, the epoch), each also run reversed;
 *  - elect_eligible cases (rule 4);
 *  - defensive input: duplicate ids, id 0, more than ELECT_MAX ballots,
 *    an ISR claiming more than ELECT_MAX ids, NULL pointers;
 *  - the four counterexamples of DESIGN.md §6 as scripted sequences over a
 *    three-replica model (A=1, B=2, C=3): explicit per-replica state, links,
 *    crashes and restarts; at each election point the ballots are built
 *    from that state, eligibility computed with elect_eligible from who is
 *    connected at that moment, and elect_decide must not pick a replica
 *    whose win would lose an acknowledged write. Where a rule lives outside
 *    these functions, the script shows the part that is decidable here and
 *    says so;
 *  - a property test: a few thousand random rounds (fixed-seed xorshift64)
 *    checked against the rules directly, and under shuffled ballot order.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/repl_elect.h"
#include "h_check.h"

/* ---- helpers ------------------------------------------------------------ */

/* An ISR from a 0-terminated id list. */
static struct isr
mkisr(uint64_t e, uint64_t l, const uint32_t *ids)
{
	struct isr s;

	memset(&s, 0, sizeof(s));
	s.set_at.epoch = e;
	s.set_at.lsn = l;
	while (ids[s.n] != 0 && s.n < ELECT_MAX) {
		s.ids[s.n] = ids[s.n];
		s.n++;
	}
	return s;
}
#define ISR(e, l, ...) mkisr((e), (l), (const uint32_t[]){ __VA_ARGS__, 0 })

static struct logpos
pos(uint64_t e, uint64_t l)
{
	struct logpos p = { e, l };

	return p;
}

/* Same members (as sets) and same set_at. */
static int
isr_same(const struct isr *a, const struct isr *b)
{
	if (logpos_cmp(a->set_at, b->set_at) != 0)
		return 0;
	for (unsigned i = 0; i < a->n && i < ELECT_MAX; i++)
		if (!isr_has(b, a->ids[i]))
			return 0;
	for (unsigned i = 0; i < b->n && i < ELECT_MAX; i++)
		if (!isr_has(a, b->ids[i]))
			return 0;
	return 1;
}

/* why is a non-empty, terminated line. */
static void
assert_why(const struct elect_decision *d)
{
	ck_assert(memchr(d->why, '\0', sizeof(d->why)) != NULL);
	ck_assert(d->why[0] != '\0');
	ck_assert(strchr(d->why, '\n') == NULL);
}

/* ---- logpos_cmp, isr_has ------------------------------------------------ */

START_TEST(test_logpos_cmp)
{
	ck_assert_int_eq(logpos_cmp(pos(3, 120), pos(3, 120)), 0);
	ck_assert_int_lt(logpos_cmp(pos(3, 119), pos(3, 120)), 0);
	ck_assert_int_gt(logpos_cmp(pos(3, 121), pos(3, 120)), 0);
	/* The epoch first: a higher epoch beats a longer log. */
	ck_assert_int_gt(logpos_cmp(pos(4, 1), pos(3, 1000)), 0);
	ck_assert_int_lt(logpos_cmp(pos(3, 1000), pos(4, 1)), 0);
	/* No subtraction overflow at the extremes. */
	ck_assert_int_gt(logpos_cmp(pos(UINT64_MAX, 0), pos(0, UINT64_MAX)), 0);
	ck_assert_int_lt(logpos_cmp(pos(0, 0), pos(0, UINT64_MAX)), 0);
	ck_assert_int_gt(logpos_cmp(pos(1, UINT64_MAX), pos(1, 0)), 0);
	ck_assert_int_eq(logpos_cmp(pos(UINT64_MAX, UINT64_MAX),
				    pos(UINT64_MAX, UINT64_MAX)), 0);
}
END_TEST

START_TEST(test_isr_has)
{
	struct isr s = ISR(1, 1, 1, 3, 65535);

	ck_assert(isr_has(&s, 1));
	ck_assert(isr_has(&s, 3));
	ck_assert(isr_has(&s, 65535));
	ck_assert(!isr_has(&s, 2));
	ck_assert(!isr_has(&s, 0));
	ck_assert(!isr_has(NULL, 1));
	s.n = 0;
	ck_assert(!isr_has(&s, 1));
	/* n beyond ELECT_MAX: only ids[0..ELECT_MAX-1] are read (UBSan's
	 * bounds check would catch more). */
	for (unsigned i = 0; i < ELECT_MAX; i++)
		s.ids[i] = 100 + i;
	s.n = 1000;
	ck_assert(isr_has(&s, 100 + ELECT_MAX - 1));
	ck_assert(!isr_has(&s, 100 + ELECT_MAX));
}
END_TEST

/* ---- the table ---------------------------------------------------------- */

/* A ballot, compactly: id, promised, last, ISR set_at, ISR ids
 * (0-terminated), eligible, ballot, timestamp. */
struct bs {
	uint32_t      id;
	uint64_t      promised;
	struct logpos last;
	struct logpos set_at;
	uint32_t      isr[6];
	int           eligible;
	uint64_t      ballot;
	uint64_t      ts;
};

static struct ballot
mkballot(const struct bs *s)
{
	struct ballot b;

	memset(&b, 0, sizeof(b));
	b.id = s->id;
	b.promised = s->promised;
	b.last = s->last;
	b.isr = mkisr(s->set_at.epoch, s->set_at.lsn, s->isr);
	b.eligible = s->eligible;
	b.ballot = s->ballot;
	b.timestamp = s->ts;
	return b;
}

struct ecase {
	const char        *what;
	struct bs          b[6];	/* id 0 ends the list */
	enum elect_outcome want;
	uint32_t           who;		/* winner, or waiting_for */
	uint64_t           epoch;
	uint32_t           round_isr[6];	/* expected members, 0-ended */
};

#define Y 1	/* eligible */
#define N 0	/* not eligible */

static const struct ecase cases[] = {
	/* -- ties -- */
	{ "same log, different ballots: the highest ballot wins",
	  { { 1, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x50, 1000 },
	    { 2, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x90, 1000 },
	    { 3, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x70,  900 } },
	  ELECT_WINNER, 2, 7, {1, 2, 3} },
	{ "same log and ballot: the earlier timestamp wins",
	  { { 1, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x90, 1003 },
	    { 2, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x90, 1002 },
	    { 3, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x90, 1001 } },
	  ELECT_WINNER, 3, 7, {1, 2, 3} },
	{ "same log, ballot and timestamp: the lower id wins",
	  { { 1, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x10, 1000 },
	    { 3, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x90, 1000 },
	    { 2, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x90, 1000 } },
	  ELECT_WINNER, 2, 7, {1, 2, 3} },
	{ "full 64-bit ballots compare as unsigned",
	  { { 1, 7, {2, 10}, {1, 1}, {1, 2}, Y, 0x7fffffffffffffffULL, 1 },
	    { 2, 7, {2, 10}, {1, 1}, {1, 2}, Y, 0x8000000000000000ULL, 2 } },
	  ELECT_WINNER, 2, 7, {1, 2} },
	/* -- freshness before ballots -- */
	{ "a fresher lsn beats a higher ballot",
	  { { 1, 7, {2, 11}, {1, 1}, {1, 2, 3}, Y, 0x01, 1000 },
	    { 2, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0xff, 1000 } },
	  ELECT_WINNER, 1, 7, {1, 2, 3} },
	{ "a higher last epoch beats a longer log",
	  { { 1, 7, {3,  2}, {1, 1}, {1, 2, 3}, Y, 0x01, 1000 },
	    { 2, 7, {2, 50}, {1, 1}, {1, 2, 3}, Y, 0xff, 1000 } },
	  ELECT_WINNER, 1, 7, {1, 2, 3} },
	/* -- waiting members -- */
	{ "the freshest member is waiting (restarted, a peer not connected):"
	  " nobody else may win",
	  { { 1, 7, {2, 11}, {1, 1}, {1, 2, 3}, N, 0x01, 1000 },
	    { 2, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0xff, 1000 },
	    { 3, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0xfe, 1000 } },
	  ELECT_WAIT, 1, 7, {1, 2, 3} },
	{ "two equally fresh members waiting: the lower id is named",
	  { { 3, 7, {2, 11}, {1, 1}, {1, 2, 3}, N, 0x01, 1000 },
	    { 2, 7, {2, 11}, {1, 1}, {1, 2, 3}, N, 0x02, 1000 },
	    { 1, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0xff, 1000 } },
	  ELECT_WAIT, 2, 7, {1, 2, 3} },
	{ "every member waiting with the same log: wait for the lowest id",
	  { { 2, 7, {2, 10}, {1, 1}, {1, 2}, N, 0x01, 1000 },
	    { 1, 7, {2, 10}, {1, 1}, {1, 2}, N, 0x02, 1000 } },
	  ELECT_WAIT, 1, 7, {1, 2} },
	{ "a waiting member with the same log as an eligible one blocks"
	  " nothing",
	  { { 1, 7, {2, 10}, {1, 1}, {1, 2}, N, 0xff, 1000 },
	    { 2, 7, {2, 10}, {1, 1}, {1, 2}, Y, 0x01, 1000 } },
	  ELECT_WINNER, 2, 7, {1, 2} },
	/* -- outside the round's ISR -- */
	{ "a backup outside the ISR one record ahead neither blocks nor wins",
	  { { 1, 7, {2, 10}, {2, 5}, {1, 2}, Y, 0x10, 1000 },
	    { 2, 7, {2, 10}, {2, 5}, {1, 2}, Y, 0x20, 1000 },
	    { 3, 7, {2, 11}, {2, 5}, {1, 2}, Y, 0xff,  900 } },
	  ELECT_WINNER, 2, 7, {1, 2} },
	{ "an outside backup ahead, still holding an older ISR that lists it",
	  { { 1, 7, {2, 10}, {2, 5}, {1, 2},    Y, 0x10, 1000 },
	    { 2, 7, {2, 10}, {2, 5}, {1, 2},    Y, 0x20, 1000 },
	    { 3, 7, {2, 11}, {1, 1}, {1, 2, 3}, Y, 0xff,  900 } },
	  ELECT_WINNER, 2, 7, {1, 2} },
	{ "an outside backup that is not eligible either does not block",
	  { { 1, 7, {2, 10}, {2, 5}, {1, 2}, Y, 0x10, 1000 },
	    { 3, 7, {2, 11}, {2, 5}, {1, 2}, N, 0xff,  900 } },
	  ELECT_WINNER, 1, 7, {1, 2} },
	/* -- survivors -- */
	{ "one survivor: the only ISR member answering (eligible) wins",
	  { { 2, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x01, 1000 } },
	  ELECT_WINNER, 2, 7, {1, 2, 3} },
	{ "one survivor among replicas outside the ISR that are ahead",
	  { { 3, 7, {2, 12}, {2, 5}, {1, 2}, Y, 0xff, 1000 },
	    { 2, 7, {2, 10}, {2, 5}, {1, 2}, Y, 0x01, 1000 },
	    { 4, 7, {2, 11}, {2, 5}, {1, 2}, N, 0xfe, 1000 } },
	  ELECT_WINNER, 2, 7, {1, 2} },
	{ "one survivor, not eligible: the round waits for it",
	  { { 2, 7, {2, 10}, {1, 1}, {1, 2, 3}, N, 0x01, 1000 } },
	  ELECT_WAIT, 2, 7, {1, 2, 3} },
	/* -- stale replicas -- */
	{ "a stale restarted replica (not eligible, behind) does not block",
	  { { 1, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x01, 1000 },
	    { 3, 7, {1,  4}, {1, 1}, {1, 2, 3}, N, 0xff,  900 } },
	  ELECT_WINNER, 1, 7, {1, 2, 3} },
	{ "a stale replica claiming eligible, behind a member, does not win",
	  { { 1, 7, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x01, 1000 },
	    { 3, 7, {1,  4}, {1, 1}, {1, 2, 3}, Y, 0xff,  900 } },
	  ELECT_WINNER, 1, 7, {1, 2, 3} },
	{ "a stale replica claiming eligible, behind a waiting member: wait",
	  { { 1, 7, {2, 10}, {1, 1}, {1, 2, 3}, N, 0x01, 1000 },
	    { 3, 7, {1,  4}, {1, 1}, {1, 2, 3}, Y, 0xff,  900 } },
	  ELECT_WAIT, 1, 7, {1, 2, 3} },
	/* -- ISR disagreement -- */
	{ "ISRs disagree: the newest set_at is the round's ISR; an older,"
	  " larger ISR does not make its extra member count",
	  { { 3, 7, {2, 26}, {2,  5}, {1, 2, 3}, Y, 0xff, 900 },
	    { 1, 7, {2, 25}, {2, 20}, {1, 2},    Y, 0x20, 1000 },
	    { 2, 7, {2, 25}, {2, 20}, {1, 2},    Y, 0x10, 1000 } },
	  ELECT_WINNER, 1, 7, {1, 2} },
	{ "ISRs disagree: the newest ISR may come from a non-member's ballot",
	  { { 3, 7, {2, 30}, {2, 5}, {1, 2, 3}, Y, 0xff, 900 },
	    { 2, 7, {2, 30}, {2, 5}, {1, 2, 3}, Y, 0x01, 1000 },
	    { 4, 7, {3,  1}, {3, 1}, {1, 2},    N, 0xfe, 1000 } },
	  ELECT_WINNER, 2, 7, {1, 2} },
	{ "ISRs disagree on the same set_at (diverged logs): their union"
	  " counts for freshness",
	  { { 1, 7, {2, 10}, {2, 5}, {1, 2}, Y, 0xff, 1000 },
	    { 3, 7, {2, 11}, {2, 5}, {1, 3}, N, 0x01, 1000 } },
	  ELECT_WAIT, 3, 7, {1, 2, 3} },
	/* -- nobody -- */
	{ "no ISR member answered",
	  { { 3, 7, {2, 11}, {2, 5}, {1, 2}, Y, 0xff, 1000 },
	    { 4, 7, {2, 12}, {2, 5}, {1, 2}, Y, 0xfe, 1000 } },
	  ELECT_NONE, 0, 7, {1, 2} },
	{ "zero ballots",
	  { { 0 } },
	  ELECT_NONE, 0, 0, {0} },
	{ "every ballot carries an empty ISR",
	  { { 1, 7, {2, 10}, {0, 0}, {0}, Y, 0xff, 1000 },
	    { 2, 7, {2, 10}, {0, 0}, {0}, Y, 0xfe, 1000 } },
	  ELECT_NONE, 0, 7, {0} },
	/* -- the epoch -- */
	{ "the epoch is the max promised, whoever wins and whatever logs say",
	  { { 1,  9, {2, 10}, {1, 1}, {1, 2, 3}, N, 0x01, 1000 },
	    { 2,  7, {2, 11}, {1, 1}, {1, 2, 3}, Y, 0x02, 1000 },
	    { 3, 12, {2,  3}, {1, 1}, {1, 2, 3}, Y, 0xff, 1000 },
	    { 4,  8, {2, 99}, {1, 1}, {1, 2, 3}, Y, 0xff, 1000 } },
	  ELECT_WINNER, 2, 12, {1, 2, 3} },
	{ "the epoch is reported even when nobody may win",
	  { { 5, 42, {2, 10}, {1, 1}, {1, 2, 3}, Y, 0x01, 1000 } },
	  ELECT_NONE, 0, 42, {1, 2, 3} },
};

static size_t
case_ballots(const struct ecase *c, struct ballot *out)
{
	size_t n = 0;

	while (n < 6 && c->b[n].id != 0) {
		out[n] = mkballot(&c->b[n]);
		n++;
	}
	return n;
}

static void
check_case(const struct ecase *c, const struct ballot *b, size_t n)
{
	struct elect_decision d;
	struct isr want_isr;
	enum elect_outcome o;

	memset(&d, 0xa5, sizeof(d));
	o = elect_decide(b, n, &d);
	ck_assert_msg(o == d.outcome, "%s: return value", c->what);
	ck_assert_msg(d.outcome == c->want, "%s: outcome %d, want %d (%s)",
		      c->what, d.outcome, c->want, d.why);
	ck_assert_msg(d.epoch == c->epoch, "%s: epoch %llu", c->what,
		      (unsigned long long)d.epoch);
	if (c->want == ELECT_WINNER)
		ck_assert_msg(d.winner == c->who, "%s: winner %u (%s)",
			      c->what, (unsigned)d.winner, d.why);
	else
		ck_assert_msg(d.winner == 0, "%s: winner set", c->what);
	if (c->want == ELECT_WAIT)
		ck_assert_msg(d.waiting_for == c->who, "%s: waiting for %u"
			      " (%s)", c->what, (unsigned)d.waiting_for, d.why);
	else
		ck_assert_msg(d.waiting_for == 0, "%s: waiting_for set",
			      c->what);
	want_isr = mkisr(d.round_isr.set_at.epoch, d.round_isr.set_at.lsn,
			 c->round_isr);
	ck_assert_msg(isr_same(&d.round_isr, &want_isr), "%s: round ISR",
		      c->what);
	assert_why(&d);
}

START_TEST(test_table)
{
	struct ballot b[6], r[6];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = case_ballots(&cases[i], b);
		check_case(&cases[i], b, n);
		for (size_t k = 0; k < n; k++)	/* order does not matter */
			r[k] = b[n - 1 - k];
		check_case(&cases[i], r, n);
	}
}
END_TEST

static const struct ecase *
find_case(const char *prefix)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strncmp(cases[i].what, prefix, strlen(prefix)) == 0)
			return &cases[i];
	ck_abort_msg("no case %s", prefix);
	return NULL;
}

/* The explanations name what matters. */
START_TEST(test_why)
{
	struct ballot b[6];
	struct elect_decision d;

	case_ballots(find_case("same log, different ballots"), b);
	elect_decide(b, 3, &d);
	ck_assert_msg(strstr(d.why, "replica 2 wins epoch 7") != NULL &&
		      strstr(d.why, "(2,10)") != NULL &&
		      strstr(d.why, "{1,2,3}") != NULL &&
		      strstr(d.why, "0x0000000000000090") != NULL, "%s", d.why);
	case_ballots(find_case("the freshest member is waiting"), b);
	elect_decide(b, 3, &d);
	ck_assert_msg(strstr(d.why, "waiting for replica 1") != NULL &&
		      strstr(d.why, "(2,11)") != NULL, "%s", d.why);
	elect_decide(NULL, 0, &d);
	ck_assert_str_eq(d.why, "no ballots");
	b[0] = mkballot(&cases[0].b[0]);
	b[0].id = 9;
	elect_decide(b, 1, &d);
	ck_assert_msg(strstr(d.why, "no member of ISR {1,2,3} answered")
		      != NULL, "%s", d.why);
}
END_TEST

/* ---- defensive input ---------------------------------------------------- */

START_TEST(test_defensive)
{
	struct ballot b[ELECT_MAX + 4];
	struct elect_decision d;
	const struct bs one = { 1, 7, {2, 10}, {1, 1}, {1, 2}, Y, 5, 1000 };
	const struct bs two = { 2, 7, {2, 10}, {1, 1}, {1, 2}, Y, 6, 1000 };

	/* A repeated id is ignored: counted, its fresher log would make the
	 * round wait for replica 1. */
	b[0] = mkballot(&one);
	b[1] = mkballot(&two);
	b[2] = mkballot(&one);
	b[2].last = pos(2, 99);
	b[2].eligible = 0;
	ck_assert_int_eq(elect_decide(b, 3, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, 2);

	/* id 0 is nobody: ignored, even with a fresher log and newer ISR. */
	b[2] = mkballot(&one);
	b[2].id = 0;
	b[2].last = pos(9, 9);
	b[2].isr = ISR(9, 9, 1);
	ck_assert_int_eq(elect_decide(b, 3, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, 2);
	ck_assert_uint_eq(d.round_isr.n, 2);

	/* NULL ballots. */
	ck_assert_int_eq(elect_decide(NULL, 3, &d), ELECT_NONE);
	ck_assert_uint_eq(d.epoch, 0);

	/* More than ELECT_MAX ballots: the extras are ignored (had they been
	 * read, replica 17's newer ISR {17} would make it win). */
	for (uint32_t i = 0; i < ELECT_MAX + 4; i++) {
		b[i] = mkballot(&one);
		b[i].id = i + 1;
		b[i].ballot = i;
		b[i].isr = ISR(1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
			       13, 14, 15, 16);
		if (i >= ELECT_MAX) {
			b[i].isr = ISR(5, 5, i + 1);
			b[i].promised = 99;
		}
	}
	ck_assert_int_eq(elect_decide(b, ELECT_MAX + 4, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, ELECT_MAX);
	ck_assert_uint_eq(d.epoch, 7);

	/* An ISR claiming more than ELECT_MAX ids is read as its first
	 * ELECT_MAX (UBSan's bounds check catches any read beyond). */
	b[0].isr.n = 1000;
	ck_assert_int_eq(elect_decide(b, 1, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, 1);
	ck_assert_uint_eq(d.round_isr.n, ELECT_MAX);
	{
		uint32_t conn[ELECT_MAX], w = 77;
		char why[16];

		for (uint32_t i = 0; i < ELECT_MAX; i++)
			conn[i] = i + 1;
		ck_assert(elect_eligible(1, &b[0].isr, 1, conn, ELECT_MAX,
					 &w, why, sizeof(why)));
		ck_assert_uint_eq(w, 0);
		/* A short why is truncated and terminated. */
		ck_assert_uint_eq(strlen(why), sizeof(why) - 1);
		/* NULL outputs and a NULL connected list. */
		ck_assert(!elect_eligible(1, &b[0].isr, 1, NULL, 5, NULL,
					  NULL, 0));
		ck_assert(!elect_eligible(1, NULL, 0, conn, 1, &w, why,
					  sizeof(why)));
		ck_assert_uint_eq(w, 0);
	}
}
END_TEST

/* ---- elect_eligible (rule 4) -------------------------------------------- */

START_TEST(test_eligible)
{
	struct isr abc = ISR(1, 1, 1, 2, 3), self = ISR(1, 1, 2);
	uint32_t w = 99;
	char why[200];

	/* A member, not recovering: eligible whoever is connected. */
	ck_assert(elect_eligible(2, &abc, 0, NULL, 0, &w, why, sizeof(why)));
	ck_assert_uint_eq(w, 0);
	ck_assert_msg(strstr(why, "eligible") == why, "%s", why);

	/* Not a member: never, and it waits for nobody in particular. */
	w = 99;
	ck_assert(!elect_eligible(4, &abc, 0, (const uint32_t[]){ 1, 2, 3 },
				  3, &w, why, sizeof(why)));
	ck_assert_uint_eq(w, 0);
	ck_assert_msg(strstr(why, "not in its newest ISR {1,2,3}") != NULL,
		      "%s", why);
	ck_assert(!elect_eligible(4, &abc, 1, (const uint32_t[]){ 1, 2, 3 },
				  3, &w, why, sizeof(why)));

	/* Recovering, every other member connected now (in any order, with
	 * non-members connected too): eligible. */
	w = 99;
	ck_assert(elect_eligible(2, &abc, 1, (const uint32_t[]){ 5, 3, 1 },
				 3, &w, why, sizeof(why)));
	ck_assert_uint_eq(w, 0);

	/* Recovering with one member missing: waits for that member. */
	ck_assert(!elect_eligible(2, &abc, 1, (const uint32_t[]){ 1, 5 },
				  2, &w, why, sizeof(why)));
	ck_assert_uint_eq(w, 3);
	ck_assert_msg(strstr(why, "waiting for replica 3") == why, "%s", why);
	ck_assert(!elect_eligible(2, &abc, 1, (const uint32_t[]){ 3 }, 1, &w,
				  why, sizeof(why)));
	ck_assert_uint_eq(w, 1);
	/* Both missing: the first one (ISR order) is named. */
	ck_assert(!elect_eligible(2, &abc, 1, NULL, 0, &w, why, sizeof(why)));
	ck_assert_uint_eq(w, 1);

	/* A one-member ISR {self}, recovering: nobody to wait for. */
	w = 99;
	ck_assert(elect_eligible(2, &self, 1, NULL, 0, &w, why, sizeof(why)));
	ck_assert_uint_eq(w, 0);
}
END_TEST

/* ---- the counterexamples of DESIGN.md §6, scripted ---------------------- */

/*
 * A three-replica model at the level these functions see. Each replica has
 * its last log position, the newest ISR it knows, its durable promise, a
 * recovering flag, and whether it holds every acknowledged write (the thing
 * that must survive). link[x][y]: x has an up, authenticated connection to
 * y NOW. Ballot values are chosen so that the replica whose win would lose
 * a write always draws the highest ballot: the rules, not luck, stop it.
 */
enum { A = 1, B = 2, C = 3 };

struct rep {
	int           up;
	int           recovering;
	uint64_t      promised;
	struct logpos last;
	struct isr    isr;
	int           has_acked;	/* holds every acknowledged write */
};

struct world {
	struct rep r[4];		/* r[A], r[B], r[C] */
	int        link[4][4];
};

static void
w_init(struct world *w, uint64_t epoch)
{
	memset(w, 0, sizeof(*w));
	for (int x = A; x <= C; x++) {
		w->r[x].up = 1;
		w->r[x].promised = epoch;
		w->r[x].isr = ISR(0, 0, A, B, C);	/* initial ISR */
		w->r[x].has_acked = 1;
		for (int y = A; y <= C; y++)
			w->link[x][y] = x != y;
	}
}

static void
w_crash(struct world *w, int x)
{
	w->r[x].up = 0;
	for (int y = A; y <= C; y++)
		w->link[x][y] = w->link[y][x] = 0;
}

/* Restart after a crash: recovering, no links yet. */
static void
w_restart(struct world *w, int x)
{
	w->r[x].up = 1;
	w->r[x].recovering = 1;
}

static void
w_connect(struct world *w, int x, int y)
{
	ck_assert(w->r[x].up && w->r[y].up);
	w->link[x][y] = w->link[y][x] = 1;
}

/* Rule 4 as x would compute it now. */
static int
w_eligible(const struct world *w, int x, uint32_t *waiting_for)
{
	uint32_t conn[3];
	size_t n = 0;
	char why[200];

	for (int y = A; y <= C; y++)
		if (w->link[x][y])
			conn[n++] = (uint32_t)y;
	return elect_eligible((uint32_t)x, &w->r[x].isr, w->r[x].recovering,
			      conn, n, waiting_for, why, sizeof(why));
}

static struct ballot
w_ballot(const struct world *w, int x, uint64_t ballot)
{
	struct ballot b;
	uint32_t wf;

	memset(&b, 0, sizeof(b));
	b.id = (uint32_t)x;
	b.promised = w->r[x].promised;
	b.last = w->r[x].last;
	b.isr = w->r[x].isr;
	b.eligible = w_eligible(w, x, &wf);
	b.ballot = ballot;
	b.timestamp = 1000 + (uint64_t)x;
	return b;
}

/* Everyone listed promises epoch and answers; the round is decided on
 * those ballots. ballots[x] is x's random ballot. */
static enum elect_outcome
w_round(struct world *w, uint64_t epoch, const int *who, size_t n,
	const uint64_t *ballots, struct elect_decision *d)
{
	struct ballot b[3];

	for (size_t i = 0; i < n; i++) {
		ck_assert(w->r[who[i]].up);
		if (w->r[who[i]].promised < epoch)	/* rule 1 */
			w->r[who[i]].promised = epoch;
		b[i] = w_ballot(w, who[i], ballots[who[i]]);
	}
	elect_decide(b, n, d);
	assert_why(d);
	return d->outcome;
}

/* Rule 3's acceptance test, as repl_*.c applies it to an announcement:
 * a member of the round's ISR whose log is ahead refuses. */
static int
accepts(const struct world *w, int x, const struct elect_decision *d)
{
	return !isr_has(&d->round_isr, (uint32_t)x) ||
	       logpos_cmp(w->r[x].last, w->r[d->winner].last) <= 0;
}

/* The start shared by the rule 2 and rule 3 counterexamples: A is primary
 * of epoch 1 with ISR {A,B,C}; B crashes with an empty log; A drops it
 * (ISR {A,C} at (1,1), C acknowledges) and acknowledges a client write at
 * (1,2) that B never saw; then a full stop; all three restart, and the
 * links B-A and B-C come up before A-C does. */
static void
full_stop_start(struct world *w)
{
	w_init(w, 1);
	w_crash(w, B);				/* its log is empty */
	w->r[A].isr = w->r[C].isr = ISR(1, 1, A, C);	/* record (1,1) */
	w->r[A].last = w->r[C].last = pos(1, 2);	/* the write at (1,2) */
	w->r[B].has_acked = 0;			/* A acknowledges it */
	w_crash(w, A);
	w_crash(w, C);
	w_restart(w, B);
	w_restart(w, A);
	w_restart(w, C);
	w_connect(w, B, A);
	w_connect(w, B, C);
}

START_TEST(test_rule1_promise)
{
	/* Without (1), A wins epoch 1 and crashes unseen, B wins epoch 1
	 * too, and two logs carry the same (epoch, lsn). Promises and the
	 * choice of a round's epoch are repl_*.c's; here: the epoch a round
	 * hands its winner is the max promised, so a durable promise is what
	 * moves the next round past 1. */
	struct world w;
	struct elect_decision d1, d2;
	const uint64_t bal[4] = { 0, 0xff, 0xfe, 0x01 };
	const int abc[] = { A, B, C }, bc[] = { B, C };
	struct logpos a_rec, b_rec;

	w_init(&w, 0);
	ck_assert_int_eq(w_round(&w, 1, abc, 3, bal, &d1), ELECT_WINNER);
	ck_assert_uint_eq(d1.winner, A);
	ck_assert_uint_eq(d1.epoch, 1);
	a_rec = pos(d1.epoch, 1);	/* A writes, then crashes unseen */
	w.r[A].last = a_rec;
	w_crash(&w, A);

	/* Without the promise: B and C kept nothing of round 1, so their
	 * next round is epoch 1 again, and B wins epoch 1 too. */
	w.r[B].promised = w.r[C].promised = 0;
	ck_assert_int_eq(w_round(&w, 1, bc, 2, bal, &d2), ELECT_WINNER);
	ck_assert_uint_eq(d2.winner, B);
	ck_assert_uint_eq(d2.epoch, d1.epoch);		/* two primaries */
	b_rec = pos(d2.epoch, 1);
	/* Different records, same position: catch-up from A's (1,1) finds
	 * the pair in B's log and misses the divergence. */
	ck_assert_int_eq(logpos_cmp(a_rec, b_rec), 0);

	/* With the promise: B and C recorded epoch 1 before answering, so
	 * the next round is 2 and its winner's records differ in position. */
	w.r[B].promised = w.r[C].promised = 1;
	ck_assert_int_eq(w_round(&w, w.r[B].promised + 1, bc, 2, bal, &d2),
			 ELECT_WINNER);
	ck_assert_uint_eq(d2.epoch, 2);
	ck_assert_int_ne(logpos_cmp(a_rec, pos(d2.epoch, 1)), 0);

	/* Whoever answers with a stale promise, the winner's epoch is above
	 * every promise in the round: C promised 5 in a round it heard of. */
	w.r[C].promised = 5;
	ck_assert_int_eq(w_round(&w, 3, bc, 2, bal, &d2), ELECT_WINNER);
	ck_assert_uint_eq(d2.winner, B);
	ck_assert_uint_eq(d2.epoch, 5);
}
END_TEST

START_TEST(test_rule2_freshness)
{
	/* Without (2), a restarted B with an empty log, eligible while the
	 * fresher A is still waiting, wins and drops what A acknowledged. */
	struct world w;
	struct elect_decision d;
	const uint64_t bal[4] = { 0, 0x10, 0xff, 0x08 };	/* B highest */
	const int abc[] = { A, B, C };
	struct ballot b[3];
	uint32_t wf;

	full_stop_start(&w);
	ck_assert(w_eligible(&w, B, &wf));	/* its stale ISR {A,B,C} */
	ck_assert(!w_eligible(&w, A, &wf));	/* A-C link not up yet */
	ck_assert_uint_eq(wf, C);
	ck_assert(!w_eligible(&w, C, &wf));
	ck_assert_uint_eq(wf, A);

	ck_assert_int_eq(w_round(&w, 2, abc, 3, bal, &d), ELECT_WAIT);
	ck_assert_uint_eq(d.waiting_for, A);
	ck_assert_uint_eq(d.epoch, 2);

	/* The freshness half on its own: even in a round that knew only
	 * B's stale ISR {A,B,C}, B is behind the waiting A and must not win. */
	for (int i = 0; i < 3; i++) {
		b[i] = w_ballot(&w, abc[i], bal[abc[i]]);
		b[i].isr = w.r[B].isr;
	}
	ck_assert_int_eq(elect_decide(b, 3, &d), ELECT_WAIT);
	ck_assert_uint_eq(d.waiting_for, A);
	/* ... while B is the only eligible replica with the highest ballot:
	 * a rule without freshness would have picked it. */
	ck_assert(b[1].eligible && !b[0].eligible && !b[2].eligible);

	/* The A-C link comes up: both eligible, one of them wins. */
	w_connect(&w, A, C);
	ck_assert_int_eq(w_round(&w, 3, abc, 3, bal, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, A);
	ck_assert(w.r[d.winner].has_acked);
}
END_TEST

START_TEST(test_rule3_established)
{
	/* Without (3), that B writes one record in its new epoch before A's
	 * refusal arrives, and its higher last epoch then beats A's longer
	 * log in the next round. Announcement and acceptance are repl_*.c's;
	 * decidable here: B can win a round holding only its own ballot, A's
	 * acceptance test refuses it, a record of B's new epoch would then
	 * rank above A's log, and with B having written nothing A wins. */
	struct world w, bad;
	struct elect_decision d;
	const uint64_t bal[4] = { 0, 0x10, 0xff, 0x08 };	/* B highest */
	const int only_b[] = { B }, abc[] = { A, B, C };

	full_stop_start(&w);
	/* A's and C's ballots are not in yet when B decides: the decision
	 * alone cannot stop B (eligibility holds: A and C are connected). */
	ck_assert_int_eq(w_round(&w, 2, only_b, 1, bal, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, B);
	ck_assert(!accepts(&w, A, &d));		/* member, log ahead */
	ck_assert(!accepts(&w, C, &d));

	/* Without (3): B already wrote its epoch-start record (setting ISR
	 * {A,B,C}) at (2,1). Its last epoch beats A's longer log... */
	bad = w;
	bad.r[B].last = pos(2, 1);
	bad.r[B].isr = ISR(2, 1, A, B, C);
	ck_assert_int_gt(logpos_cmp(bad.r[B].last, bad.r[A].last), 0);
	/* ... and it wins the next round, everyone up and connected,
	 * dropping the write A acknowledged. This is what (3) prevents. */
	w_connect(&bad, A, C);
	ck_assert_int_eq(w_round(&bad, 3, abc, 3, bal, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, B);
	ck_assert(!bad.r[B].has_acked);

	/* With (3): B stepped down having written nothing; A wins. */
	w_connect(&w, A, C);
	ck_assert_int_eq(w_round(&w, 3, abc, 3, bal, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, A);
	ck_assert(w.r[A].has_acked);
	ck_assert(accepts(&w, B, &d) && accepts(&w, C, &d));
}
END_TEST

START_TEST(test_rule4_now)
{
	/* Without "now" in (4), B restarts, hears from A and C, then C and A
	 * crash one after the other while A acknowledges a write alone, and
	 * B, alone, its stale ISR satisfied, leads with an empty log. */
	struct world w;
	struct elect_decision d;
	const uint64_t bal[4] = { 0, 0x10, 0xff, 0x08 };	/* B highest */
	const int only_b[] = { B }, ab[] = { A, B };
	uint32_t wf, heard[] = { A, C };
	char why[200];
	struct ballot b;

	w_init(&w, 1);				/* A primary of epoch 1 */
	w_crash(&w, B);
	w_restart(&w, B);
	w_connect(&w, B, A);
	w_connect(&w, B, C);			/* B hears ISR {A,B,C} */
	ck_assert(w_eligible(&w, B, &wf));	/* true at this moment */

	/* C crashes; B, still catching up, is cut off too; A shrinks its ISR
	 * to {A} at (1,1) (B never hears of it), acknowledges a write alone
	 * at (1,2), and crashes. */
	w_crash(&w, C);
	w.link[A][B] = w.link[B][A] = 0;
	w.r[A].isr = ISR(1, 1, A);
	w.r[A].last = pos(1, 2);
	w.r[B].has_acked = 0;
	w_crash(&w, A);

	/* B alone, stale ISR {A,B,C}, nobody connected now: not eligible. */
	ck_assert(!w_eligible(&w, B, &wf));
	ck_assert_uint_eq(wf, A);
	ck_assert_int_eq(w_round(&w, 2, only_b, 1, bal, &d), ELECT_WAIT);

	/* Why "now": had it counted whom it once heard from, B would be
	 * eligible and would win alone with its empty log. */
	ck_assert(elect_eligible(B, &w.r[B].isr, 1, heard, 2, &wf, why,
				 sizeof(why)));
	b = w_ballot(&w, B, bal[B]);
	b.eligible = 1;
	ck_assert_int_eq(elect_decide(&b, 1, &d), ELECT_WINNER);
	ck_assert(!w.r[d.winner].has_acked);

	/* A restarts and connects: its ISR {A} is newest, A wins. */
	w_restart(&w, A);
	w_connect(&w, A, B);
	ck_assert(!w_eligible(&w, B, &wf));
	ck_assert_uint_eq(wf, C);
	ck_assert_int_eq(w_round(&w, 3, ab, 2, bal, &d), ELECT_WINNER);
	ck_assert_uint_eq(d.winner, A);
	ck_assert(w.r[A].has_acked);
}
END_TEST

/* ---- property test ------------------------------------------------------ */

static unsigned
rnd(uint64_t *s, unsigned n)
{
	return (unsigned)(h_xorshift64(s) % n);
}

/* Checks the decision against the rules, written out directly. */
static void
check_rules(const struct ballot *b, size_t n, const struct elect_decision *d)
{
	struct logpos newest = { 0, 0 }, fresh = { 0, 0 };
	uint64_t epoch = 0;
	int members = 0;

	for (size_t i = 0; i < n; i++) {
		if (b[i].promised > epoch)
			epoch = b[i].promised;
		if (i == 0 || logpos_cmp(b[i].isr.set_at, newest) > 0)
			newest = b[i].isr.set_at;
	}
	ck_assert_uint_eq(d->epoch, epoch);
	assert_why(d);
	if (n == 0) {
		ck_assert_int_eq(d->outcome, ELECT_NONE);
		return;
	}
	/* Round ISR: newest set_at; its members come from the ISRs set
	 * there, and every such ISR's members are in it. */
	ck_assert_int_eq(logpos_cmp(d->round_isr.set_at, newest), 0);
	for (size_t i = 0; i < n; i++) {
		if (logpos_cmp(b[i].isr.set_at, newest) != 0)
			continue;
		for (unsigned k = 0; k < b[i].isr.n; k++)
			ck_assert(isr_has(&d->round_isr, b[i].isr.ids[k]));
	}
	for (size_t i = 0; i < n; i++) {
		if (!isr_has(&d->round_isr, b[i].id))
			continue;
		if (members++ == 0 || logpos_cmp(b[i].last, fresh) > 0)
			fresh = b[i].last;
	}
	if (members == 0) {
		ck_assert_int_eq(d->outcome, ELECT_NONE);
		return;
	}
	ck_assert_int_ne(d->outcome, ELECT_NONE);
	{
		uint32_t named = d->outcome == ELECT_WINNER ? d->winner
							      : d->waiting_for;
		size_t k = 0;

		while (k < n && b[k].id != named)
			k++;
		ck_assert(k < n);		/* it answered */
	}
	for (size_t i = 0; i < n; i++) {
		int qual = isr_has(&d->round_isr, b[i].id) && b[i].eligible &&
			   logpos_cmp(b[i].last, fresh) == 0;

		if (d->outcome == ELECT_WINNER && b[i].id == d->winner) {
			/* eligible, a member, no answering member fresher */
			ck_assert(qual);
		} else if (d->outcome == ELECT_WINNER && qual) {
			/* a qualifying loser is beaten on the keys */
			const struct ballot *w = NULL;

			for (size_t k = 0; k < n; k++)
				if (b[k].id == d->winner)
					w = &b[k];
			ck_assert(w != NULL);
			ck_assert(w->ballot > b[i].ballot ||
				  (w->ballot == b[i].ballot &&
				   (w->timestamp < b[i].timestamp ||
				    (w->timestamp == b[i].timestamp &&
				     w->id < b[i].id))));
		} else if (d->outcome == ELECT_WAIT) {
			ck_assert(!qual);	/* nobody could have won */
			if (b[i].id == d->waiting_for)
				ck_assert(isr_has(&d->round_isr, b[i].id) &&
					  !b[i].eligible &&
					  logpos_cmp(b[i].last, fresh) == 0);
			else if (isr_has(&d->round_isr, b[i].id) &&
				 logpos_cmp(b[i].last, fresh) == 0)
				ck_assert_uint_gt(b[i].id, d->waiting_for);
		}
	}
	if (d->outcome == ELECT_WINNER)
		ck_assert_uint_eq(d->waiting_for, 0);
	else
		ck_assert_uint_eq(d->winner, 0);
}

START_TEST(test_random)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	unsigned outcomes[3] = { 0, 0, 0 };

	for (int iter = 0; iter < 5000; iter++) {
		struct ballot b[5], sh[5];
		struct elect_decision d, e;
		uint32_t ids[6] = { 1, 2, 3, 4, 5, 6 };
		size_t n = 1 + rnd(&s, 5);

		for (unsigned i = 5; i > 0; i--) {	/* distinct ids */
			unsigned j = rnd(&s, i + 1);
			uint32_t t = ids[i];

			ids[i] = ids[j];
			ids[j] = t;
		}
		for (size_t i = 0; i < n; i++) {
			memset(&b[i], 0, sizeof(b[i]));
			b[i].id = ids[i];
			b[i].promised = 1 + rnd(&s, 4);
			b[i].last = pos(rnd(&s, 3), rnd(&s, 4));
			b[i].isr.set_at = pos(rnd(&s, 3), rnd(&s, 2));
			for (uint32_t id = 1; id <= 6; id++)
				if (rnd(&s, 2))
					b[i].isr.ids[b[i].isr.n++] = id;
			b[i].eligible = (int)rnd(&s, 2);
			b[i].ballot = rnd(&s, 4);
			b[i].timestamp = rnd(&s, 3);
		}
		elect_decide(b, n, &d);
		check_rules(b, n, &d);
		outcomes[d.outcome]++;

		for (int t = 0; t < 3; t++) {		/* order independence */
			memcpy(sh, b, sizeof(sh));
			for (size_t i = n - 1; i > 0; i--) {
				size_t j = rnd(&s, (unsigned)i + 1);
				struct ballot x = sh[i];

				sh[i] = sh[j];
				sh[j] = x;
			}
			elect_decide(sh, n, &e);
			ck_assert_int_eq(e.outcome, d.outcome);
			ck_assert_uint_eq(e.winner, d.winner);
			ck_assert_uint_eq(e.waiting_for, d.waiting_for);
			ck_assert_uint_eq(e.epoch, d.epoch);
			ck_assert(isr_same(&e.round_isr, &d.round_isr));
		}
	}
	/* The generator reaches every outcome often. */
	for (int o = 0; o < 3; o++)
		ck_assert_uint_gt(outcomes[o], 300);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_logpos_cmp,
		test_isr_has,
		test_table,
		test_why,
		test_defensive,
		test_eligible,
		test_rule1_promise,
		test_rule2_freshness,
		test_rule3_established,
		test_rule4_now,
		test_random,
		NULL
	};

	return h_run_tests("elect", "core", 0, tests);
}
