/*
 * repl_elect.c — the election decision (DESIGN.md §6, rules 2 and 4) as
 * pure functions over the ballots of a round. See repl_elect.h for the
 * contract; tests/check_elect.c for the cases and the counterexamples.
 *
 * Defensive input handling (the callers should never need it):
 *  - an isr with n > ELECT_MAX is read as its first ELECT_MAX ids;
 *  - ballots with id 0 (no replica has it), later ballots repeating an id,
 *    and ballots beyond the first ELECT_MAX usable ones are ignored;
 *  - if two ballots carry different ISRs with the same set_at (impossible
 *    unless two logs diverged), the round ISR is their union (capped at
 *    ELECT_MAX): more members count for freshness, never fewer.
 */
#include "repl_elect.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* snprintf for one-line explanations: truncation is fine, by design. */
__attribute__((format(printf, 3, 4))) static void
say(char *buf, size_t len, const char *fmt, ...)
    {
    va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

int
logpos_cmp(struct logpos a, struct logpos b)
{
	if (a.epoch != b.epoch)
		return a.epoch < b.epoch ? -1 : 1;
	if (a.lsn != b.lsn)
		return a.lsn < b.lsn ? -1 : 1;
	return 0;
}

static unsigned
isr_len(const struct isr *isr)
{
	return isr->n < ELECT_MAX ? isr->n : ELECT_MAX;
}

int
isr_has(const struct isr *isr, uint32_t id)
{
	if (isr == NULL)
		return 0;
	for (unsigned i = 0; i < isr_len(isr); i++)
		if (isr->ids[i] == id)
			return 1;
	return 0;
}

/* "{1,2,3}" into buf (truncated if it must be). */
static const char *
isr_str(const struct isr *isr, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < isr_len(isr) && off < len; i++) {
		int k = snprintf(buf + off, len - off, "%s%" PRIu32,
				 i ? "," : "{", isr->ids[i]);
		if (k < 0)
			break;
		off += (size_t)k;
	}
	if (off < len)
		snprintf(buf + off, len - off, "%s", isr_len(isr) ? "}" : "{}");
	return buf;
}

/* Does a beat b for the win (both already qualify)? */
static int
better(const struct ballot *a, const struct ballot *b)
{
	if (a->ballot != b->ballot)
		return a->ballot > b->ballot;
	if (a->timestamp != b->timestamp)
		return a->timestamp < b->timestamp;
	return a->id < b->id;
}

enum elect_outcome
elect_decide(const struct ballot *b, size_t n, struct elect_decision *d)
{
	const struct ballot *u[ELECT_MAX];	/* the usable ballots */
	const struct ballot *best = NULL, *wait = NULL;
	struct logpos fresh = { 0, 0 };
	size_t m = 0, members = 0, eligible = 0, qualify = 0;
	char s[200];

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; b != NULL && i < n && m < ELECT_MAX; i++) {
		size_t j = 0;

		while (j < m && u[j]->id != b[i].id)
			j++;
		if (b[i].id != 0 && j == m)
			u[m++] = &b[i];
	}
	if (m == 0) {
		d->outcome = ELECT_NONE;
		say(d->why, sizeof(d->why), "no ballots");
		return d->outcome;
	}

	/* Epoch and round ISR (newest set_at; union on a tie). */
	for (size_t i = 0; i < m; i++) {
		const struct isr *x = &u[i]->isr;
		int c = i ? logpos_cmp(x->set_at, d->round_isr.set_at) : 1;

		if (u[i]->promised > d->epoch)
			d->epoch = u[i]->promised;
		if (c > 0) {
			d->round_isr = *x;
			d->round_isr.n = isr_len(x);
		} else if (c == 0) {
			for (unsigned k = 0; k < isr_len(x); k++)
				if (!isr_has(&d->round_isr, x->ids[k]) &&
				    d->round_isr.n < ELECT_MAX)
					d->round_isr.ids[d->round_isr.n++] =
						x->ids[k];
		}
	}
	isr_str(&d->round_isr, s, sizeof(s));

	/* Freshest log among the members that answered, eligible or not. */
	for (size_t i = 0; i < m; i++) {
		if (!isr_has(&d->round_isr, u[i]->id))
			continue;
		if (members++ == 0 || logpos_cmp(u[i]->last, fresh) > 0)
			fresh = u[i]->last;
		eligible += u[i]->eligible != 0;
	}
	if (members == 0) {
		d->outcome = ELECT_NONE;
		say(d->why, sizeof(d->why),
		    "no member of ISR %s answered (%zu ballots)", s, m);
		return d->outcome;
	}

	/* Qualify: eligible members as fresh as that; else wait for one. */
	for (size_t i = 0; i < m; i++) {
		const struct ballot *x = u[i];

		if (!isr_has(&d->round_isr, x->id) ||
		    logpos_cmp(x->last, fresh) != 0)
			continue;
		if (!x->eligible) {
			if (wait == NULL || x->id < wait->id)
				wait = x;
		} else {
			qualify++;
			if (best == NULL || better(x, best))
				best = x;
		}
	}
	if (best != NULL) {
		d->outcome = ELECT_WINNER;
		d->winner = best->id;
		say(d->why, sizeof(d->why),
		    "replica %" PRIu32 " wins epoch %" PRIu64 ": freshest "
		    "(%" PRIu64 ",%" PRIu64 ") among ISR %s (%zu of %u "
		    "answered), ballot 0x%016" PRIx64 " best of %zu",
		    best->id, d->epoch, fresh.epoch, fresh.lsn, s,
		    members, d->round_isr.n, best->ballot, qualify);
	} else {
		d->outcome = ELECT_WAIT;
		d->waiting_for = wait->id;
		say(d->why, sizeof(d->why),
		    "waiting for replica %" PRIu32 ": its log (%" PRIu64
		    ",%" PRIu64 ") is ahead of every eligible member of "
		    "ISR %s (%zu eligible), and it is not eligible yet",
		    wait->id, fresh.epoch, fresh.lsn, s, eligible);
	}
	return d->outcome;
}

int
elect_eligible(uint32_t self_id, const struct isr *isr, int recovering,
	       const uint32_t *connected, size_t n_connected,
	       uint32_t *waiting_for, char *why, size_t whylen)
{
	char s[200], scratch[8];
	uint32_t missing = 0;
	int ok = 0;

	if (why == NULL || whylen == 0) {	/* write nowhere visible */
		why = scratch;
		whylen = sizeof(scratch);
	}
	if (connected == NULL)
		n_connected = 0;
	if (isr != NULL)
		isr_str(isr, s, sizeof(s));
	if (isr == NULL) {
		say(why, whylen, "replica %" PRIu32 " knows no ISR",
		    self_id);
	} else if (!isr_has(isr, self_id)) {
		say(why, whylen, "replica %" PRIu32 " is not in its "
		    "newest ISR %s", self_id, s);
	} else {
		for (unsigned i = 0; recovering && i < isr_len(isr) &&
		     missing == 0; i++) {
			size_t j = 0;

			while (j < n_connected && connected[j] != isr->ids[i])
				j++;
			if (isr->ids[i] != self_id && j == n_connected)
				missing = isr->ids[i];
		}
		ok = missing == 0;
		if (ok)
			say(why, whylen, "eligible: member of ISR %s%s",
			    s, recovering ? ", recovering, every other "
			    "member connected now" : "");
		else
			say(why, whylen, "waiting for replica %" PRIu32
			    ": recovering, and that member of ISR %s is "
			    "not connected now (it may hold acknowledged "
			    "writes)", missing, s);
	}
	if (waiting_for != NULL)
		*waiting_for = missing;
	return ok;
}
