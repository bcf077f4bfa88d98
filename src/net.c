/*
 * net.c — the single-threaded poll() loop (contract in net.h).
 *
 * One struct pollfd array, plus a parallel array saying who owns each
 * entry (the signal self-pipe, a listener, a connection or a watch). Each
 * owner remembers its index; adding appends, removing swaps the last entry
 * into the hole and tells that entry's owner its new index. Removal happens
 * only between passes or at the very end of a pass, so the dispatch loop
 * can walk the array by index while callbacks add connections (appended
 * entries start with revents 0) and close others (which are only marked).
 * An entry that must not be polled right now (a paused connection with
 * nothing to write, a listener backing off after EMFILE, a closed listener
 * or removed watch awaiting its free) gets fd -1, which poll() ignores;
 * that also keeps POLLHUP on a paused connection from waking us in a loop.
 *
 * Hot and cold entries. poll() costs the kernel time for every entry it is
 * given, so 10,000 idle connections would make every pass, and so every
 * request, pay for all of them. The array is kept in two parts: entries
 * [0, nhot) are polled on every pass; [nhot, nfd) are connections idle for
 * COLD_AFTER_MS that only want input, polled a slice at a time without
 * waiting (one slice every COLD_POLL_MS/COLD_SLICES, so each about every
 * COLD_POLL_MS): a cold connection's next request waits about that long
 * to be seen, and no pass pays for all of them at once. A cold connection
 * that shows any event, or gets output it cannot write at once, turns hot
 * again (CV_WARM, applied before the next poll). Entries move between the
 * parts only between dispatch walks, except that an added entry swaps
 * itself into the hot part at once: the cold entry it displaces goes to
 * the end, where a walk in progress does not reach it (its readiness is
 * level-triggered and seen on a later pass).
 *
 * Pass order (loop_run_once):
 *   1. poll(), timeout = min(caller's limit, earliest timer), or 0 when work
 *      is already queued (output to flush, connections to finalize, input
 *      resumed with frames buffered); retried on EINTR.
 *   2. now = mono_ms() (what loop_now_ms returns for the pass).
 *   3. dispatch ready entries in array order: the signal pipe (signal
 *      callbacks), listeners (accept, on_accept), connections (connect
 *      completion, read + on_frame, POLLOUT only queues a flush), watches.
 *   4. dispatch frames buffered on connections whose input was resumed.
 *   5. run expired timers.
 *   6. the before-sleep hook.
 *   7. flush every connection with pending output; finalize closed
 *      connections (on_close, close(fd), drop the pollfd entry, free); free
 *      closed listeners and removed watches. Step 7 repeats while on_close
 *      callbacks queued more output or closed more connections.
 * Nothing is freed before step 7, so no callback ever runs on freed memory.
 *
 * Output is written only in step 7 (or while draining a closing
 * connection), so all the replies of one pass leave in as few writes as
 * possible; POLLOUT is requested only while bytes remain after a write hit
 * EAGAIN (or the per-pass fairness budget).
 *
 * Reading is level-triggered: at most READ_BUDGET bytes per connection and
 * pass, READ_CHUNK at a time, and frames are dispatched after every chunk,
 * so the input buffer never holds more than one incomplete frame (at most
 * header + max_payload - 1 bytes, since oversized headers are rejected at
 * once) plus one chunk.
 *
 * Signals are process-wide: the handler writes into the self-pipe of the
 * loop that last called loop_on_signal(); run one signal-handling loop per
 * process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "net_internal.h"

#define READ_CHUNK        (64u * 1024u)
#define READ_BUDGET       (1024u * 1024u)	/* per connection and pass */
#define WRITE_BUDGET      (4u * 1024u * 1024u)	/* per connection and pass */
#define DEFAULT_OUT_CAP   (4u * 1024u * 1024u)
#define KEEP_BUF_MAX      (1024u * 1024u)	/* free idle buffers above this */
#define FLUSH_CLOSE_MS    5000	/* longest conn_close(flush) may linger */
#define ACCEPT_BACKOFF_MS 100	/* pause after EMFILE/ENFILE */
#define ACCEPT_BATCH      128	/* accepts per listener and pass */
#define LISTEN_BACKLOG    511
#define MAX_SIGNALS       8
#define NOT_LISTED        SIZE_MAX

enum owner_kind { OWN_SIGNAL, OWN_LISTENER, OWN_CONN, OWN_WATCH };

struct owner {
	enum owner_kind kind;
	union {
		struct listener *ls;
		struct conn     *c;
		struct watch    *w;
	} u;
};

/* Connection lists with O(1) removal: each conn stores its index. */
enum { CV_PENDING, CV_READY, CV_WARM, CV_COUNT };

#define COLD_AFTER_MS  2000	/* idle this long: polled only now and then */
#define COLD_POLL_MS   100	/* how often each cold entry is polled */
#define COLD_SLICES    20	/* in this many slices, one per pass at most */
/* (Both are loop fields, loop_set_cold() changes them.) */

struct connvec {
	struct conn **v;
	size_t        n, cap;
};

struct conn {
	struct loop           *l;
	int                    fd;
	size_t                 pidx;	/* pollfd index */
	const struct conn_ops *ops;
	void                  *ud;
	uint32_t               max_payload;
	size_t                 out_cap;
	struct buf             in, out;
	struct buf             sink;	/* conn_outbuf() of a closing conn */
	size_t                 vidx[CV_COUNT];
	struct conn           *next_closed;
	struct timer          *flush_timer;
	unsigned               connecting : 1;	/* waiting for connect() */
	unsigned               closing : 1;	/* conn_close was called */
	unsigned               flush_close : 1;	/* draining before close */
	unsigned               queued : 1;	/* on the to-finalize queue */
	unsigned               paused : 1;
	unsigned               want_pollout : 1;
	unsigned               hup : 1;	/* hangup seen while not reading */
	uint64_t               last_io;	/* loop time of its last event */
	char                   reason[128];
	char                   peer[64];
};

struct listener {
	struct loop           *l;
	int                    fd;
	size_t                 pidx;
	const struct conn_ops *ops;
	void                  *ud;
	uint32_t               max_payload;
	uint16_t               port;
	int                    closed;
	struct timer          *backoff;	/* set while accepts are paused */
	struct listener       *next_dead;
};

struct watch {
	struct loop  *l;
	int           fd;
	size_t        pidx;
	void        (*fn)(int fd, void *ud);
	void         *ud;
	int           removed;
	struct watch *next_dead;
};

struct sigslot {
	int              signo;
	void           (*fn)(int signo, void *ud);
	void            *ud;
	struct sigaction old;
};

struct loop {
	struct pollfd    *pfd;
	struct owner     *own;
	size_t            nfd, capfd;
	size_t            nhot;		/* [0, nhot) polled every pass */
	size_t            cold_cursor;	/* next cold slice, from nhot */
	uint64_t          last_slice;	/* when a cold slice was polled */
	uint64_t          last_cool;	/* when idle entries were cooled */
	unsigned          cold_after_ms, cold_poll_ms;
	struct connvec    cv[CV_COUNT];
	struct conn      *closed_head, *closed_tail;
	struct listener  *dead_ls;
	struct watch     *dead_w;
	struct timer_heap timers;
	uint64_t          now;
	int               in_pass;
	int               stop;
	int               sigpipe[2];
	struct sigslot    sigs[MAX_SIGNALS];
	int               nsigs;
	void            (*before_sleep)(void *ud);
	void             *before_sleep_ud;
};

static const struct conn_ops no_ops;

/* The self-pipe the signal handler writes to (-1: none). */
static volatile sig_atomic_t sig_wfd = -1;

/* ---- small helpers ---------------------------------------------------- */

void *
net_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL) {
		log_error("net: out of memory (%zu x %zu bytes)", n, size);
		abort();
	}
	return p;
}

void *
net_xrealloc(void *p, size_t n, size_t size)
{
	void *q;

	if (size != 0 && n > SIZE_MAX / size) {
		log_error("net: allocation size overflow");
		abort();
	}
	q = realloc(p, n != 0 && size != 0 ? n * size : 1);
	if (q == NULL) {
		log_error("net: out of memory (%zu x %zu bytes)", n, size);
		abort();
	}
	return q;
}

struct timer_heap *
loop_timer_heap(struct loop *l)
{
	return &l->timers;
}

/* Close reason for an errno from read/write. */
static const char *
errno_reason(int e)
{
	if (e == ECONNRESET)
		return "connection reset";
	return strerror(e);
}

uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "ip:port", "[ip6]:port", or "fd N" for anything that is not IP. */
static void
format_peer(const struct sockaddr_storage *ss, int fd, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN];

	if (ss != NULL && ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		snprintf(out, n, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
	} else if (ss != NULL && ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		snprintf(out, n, "[%s]:%u", host,
		    (unsigned)ntohs(sin6->sin6_port));
	} else {
		snprintf(out, n, "fd %d", fd);
	}
}

/* TCP_NODELAY; fails harmlessly on socketpairs and pipes. */
static void
set_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- the pollfd array ------------------------------------------------- */

static void
owner_set_pidx(const struct owner *o, size_t idx)
{
	switch (o->kind) {
	case OWN_LISTENER:	o->u.ls->pidx = idx; break;
	case OWN_CONN:		o->u.c->pidx = idx; break;
	case OWN_WATCH:		o->u.w->pidx = idx; break;
	case OWN_SIGNAL:	break;
	}
}

/* Exchange entries i and j, telling their owners. */
static void
pfd_swap(struct loop *l, size_t i, size_t j)
{
	struct pollfd p;
	struct owner o;

	if (i == j)
		return;
	p = l->pfd[i];
	l->pfd[i] = l->pfd[j];
	l->pfd[j] = p;
	o = l->own[i];
	l->own[i] = l->own[j];
	l->own[j] = o;
	owner_set_pidx(&l->own[i], i);
	owner_set_pidx(&l->own[j], j);
}

/* Append a hot entry; returns its index. */
static size_t
pfd_add(struct loop *l, int fd, short events, struct owner o)
{
	size_t idx;

	if (l->nfd == l->capfd) {
		l->capfd = l->capfd ? 2 * l->capfd : 16;
		l->pfd = net_xrealloc(l->pfd, l->capfd, sizeof *l->pfd);
		l->own = net_xrealloc(l->own, l->capfd, sizeof *l->own);
	}
	idx = l->nfd++;
	l->pfd[idx].fd = fd;
	l->pfd[idx].events = events;
	l->pfd[idx].revents = 0;
	l->own[idx] = o;
	owner_set_pidx(&o, idx);
	/* Into the hot part: the first cold entry goes to the end. */
	pfd_swap(l, idx, l->nhot);
	return l->nhot++;
}

/* Remove entry idx, keeping both parts whole. Only called when no
 * dispatch loop is walking the array. */
static void
pfd_del(struct loop *l, size_t idx)
{
	if (idx < l->nhot) {
		pfd_swap(l, idx, l->nhot - 1);
		idx = --l->nhot;
	}
	pfd_swap(l, idx, l->nfd - 1);
	l->nfd--;
}

static void
cv_add(struct loop *l, int k, struct conn *c)
{
	struct connvec *v = &l->cv[k];

	if (c->vidx[k] != NOT_LISTED)
		return;
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 16;
		v->v = net_xrealloc(v->v, v->cap, sizeof *v->v);
	}
	c->vidx[k] = v->n;
	v->v[v->n++] = c;
}

static void
cv_del(struct loop *l, int k, struct conn *c)
{
	struct connvec *v = &l->cv[k];
	size_t i = c->vidx[k];
	struct conn *last;

	if (i == NOT_LISTED)
		return;
	last = v->v[--v->n];
	if (i != v->n) {
		v->v[i] = last;
		last->vidx[k] = i;
	}
	c->vidx[k] = NOT_LISTED;
}

/* ---- connections ------------------------------------------------------ */

/* Recompute what poll() should watch for c. */
static void
conn_update_events(struct conn *c)
{
	struct pollfd *p = &c->l->pfd[c->pidx];
	short ev = 0;

	if (c->queued)
		ev = 0;
	else if (c->connecting)
		ev = POLLOUT;
	else {
		if (!c->closing && !c->paused)
			ev |= POLLIN;
		if (c->want_pollout)
			ev |= POLLOUT;
	}
	p->events = ev;
	p->fd = ev ? c->fd : -1;
	/* Output waiting or a connect in progress: not a cold entry. */
	if (c->pidx >= c->l->nhot && (ev & POLLOUT))
		cv_add(c->l, CV_WARM, c);
}

static struct conn *
conn_new(struct loop *l, int fd, const struct conn_ops *ops, void *ud,
	 uint32_t max_payload, const struct sockaddr_storage *peer,
	 int connecting)
{
	struct conn *c = net_xcalloc(1, sizeof *c);
	struct owner o;
	int k;

	c->l = l;
	c->fd = fd;
	c->ops = ops ? ops : &no_ops;
	c->ud = ud;
	c->max_payload = max_payload;
	c->out_cap = DEFAULT_OUT_CAP;
	buf_init(&c->in);
	buf_init(&c->out);
	buf_init(&c->sink);
	for (k = 0; k < CV_COUNT; k++)
		c->vidx[k] = NOT_LISTED;
	c->connecting = connecting ? 1 : 0;
	c->last_io = l->now;
	format_peer(peer, fd, c->peer, sizeof c->peer);
	o.kind = OWN_CONN;
	o.u.c = c;
	c->pidx = pfd_add(l, fd, 0, o);
	conn_update_events(c);
	return c;
}

/* Output was added: make sure it is written before the loop sleeps. */
static void
conn_mark_output(struct conn *c)
{
	if (c->closing || c->connecting || c->want_pollout)
		return;	/* closing: dropped; else written on POLLOUT */
	if (buf_pending(&c->out) > 0)
		cv_add(c->l, CV_PENDING, c);
}

/* Put c on the finalize queue (once): it will get on_close and be freed at
 * the end of the pass. */
static void
conn_queue_final(struct conn *c)
{
	struct loop *l = c->l;

	if (c->queued)
		return;
	c->queued = 1;
	c->closing = 1;
	cv_del(l, CV_PENDING, c);
	cv_del(l, CV_READY, c);
	cv_del(l, CV_WARM, c);
	timer_cancel(l, c->flush_timer);
	c->flush_timer = NULL;
	conn_update_events(c);
	c->next_closed = NULL;
	if (l->closed_tail)
		l->closed_tail->next_closed = c;
	else
		l->closed_head = c;
	l->closed_tail = c;
}

static void
flush_timeout(void *ud)
{
	struct conn *c = ud;

	c->flush_timer = NULL;
	conn_queue_final(c);
}

/*
 * First call wins: it sets the reason and starts closing. With flush_first
 * and output pending, c stops reading and lingers until the output is
 * written, a write fails, or FLUSH_CLOSE_MS pass; a later call with
 * flush_first 0 cuts that short. A connection still connecting is closed
 * at once (there is nothing to flush into).
 */
void
conn_close(struct conn *c, const char *reason, int flush_first)
{
	if (c->queued)
		return;
	if (!c->closing) {
		c->closing = 1;
		snprintf(c->reason, sizeof c->reason, "%s",
		    reason ? reason : "closed");
		cv_del(c->l, CV_READY, c);
		if (flush_first && !c->connecting && buf_pending(&c->out) > 0) {
			c->flush_close = 1;
			c->flush_timer = timer_add(c->l, FLUSH_CLOSE_MS,
			    flush_timeout, c);
			if (!c->want_pollout)	/* e.g. conn_sent never called */
				cv_add(c->l, CV_PENDING, c);
			conn_update_events(c);
			return;
		}
	} else if (flush_first) {
		return;	/* already closing or draining */
	}
	conn_queue_final(c);
}

/* on_close, then release everything. c must have been popped off the
 * finalize queue. */
static void
conn_finalize(struct conn *c)
{
	struct loop *l = c->l;

	if (c->ops->on_close)
		c->ops->on_close(c, c->reason);
	close(c->fd);
	pfd_del(l, c->pidx);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->sink);
	free(c);
}

static void
finalize_closed(struct loop *l)
{
	struct conn *c;

	while ((c = l->closed_head) != NULL) {
		l->closed_head = c->next_closed;
		if (l->closed_head == NULL)
			l->closed_tail = NULL;
		conn_finalize(c);
	}
}

/* Hand every complete frame in the input buffer to on_frame, until the
 * buffer holds no complete frame or c is paused or closing. */
static void
conn_dispatch_frames(struct conn *c)
{
	struct wire_header h;
	int rc;

	while (!c->closing && !c->paused && buf_pending(&c->in) > 0) {
		rc = wire_peek_header(buf_head(&c->in), buf_pending(&c->in),
		    c->max_payload, &h);
		if (rc == WIRE_FRAME_INCOMPLETE)
			break;
		if (rc != WIRE_FRAME_OK) {
			/* Answers to the frames before it still go out. */
			conn_close(c, wire_frame_strerror(rc), 1);
			break;
		}
		if (c->ops->on_frame)
			c->ops->on_frame(c, &h,
			    buf_head(&c->in) + WIRE_HEADER_SIZE);
		buf_consume(&c->in, WIRE_HEADER_SIZE + (size_t)h.length);
	}
}

/* Read what is available (within the budget), dispatching as we go. */
static void
conn_read(struct conn *c)
{
	size_t total = 0;
	ssize_t n;

	conn_dispatch_frames(c);
	while (!c->closing && !c->paused && total < READ_BUDGET) {
		n = read(c->fd, buf_reserve(&c->in, READ_CHUNK), READ_CHUNK);
		if (n > 0) {
			c->in.len += (size_t)n;
			total += (size_t)n;
			conn_dispatch_frames(c);
			if ((size_t)n < READ_CHUNK)
				break;	/* drained, most likely */
		} else if (n == 0) {
			conn_close(c, "peer closed", 0);
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else {
			conn_close(c, errno_reason(errno), 0);
		}
	}
	if (buf_pending(&c->in) == 0 && c->in.cap > KEEP_BUF_MAX)
		buf_free(&c->in);
}

/* Write pending output until EAGAIN, empty, or the fairness budget. */
static void
conn_flush(struct conn *c)
{
	size_t done = 0, want;
	ssize_t n;

	while (buf_pending(&c->out) > 0 && done < WRITE_BUDGET) {
		want = buf_pending(&c->out);
		if (want > WRITE_BUDGET - done)
			want = WRITE_BUDGET - done;
		n = write(c->fd, buf_head(&c->out), want);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			done += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			conn_close(c, n < 0 ? errno_reason(errno) :
			    "write failed", 0);
			return;
		}
	}
	if (buf_pending(&c->out) == 0) {
		c->want_pollout = 0;
		if (c->out.cap > KEEP_BUF_MAX)
			buf_free(&c->out);
		if (c->flush_close) {
			conn_queue_final(c);
			return;
		}
	} else if (c->hup) {
		/* Peer hung up and the socket takes no more: give up. */
		conn_close(c, "peer closed", 0);
		return;
	} else {
		c->want_pollout = 1;
	}
	conn_update_events(c);
}

static void
flush_pending(struct loop *l)
{
	struct connvec *v = &l->cv[CV_PENDING];
	struct conn *c;

	while (v->n > 0) {
		c = v->v[v->n - 1];
		cv_del(l, CV_PENDING, c);
		if (!c->queued && !c->connecting)
			conn_flush(c);
	}
}

/* A non-blocking connect finished: report it. */
static void
conn_finish_connect(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	c->connecting = 0;
	if (err != 0) {
		if (c->ops->on_connect)
			c->ops->on_connect(c, err);
		conn_close(c, strerror(err), 0);
		return;
	}
	conn_update_events(c);
	if (c->ops->on_connect)
		c->ops->on_connect(c, 0);
	conn_mark_output(c);	/* bytes queued while connecting */
}

static void
conn_handle(struct conn *c, short revents)
{
	if (c->queued)
		return;
	c->last_io = c->l->now;
	if (c->pidx >= c->l->nhot)
		cv_add(c->l, CV_WARM, c);
	if (c->connecting) {
		conn_finish_connect(c);
		return;
	}
	if (revents & POLLOUT)
		cv_add(c->l, CV_PENDING, c);	/* written in step 7 */
	if (!(revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)))
		return;
	if (!c->closing && !c->paused) {
		conn_read(c);
	} else if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
		/* Not reading (paused or draining) and the peer is gone: let
		 * the write discover the error, and give up on EAGAIN. */
		c->hup = 1;
		cv_add(c->l, CV_PENDING, c);
	}
}

struct conn *
loop_adopt(struct loop *l, int fd, const struct conn_ops *ops, void *ud,
	   uint32_t max_payload)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_warn("adopt fd %d: %s", fd, strerror(errno));
		return NULL;
	}
	set_nodelay(fd);
	memset(&ss, 0, sizeof ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	return conn_new(l, fd, ops, ud, max_payload, &ss, 0);
}

/*
 * Resolve host (getaddrinfo: a name lookup blocks the loop, which is fine
 * for the few outgoing connections made at startup and on reconnect) and
 * start a non-blocking connect to the first address that accepts one.
 * NULL or "" means the loopback address. Even an immediate success is
 * reported through on_connect from the loop, after POLLOUT.
 */
struct conn *
loop_connect(struct loop *l, const char *host, uint16_t port,
	     const struct conn_ops *ops, void *ud, uint32_t max_payload,
	     char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_storage ss;
	char portstr[8];
	int rc, fd = -1, e = EADDRNOTAVAIL;

	if (host != NULL && *host == '\0')
		host = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		seterr(err, errlen, "connect to %s port %u: %s",
		    host ? host : "localhost", (unsigned)port,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return NULL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof ss)
			continue;
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		set_nodelay(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS || errno == EINTR) {
			memset(&ss, 0, sizeof ss);
			memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
			break;
		}
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		seterr(err, errlen, "connect to %s port %u: %s",
		    host ? host : "localhost", (unsigned)port, strerror(e));
		return NULL;
	}
	return conn_new(l, fd, ops, ud, max_payload, &ss, 1);
}

void *
conn_data(const struct conn *c)
{
	return c->ud;
}

void
conn_set_data(struct conn *c, void *ud)
{
	c->ud = ud;
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

const char *
conn_peer(const struct conn *c)
{
	return c->peer;
}

/* Applies from the next frame header parsed. */
void
conn_set_max_payload(struct conn *c, uint32_t max_payload)
{
	c->max_payload = max_payload;
}

/* Checked on the next conn_send/conn_sent; output already queued beyond a
 * lowered cap is not cut. */
void
conn_set_output_cap(struct conn *c, size_t cap)
{
	c->out_cap = cap;
}

int
conn_send(struct conn *c, const void *p, size_t n)
{
	if (c->closing)
		return -1;
	if (n > c->out_cap || buf_pending(&c->out) > c->out_cap - n) {
		conn_close(c, CONN_OUTPUT_FULL, 0);
		return -1;
	}
	buf_append(&c->out, p, n);
	conn_mark_output(c);
	return 0;
}

/* A closing connection hands out a scratch buffer whose contents
 * conn_sent() discards, so nothing queued after conn_close() is sent. */
struct buf *
conn_outbuf(struct conn *c)
{
	if (c->closing) {
		buf_reset(&c->sink);
		return &c->sink;
	}
	return &c->out;
}

int
conn_sent(struct conn *c)
{
	if (c->closing) {
		buf_reset(&c->sink);
		return -1;
	}
	if (buf_pending(&c->out) > c->out_cap) {
		conn_close(c, CONN_OUTPUT_FULL, 0);
		return -1;
	}
	conn_mark_output(c);
	return 0;
}

size_t
conn_output_pending(const struct conn *c)
{
	return buf_pending(&c->out);
}

int
conn_is_closing(const struct conn *c)
{
	return c->closing;
}

/* Resuming with complete frames buffered queues c for dispatch in this
 * pass (or, outside one, makes the next pass skip sleeping). */
void
conn_pause_input(struct conn *c, int paused)
{
	paused = paused ? 1 : 0;
	if ((int)c->paused == paused)
		return;
	c->paused = (unsigned)paused;
	if (paused)
		cv_del(c->l, CV_READY, c);
	else if (!c->closing && buf_pending(&c->in) > 0)
		cv_add(c->l, CV_READY, c);
	conn_update_events(c);
}

static void
dispatch_ready(struct loop *l)
{
	struct connvec *v = &l->cv[CV_READY];
	struct conn *c;

	while (v->n > 0) {
		c = v->v[v->n - 1];
		cv_del(l, CV_READY, c);
		conn_dispatch_frames(c);
	}
}

/* ---- listeners -------------------------------------------------------- */

static void
listener_update_events(struct listener *ls)
{
	struct pollfd *p = &ls->l->pfd[ls->pidx];

	p->events = POLLIN;
	p->fd = (ls->closed || ls->backoff) ? -1 : ls->fd;
}

static void
listener_resume(void *ud)
{
	struct listener *ls = ud;

	ls->backoff = NULL;
	listener_update_events(ls);
}

static void
listener_accept(struct listener *ls)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct conn *c;
	int i, fd;

	for (i = 0; i < ACCEPT_BATCH && !ls->closed; i++) {
		len = sizeof ss;
		fd = accept4(ls->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept on port %u: %s; pausing "
				    "accepts for %d ms", (unsigned)ls->port,
				    strerror(errno), ACCEPT_BACKOFF_MS);
				ls->backoff = timer_add(ls->l,
				    ACCEPT_BACKOFF_MS, listener_resume, ls);
				listener_update_events(ls);
				break;
			}
			log_warn("accept on port %u: %s", (unsigned)ls->port,
			    strerror(errno));
			break;
		}
		set_nodelay(fd);
		c = conn_new(ls->l, fd, ls->ops, ls->ud, ls->max_payload,
		    &ss, 0);
		if (c->ops->on_accept)
			c->ops->on_accept(c);
	}
}

/* Bind and listen on the first address of host that works; dual: host is
 * "::" and should accept IPv4 too. Returns the fd or -1 (err filled). */
static int
listen_on(const char *host, uint16_t port, int dual, char *err,
	  size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char portstr[8];
	int rc, fd = -1, e = EADDRNOTAVAIL, one = 1, zero = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		seterr(err, errlen, "listen on %s port %u: %s", host,
		    (unsigned)port,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof one);
		if (dual && ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			    sizeof zero);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		seterr(err, errlen, "listen on %s port %u: %s", host,
		    (unsigned)port, strerror(e));
	return fd;
}

/*
 * NULL or "" listens on every address: "::" with IPV6_V6ONLY off (one
 * dual-stack socket), or 0.0.0.0 where IPv6 is unavailable. A name that
 * resolves to several addresses binds the first one that works.
 */
struct listener *
loop_listen(struct loop *l, const char *host, uint16_t port,
	    const struct conn_ops *ops, void *ud, uint32_t max_payload,
	    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct listener *ls;
	struct owner o;
	int fd;

	if (host == NULL || *host == '\0') {
		fd = listen_on("::", port, 1, err, errlen);
		if (fd < 0)
			fd = listen_on("0.0.0.0", port, 0, err, errlen);
	} else {
		fd = listen_on(host, port, 0, err, errlen);
	}
	if (fd < 0)
		return NULL;
	ls = net_xcalloc(1, sizeof *ls);
	ls->l = l;
	ls->fd = fd;
	ls->ops = ops ? ops : &no_ops;
	ls->ud = ud;
	ls->max_payload = max_payload;
	ls->port = port;
	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			ls->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			ls->port = ntohs(
			    ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	o.kind = OWN_LISTENER;
	o.u.ls = ls;
	ls->pidx = pfd_add(l, fd, POLLIN, o);
	return ls;
}

uint16_t
listener_port(const struct listener *ls)
{
	return ls->port;
}

static void
listener_free(struct listener *ls)
{
	pfd_del(ls->l, ls->pidx);
	free(ls);
}

/* Stops accepting and closes the socket now (the port is free at once);
 * the struct itself is freed at the end of the pass when called from a
 * callback. Connections already accepted are not affected. */
void
listener_close(struct listener *ls)
{
	struct loop *l;

	if (ls == NULL || ls->closed)
		return;
	l = ls->l;
	ls->closed = 1;
	timer_cancel(l, ls->backoff);
	ls->backoff = NULL;
	close(ls->fd);
	ls->fd = -1;
	listener_update_events(ls);
	if (l->in_pass) {
		ls->next_dead = l->dead_ls;
		l->dead_ls = ls;
	} else {
		listener_free(ls);
	}
}

/* ---- watches ---------------------------------------------------------- */

/* The fd stays the caller's: watch_remove and loop_free do not close it.
 * on_readable is called every pass while the fd is readable or hung up,
 * so remove the watch at EOF. */
struct watch *
loop_watch(struct loop *l, int fd, void (*on_readable)(int fd, void *ud),
	   void *ud)
{
	struct watch *w = net_xcalloc(1, sizeof *w);
	struct owner o;

	w->l = l;
	w->fd = fd;
	w->fn = on_readable;
	w->ud = ud;
	o.kind = OWN_WATCH;
	o.u.w = w;
	w->pidx = pfd_add(l, fd, POLLIN, o);
	return w;
}

void
watch_remove(struct loop *l, struct watch *w)
{
	if (w == NULL || w->removed)
		return;
	w->removed = 1;
	l->pfd[w->pidx].fd = -1;
	if (l->in_pass) {
		w->next_dead = l->dead_w;
		l->dead_w = w;
	} else {
		pfd_del(l, w->pidx);
		free(w);
	}
}

static void
reap_dead(struct loop *l)
{
	struct listener *ls;
	struct watch *w;

	while ((ls = l->dead_ls) != NULL) {
		l->dead_ls = ls->next_dead;
		listener_free(ls);
	}
	while ((w = l->dead_w) != NULL) {
		l->dead_w = w->next_dead;
		pfd_del(l, w->pidx);
		free(w);
	}
}

/* ---- signals ---------------------------------------------------------- */

static void
sig_handler(int signo)
{
	int saved = errno;
	int fd = sig_wfd;
	unsigned char b = (unsigned char)signo;

	if (fd >= 0)
		(void)!write(fd, &b, 1);
	errno = saved;
}

/* Drain the self-pipe and run the callback of each signal byte. */
static void
sig_dispatch(struct loop *l)
{
	unsigned char b[64];
	ssize_t n, i;
	int k;

	for (;;) {
		n = read(l->sigpipe[0], b, sizeof b);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			for (k = 0; k < l->nsigs; k++)
				if (l->sigs[k].signo == b[i] && l->sigs[k].fn)
					l->sigs[k].fn(b[i], l->sigs[k].ud);
	}
}

/*
 * Install the handler for signo (SA_RESTART) and route it to fn on this
 * loop's thread; calling again for the same signal replaces fn. Returns 0,
 * or -1 for a bad signal, a full table (MAX_SIGNALS) or a sigaction error.
 */
int
loop_on_signal(struct loop *l, int signo, void (*fn)(int signo, void *ud),
	       void *ud)
{
	struct sigaction sa;
	struct sigslot *s = NULL;
	int k, fresh = 0;

	if (signo <= 0 || signo > 255 || signo == SIGKILL || signo == SIGSTOP) {
		errno = EINVAL;
		return -1;
	}
	for (k = 0; k < l->nsigs; k++)
		if (l->sigs[k].signo == signo)
			s = &l->sigs[k];
	if (s == NULL) {
		if (l->nsigs == MAX_SIGNALS) {
			errno = ENOSPC;
			return -1;
		}
		s = &l->sigs[l->nsigs];
		fresh = 1;
	}
	s->fn = fn;
	s->ud = ud;
	sig_wfd = l->sigpipe[1];
	if (fresh) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = sig_handler;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		if (sigaction(signo, &sa, &s->old) < 0)
			return -1;
		s->signo = signo;
		l->nsigs++;
	}
	return 0;
}

/* ---- the loop --------------------------------------------------------- */

struct loop *
loop_new(void)
{
	struct loop *l = net_xcalloc(1, sizeof *l);
	struct sigaction sa;
	struct owner o;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	/* Past a file size limit (ulimit -f, systemd's LimitFSIZE=) a write
	 * fails with EFBIG, which the store reports as a storage failure
	 * like a full disk; SIGXFSZ would kill the process without a word. */
	sigaction(SIGXFSZ, &sa, NULL);
	if (pipe2(l->sigpipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_error("loop: pipe2: %s", strerror(errno));
		free(l);
		return NULL;
	}
	timer_heap_init(&l->timers);
	o.kind = OWN_SIGNAL;
	o.u.c = NULL;
	pfd_add(l, l->sigpipe[0], POLLIN, o);
	l->now = mono_ms();
	l->cold_after_ms = COLD_AFTER_MS;
	l->cold_poll_ms = COLD_POLL_MS;
	return l;
}

/* Must not be called from a callback. on_close runs ("shutting down") for
 * every connection still open; on_close may not keep opening new ones. */
void
loop_free(struct loop *l)
{
	size_t i;
	int k, again;

	if (l == NULL)
		return;
	l->in_pass = 1;	/* defer frees done by on_close callbacks */
	do {
		again = 0;
		for (i = 0; i < l->nfd; i++)
			if (l->own[i].kind == OWN_CONN)
				conn_close(l->own[i].u.c, "shutting down", 0);
		if (l->closed_head != NULL) {
			again = 1;
			finalize_closed(l);
		}
	} while (again);
	reap_dead(l);
	for (i = 0; i < l->nfd; i++) {
		if (l->own[i].kind == OWN_LISTENER) {
			struct listener *ls = l->own[i].u.ls;

			timer_cancel(l, ls->backoff);
			if (ls->fd >= 0)
				close(ls->fd);
			free(ls);
		} else if (l->own[i].kind == OWN_WATCH) {
			free(l->own[i].u.w);
		}
	}
	timer_heap_free(&l->timers);
	for (k = 0; k < l->nsigs; k++)
		sigaction(l->sigs[k].signo, &l->sigs[k].old, NULL);
	if (sig_wfd == l->sigpipe[1])
		sig_wfd = -1;
	close(l->sigpipe[0]);
	close(l->sigpipe[1]);
	for (k = 0; k < CV_COUNT; k++)
		free(l->cv[k].v);
	free(l->pfd);
	free(l->own);
	free(l);
}

void
loop_set_before_sleep(struct loop *l, void (*fn)(void *ud), void *ud)
{
	l->before_sleep = fn;
	l->before_sleep_ud = ud;
}

uint64_t
loop_now_ms(struct loop *l)
{
	return l->now;
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

/* poll(), retried on EINTR with what is left of the timeout. */
static int
poll_retry(struct loop *l, size_t from, size_t npoll, int timeout)
{
	uint64_t deadline = 0, now;
	int n;

	if (timeout > 0)
		deadline = mono_ms() + (uint64_t)timeout;
	for (;;) {
		n = poll(l->pfd + from, (nfds_t)npoll, timeout);
		if (n >= 0)
			return n;
		if (errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			return -1;
		}
		if (timeout > 0) {
			now = mono_ms();
			timeout = now >= deadline ? 0 : (int)(deadline - now);
		}
	}
}

static void
dispatch_fds(struct loop *l, size_t from, size_t to)
{
	size_t i;	/* entries added meanwhile have no events */
	short re;

	for (i = from; i < to; i++) {
		re = l->pfd[i].revents;
		if (re == 0)
			continue;
		l->pfd[i].revents = 0;
		switch (l->own[i].kind) {
		case OWN_SIGNAL:
			sig_dispatch(l);
			break;
		case OWN_LISTENER:
			if (!l->own[i].u.ls->closed)
				listener_accept(l->own[i].u.ls);
			break;
		case OWN_CONN:
			conn_handle(l->own[i].u.c, re);
			break;
		case OWN_WATCH:
			if (!l->own[i].u.w->removed)
				l->own[i].u.w->fn(l->own[i].u.w->fd,
				    l->own[i].u.w->ud);
			break;
		}
	}
}

/* Cold entries that had an event or want to write become hot. */
static void
warm_up(struct loop *l)
{
	struct connvec *v = &l->cv[CV_WARM];

	while (v->n > 0) {
		struct conn *c = v->v[v->n - 1];

		cv_del(l, CV_WARM, c);
		if (c->pidx >= l->nhot)
			pfd_swap(l, c->pidx, l->nhot++);
	}
}

/* Every cold_poll_ms: hot connections idle for cold_after_ms that only
 * wait for input go to the cold part. */
static void
cool_down(struct loop *l, uint64_t now)
{
	size_t i = 0;

	while (i < l->nhot) {
		const struct owner *o = &l->own[i];
		struct conn *c = o->kind == OWN_CONN ? o->u.c : NULL;

		if (c != NULL && !c->queued && !c->connecting &&
		    !(l->pfd[i].events & POLLOUT) &&
		    now - c->last_io >= l->cold_after_ms)
			pfd_swap(l, i, --l->nhot);	/* look at i again */
		else
			i++;
	}
}

void
loop_set_cold(struct loop *l, unsigned after_ms, unsigned poll_ms)
{
	l->cold_after_ms = after_ms;
	l->cold_poll_ms = poll_ms;
}

size_t
loop_hot_count(const struct loop *l)
{
	return l->nhot;
}

/* The time between two cold slices. */
static uint64_t
cold_slice_ms(const struct loop *l)
{
	return l->cold_poll_ms >= COLD_SLICES ? l->cold_poll_ms / COLD_SLICES :
	    1;
}

/* Poll the next slice of the cold part, without waiting: each pass that
 * comes cold_slice_ms() after the last takes 1/COLD_SLICES of them, so
 * every cold entry is looked at about every cold_poll_ms and no pass pays
 * for all of them at once. Sets *from, *to; returns poll()'s count (0
 * when it was not this pass's turn). */
static int
poll_cold_slice(struct loop *l, uint64_t now, size_t *from, size_t *to)
{
	size_t ncold = l->nfd - l->nhot, k;

	*from = *to = 0;
	if (ncold == 0 || now - l->last_slice < cold_slice_ms(l))
		return 0;
	l->last_slice = now;
	if (l->cold_cursor >= ncold)
		l->cold_cursor = 0;
	k = ncold / COLD_SLICES + 1;
	if (k > ncold - l->cold_cursor)
		k = ncold - l->cold_cursor;
	*from = l->nhot + l->cold_cursor;
	*to = *from + k;
	l->cold_cursor += k;
	return poll_retry(l, *from, k, 0);
}

/* See the pass order at the top of this file. */
int
loop_run_once(struct loop *l, int timeout_ms)
{
	uint64_t now = mono_ms();
	size_t from, to, nhot;
	int t, n, ncold;

	t = timer_heap_timeout(&l->timers, now);
	if (l->closed_head != NULL || l->cv[CV_PENDING].n > 0 ||
	    l->cv[CV_READY].n > 0)
		t = 0;
	if (timeout_ms >= 0 && (t < 0 || timeout_ms < t))
		t = timeout_ms;
	warm_up(l);
	if (now - l->last_cool >= l->cold_poll_ms) {
		cool_down(l, now);
		l->last_cool = now;
	}
	ncold = poll_cold_slice(l, now, &from, &to);
	if (ncold < 0)
		return -1;
	if (ncold > 0) {
		t = 0;
	} else if (l->nhot < l->nfd) {
		/* Sleep on the hot entries, not past the next cold slice. */
		uint64_t due = l->last_slice + cold_slice_ms(l);
		int left = due > now ? (int)(due - now) : 0;

		if (t < 0 || t > left)
			t = left;
	}
	nhot = l->nhot;
	n = poll_retry(l, 0, nhot, t);
	if (n < 0)
		return -1;
	l->in_pass = 1;
	l->now = mono_ms();
	if (n > 0)
		dispatch_fds(l, 0, nhot);
	if (ncold > 0)
		dispatch_fds(l, from, to);
	dispatch_ready(l);
	timer_heap_run(&l->timers, l->now);
	if (l->before_sleep)
		l->before_sleep(l->before_sleep_ud);
	do {
		flush_pending(l);
		finalize_closed(l);
		reap_dead(l);
	} while (l->cv[CV_PENDING].n > 0 || l->closed_head != NULL);
	l->in_pass = 0;
	return 0;
}

int
loop_run(struct loop *l)
{
	l->stop = 0;
	while (!l->stop)
		if (loop_run_once(l, -1) < 0)
			return -1;
	return 0;
}
