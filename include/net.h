/*
 * net.h — the single-threaded poll() loop: connections, frames, timers,
 * signals, and plain fd watches.
 *
 * One struct loop owns a pollfd array that is kept up to date incrementally
 * (an entry is added when a connection or watch is created, and removed by
 * swapping the last entry into its place when it is freed); nothing
 * rebuilds it per turn.
 *
 * Connections are non-blocking TCP sockets (or any stream fd handed to
 * loop_adopt). Each has an input buffer and a bounded output buffer. The
 * loop reads what is available, then hands every *complete* frame in the
 * input buffer to ops->on_frame, in order, and trims what it used. Framing
 * errors that make the stream unparseable (bad magic, a payload length over
 * the connection's limit, a header version outside what we speak) close the
 * connection; everything else about a frame (unknown opcode, bad fields) is
 * the upper layer's business.
 *
 * Output: conn_send() appends to the output buffer. Buffers are written
 * just before the loop sleeps (so the replies of one turn leave in one
 * write), and POLLOUT is asked for only while bytes remain. A connection
 * whose pending output would pass its cap is closed ("output buffer full"):
 * a slow reader never makes anybody else wait.
 *
 * Closing is deferred: conn_close() marks the connection; it is freed at
 * the end of the loop pass, after ops->on_close ran, so a handler may close
 * any connection (its own or another's) while iterating.
 *
 * Timers: a small binary heap ordered by deadline; the earliest deadline
 * sets poll()'s timeout. Times are CLOCK_MONOTONIC milliseconds.
 *
 * Signals: loop_on_signal() installs a handler that writes the signal
 * number into a self-pipe watched by the loop; the callback runs on the
 * loop thread. SIGPIPE is ignored by loop_new().
 */
#ifndef CHATD_NET_H
#define CHATD_NET_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "wire.h"

struct loop;
struct conn;
struct timer;
struct listener;
struct watch;

struct conn_ops {
	/* A connection was accepted on a listener (may be NULL). */
	void (*on_accept)(struct conn *c);
	/* An outgoing connection finished connecting (err 0) or failed
	 * (err = errno value); on failure on_close follows. May be NULL. */
	void (*on_connect)(struct conn *c, int err);
	/* One complete frame. payload has h->length bytes and stays valid
	 * only during the call. */
	void (*on_frame)(struct conn *c, const struct wire_header *h,
			 const uint8_t *payload);
	/* The connection is going away; reason is a short text ("peer
	 * closed", "bad magic", "output buffer full", or the text given to
	 * conn_close). Called exactly once; conn is freed after it returns. */
	void (*on_close)(struct conn *c, const char *reason);
};

struct loop *loop_new(void);
/* Connections idle for after_ms that only wait for input are polled only
 * every poll_ms (with everything else), not on every pass: a pass then
 * costs the kernel the busy connections only. Defaults 2000 and 100 ms;
 * a cold connection's next frame is seen within poll_ms. */
void   loop_set_cold(struct loop *l, unsigned after_ms, unsigned poll_ms);
/* Entries polled on every pass (listeners, the signal pipe, watches and
 * the connections that are not cold). */
size_t loop_hot_count(const struct loop *l);
void         loop_free(struct loop *l);	/* closes everything still open */
/* Run until loop_stop(); returns 0, or -1 if poll() failed for good. */
int          loop_run(struct loop *l);
/* Run one pass (poll with at most timeout_ms, dispatch, flush); for tests
 * and for clients that drive the loop themselves. Returns 0 or -1. */
int          loop_run_once(struct loop *l, int timeout_ms);
void         loop_stop(struct loop *l);
uint64_t     loop_now_ms(struct loop *l);	/* monotonic, cached per pass */
uint64_t     mono_ms(void);			/* monotonic, read now */
uint64_t     wall_ms(void);			/* CLOCK_REALTIME in ms */

/* Called once per pass after all events and timers were dispatched and
 * before output is flushed and the loop sleeps (group commit lives here). */
void loop_set_before_sleep(struct loop *l, void (*fn)(void *ud), void *ud);

/* Listen on host:port (host may be a name, IPv4 or IPv6; NULL or "" = any).
 * Accepted connections get ops, user data ud, and max_payload as their
 * frame limit. Returns NULL with a message in err. */
struct listener *loop_listen(struct loop *l, const char *host, uint16_t port,
			     const struct conn_ops *ops, void *ud,
			     uint32_t max_payload, char *err, size_t errlen);
void             listener_close(struct listener *ls);
/* The port actually bound (useful with port 0). */
uint16_t         listener_port(const struct listener *ls);

/* Start a non-blocking connect; completion is reported via on_connect.
 * Returns NULL (err filled) only if it fails at once, e.g. bad host. */
struct conn *loop_connect(struct loop *l, const char *host, uint16_t port,
			  const struct conn_ops *ops, void *ud,
			  uint32_t max_payload, char *err, size_t errlen);
/* Wrap an already-connected stream fd (made non-blocking here). */
struct conn *loop_adopt(struct loop *l, int fd, const struct conn_ops *ops,
			void *ud, uint32_t max_payload);

void   *conn_data(const struct conn *c);
void    conn_set_data(struct conn *c, void *ud);
int     conn_fd(const struct conn *c);
/* "host:port" of the peer, for logs. */
const char *conn_peer(const struct conn *c);
void    conn_set_max_payload(struct conn *c, uint32_t max_payload);
void    conn_set_output_cap(struct conn *c, size_t cap);	/* default 4 MiB */
/* The close reason of a connection whose peer read too slowly for the
 * cap (the on_close callback may compare it with strcmp). */
#define CONN_OUTPUT_FULL "output buffer full"
/* Queue bytes. Returns 0, or -1 if the cap was passed (the connection is
 * then closing and the bytes were dropped). */
int     conn_send(struct conn *c, const void *p, size_t n);
/* The output buffer itself, for encoding frames in place; call
 * conn_sent() after appending to it so the cap is checked and the bytes
 * are flushed this turn. */
struct buf *conn_outbuf(struct conn *c);
int     conn_sent(struct conn *c);
size_t  conn_output_pending(const struct conn *c);
/* Close after the output pending now has been written (or at once if
 * flush_first is 0). Idempotent. */
void    conn_close(struct conn *c, const char *reason, int flush_first);
int     conn_is_closing(const struct conn *c);
/* Stop reading from this connection (frames stay queued) or resume. */
void    conn_pause_input(struct conn *c, int paused);

/* Timers. fn runs once on the loop thread; a timer that fired or was
 * cancelled must not be used again. */
struct timer *timer_add(struct loop *l, uint64_t delay_ms,
			void (*fn)(void *ud), void *ud);
void          timer_cancel(struct loop *l, struct timer *t);

/* Watch a non-socket fd (a pipe, stdin) for readability. */
struct watch *loop_watch(struct loop *l, int fd,
			 void (*on_readable)(int fd, void *ud), void *ud);
void          watch_remove(struct loop *l, struct watch *w);

/* Run fn on the loop thread when signal signo arrives. */
int loop_on_signal(struct loop *l, int signo, void (*fn)(int signo, void *ud),
		   void *ud);

#endif
