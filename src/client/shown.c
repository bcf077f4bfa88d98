/*
 * shown.c — remembering which messages were shown, so none appears twice.
 *
 * Message ids are assigned by the primary in increasing order, and the
 * pushes of one connection arrive in commit order. So while the push
 * stream has no gap, "shown" is just a high-water mark (floor). Two
 * things break that: a reconnect (messages committed meanwhile are
 * fetched with FETCH after the floor, while new pushes may already
 * arrive), and ids learned out of band (SENT, READ, DRAFT_SEND answers).
 * Those ids are kept individually above the floor until the floor passes
 * them. See struct cli_shown.
 */
#include <string.h>
#include "client.h"

void
cli_shown_reset(struct cli_shown *s, uint64_t floor)
{
	memset(s, 0, sizeof *s);
	s->floor = floor;
	s->max = floor;
}

/* Index of the first id >= id (binary search in the sorted set). */
static unsigned
lower_bound(const struct cli_shown *s, uint64_t id)
{
	unsigned lo = 0, hi = s->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (s->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
cli_shown_seen(const struct cli_shown *s, uint64_t id)
{
	unsigned i;

	if (id <= s->floor)
		return 1;
	i = lower_bound(s, id);
	return i < s->n && s->ids[i] == id;
}

void
cli_shown_add(struct cli_shown *s, uint64_t id)
{
	unsigned i;

	if (id > s->max)
		s->max = id;
	if (id <= s->floor)
		return;
	i = lower_bound(s, id);
	if (i < s->n && s->ids[i] == id)
		return;
	if (s->n == CLI_SHOWN_MAX) {
		/* Full: give up the oldest; the floor moves past it. This
		 * needs hundreds of out-of-order ids in one gap, and costs at
		 * worst a skipped message older than all of them. */
		s->floor = s->ids[0];
		memmove(s->ids, s->ids + 1, (s->n - 1) * sizeof s->ids[0]);
		s->n--;
		if (id <= s->floor)
			return;
		i = lower_bound(s, id);
	}
	memmove(s->ids + i + 1, s->ids + i, (s->n - i) * sizeof s->ids[0]);
	s->ids[i] = id;
	s->n++;
}

void
cli_shown_settle(struct cli_shown *s, uint64_t upto)
{
	unsigned k;

	if (upto <= s->floor)
		return;
	s->floor = upto;
	if (upto > s->max)
		s->max = upto;
	k = upto == UINT64_MAX ? s->n : lower_bound(s, upto + 1);
	memmove(s->ids, s->ids + k, (s->n - k) * sizeof s->ids[0]);
	s->n -= k;
}
