/*
 * net_internal.h — what net.c and timer.c share, and nobody else.
 *
 * The timers of a loop live in a binary min-heap (timer.c) embedded in
 * struct loop (net.c). net.c asks the heap how long poll() may sleep and
 * tells it when to run what has expired; timer.c reaches the heap of a
 * loop through loop_timer_heap(), so struct loop stays private to net.c.
 *
 * Not installed in include/: nothing outside the event loop may depend on
 * these layouts.
 */
#ifndef CHATD_NET_INTERNAL_H
#define CHATD_NET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "net.h"

/* timer.idx of a timer that is not in the heap (running or removed). */
#define TIMER_NOT_QUEUED SIZE_MAX

struct timer {
	uint64_t deadline;	/* CLOCK_MONOTONIC ms */
	uint64_t seq;		/* insertion order: breaks deadline ties */
	size_t   idx;		/* position in the heap, for O(log n) cancel */
	void   (*fn)(void *ud);
	void    *ud;
};

/* Ordered by (deadline, seq): v[0] is the next timer to fire. */
struct timer_heap {
	struct timer **v;
	size_t         n, cap;
	uint64_t       next_seq;
	struct timer  *running;	/* the timer whose callback is on the stack */
};

void timer_heap_init(struct timer_heap *h);
/* Free every timer still queued, without calling it. */
void timer_heap_free(struct timer_heap *h);
/* poll() timeout until the earliest deadline: -1 if there is no timer,
 * 0 if one is due at now, else the ms to wait (at most INT_MAX). */
int  timer_heap_timeout(const struct timer_heap *h, uint64_t now);
/* Run, in (deadline, insertion) order, every timer that was queued when the
 * call started and whose deadline is <= now. Callbacks may add and cancel
 * timers; timers added meanwhile wait for the next call. */
void timer_heap_run(struct timer_heap *h, uint64_t now);

/* Defined in net.c. */
struct timer_heap *loop_timer_heap(struct loop *l);
/* calloc/realloc that abort with a message instead of returning NULL. */
void *net_xcalloc(size_t n, size_t size);
void *net_xrealloc(void *p, size_t n, size_t size);

#endif
