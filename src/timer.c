/*
 * timer.c — one-shot timers of the event loop (see net.h, net_internal.h).
 *
 * A binary min-heap of timer pointers keyed by (deadline, seq). seq is a
 * per-loop insertion counter, so timers with equal deadlines fire in the
 * order they were added. Each timer stores its heap index, which makes
 * cancel O(log n): swap the last entry into the hole and sift it.
 *
 * Deadlines are taken from mono_ms() at timer_add time, not from the time
 * cached for the loop pass: a timer added late in a pass (or between
 * passes) never fires before delay_ms has really elapsed.
 *
 * Running expired timers pops each one off the heap before calling it, so
 * the callback may add or cancel any timer, including ones due in the same
 * pass. Only timers queued before the run started are eligible, which
 * keeps a callback that re-arms itself with delay 0 from starving the
 * loop.
 */
#include <limits.h>
#include <stdlib.h>
#include "net.h"
#include "net_internal.h"

static int
timer_before(const struct timer *a, const struct timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void
heap_put(struct timer_heap *h, size_t i, struct timer *t)
{
	h->v[i] = t;
	t->idx = i;
}

static void
sift_up(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, h->v[parent]))
			break;
		heap_put(h, i, h->v[parent]);
		i = parent;
	}
	heap_put(h, i, t);
}

static void
sift_down(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && timer_before(h->v[child + 1], h->v[child]))
			child++;
		if (!timer_before(h->v[child], t))
			break;
		heap_put(h, i, h->v[child]);
		i = child;
	}
	heap_put(h, i, t);
}

/* Take t out of the heap (t must be queued); does not free it. */
static void
heap_remove(struct timer_heap *h, struct timer *t)
{
	size_t i = t->idx;
	struct timer *last = h->v[--h->n];

	t->idx = TIMER_NOT_QUEUED;
	if (i == h->n)
		return;
	heap_put(h, i, last);
	if (i > 0 && timer_before(last, h->v[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

void
timer_heap_init(struct timer_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->next_seq = 0;
	h->running = NULL;
}

void
timer_heap_free(struct timer_heap *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		free(h->v[i]);
	free(h->v);
	timer_heap_init(h);
}

int
timer_heap_timeout(const struct timer_heap *h, uint64_t now)
{
	uint64_t d;

	if (h->n == 0)
		return -1;
	d = h->v[0]->deadline;
	if (d <= now)
		return 0;
	if (d - now > (uint64_t)INT_MAX)
		return INT_MAX;
	return (int)(d - now);
}

void
timer_heap_run(struct timer_heap *h, uint64_t now)
{
	uint64_t end = h->next_seq;

	while (h->n > 0 && h->v[0]->deadline <= now && h->v[0]->seq < end) {
		struct timer *t = h->v[0];

		heap_remove(h, t);
		h->running = t;
		t->fn(t->ud);
		h->running = NULL;
		free(t);
	}
}

/*
 * Queue fn(ud) to run once, delay_ms from now, on the loop thread. Never
 * fails (allocation failure aborts). The returned handle is valid until the
 * timer fires or is cancelled.
 */
struct timer *
timer_add(struct loop *l, uint64_t delay_ms, void (*fn)(void *ud), void *ud)
{
	struct timer_heap *h = loop_timer_heap(l);
	struct timer *t = net_xcalloc(1, sizeof *t);
	uint64_t now = mono_ms();

	t->deadline = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
	t->seq = h->next_seq++;
	t->fn = fn;
	t->ud = ud;
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 16;
		h->v = net_xrealloc(h->v, h->cap, sizeof *h->v);
	}
	heap_put(h, h->n++, t);
	sift_up(h, t->idx);
	return t;
}

/*
 * Remove a queued timer and free it. NULL is ignored, and so is the timer
 * whose callback is running (it is freed when the callback returns).
 */
void
timer_cancel(struct loop *l, struct timer *t)
{
	struct timer_heap *h;

	if (t == NULL)
		return;
	h = loop_timer_heap(l);
	if (t == h->running || t->idx == TIMER_NOT_QUEUED)
		return;
	heap_remove(h, t);
	free(t);
}
