/*
 * check_net.c — unit tests for the event loop (src/net.c, src/timer.c).
 *
 * Connections are socketpairs handed to loop_adopt (the test keeps the
 * other end and plays the peer with plain read/write) or real TCP on
 * 127.0.0.1 with port 0. Nothing sleeps to synchronize: RUN_UNTIL drives
 * the loop with loop_run_once until a condition holds and fails the test
 * when a deadline passes first. Frames are PINGs (payload: a u64 token)
 * built with wire_encode. Randomness uses a fixed-seed xorshift.
 */
#include <check.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "h_check.h"
#include "net.h"
#include "wire.h"

#define MAXP       4096u
#define MAX_FRAMES 1100
#define PING_SIZE  (WIRE_HEADER_SIZE + 8)

/* Drive the loop until cond holds; fail after ms milliseconds. */
#define RUN_UNTIL(l, cond, ms) do {					\
	uint64_t end_ = mono_ms() + (ms);				\
	while (!(cond)) {						\
		ck_assert_msg(mono_ms() < end_, "timed out: %s", #cond);\
		ck_assert_int_eq(loop_run_once((l), 50), 0);		\
	}								\
} while (0)

static uint64_t rng = 88172645463325252ull;

/* What happened on one connection. */
struct rec {
	struct conn *c;
	unsigned     nframes;
	uint64_t     tokens[MAX_FRAMES];
	uint32_t     reqids[MAX_FRAMES];
	uint16_t     last_op;
	int          closes;
	char         reason[128];
	size_t       pending_at_close;
	int          connects;
	int          connect_err;
	int          connect_after_close;
	int          accepts;
	int          pong;		/* answer PING with PONG */
	int          close_self;	/* conn_close itself on a frame */
	int          pause;		/* pause input on each frame */
	struct conn *close_other;	/* close this one on a frame */
	int          hook_seen_frame;
};

static void
rec_frame(struct conn *c, const struct wire_header *h, const uint8_t *payload)
{
	struct rec *r = conn_data(c);

	ck_assert_uint_lt(r->nframes, MAX_FRAMES);
	r->tokens[r->nframes] = h->length == 8 ? get_be64(payload) : 0;
	r->reqids[r->nframes] = h->request_id;
	r->nframes++;
	r->last_op = h->opcode;
	if (r->pong && h->opcode == WIRE_OP_PING) {
		struct wire_PONG m;

		memset(&m, 0, sizeof m);
		m.token = get_be64(payload);
		wire_encode(conn_outbuf(c), WIRE_OP_PONG, h->request_id, &m);
		ck_assert_int_eq(conn_sent(c), 0);
	}
	if (r->close_other != NULL) {
		conn_close(r->close_other, "closed by other", 0);
		r->close_other = NULL;
	}
	if (r->close_self)
		conn_close(c, "done", 0);
	if (r->pause)
		conn_pause_input(c, 1);
}

static void
rec_close(struct conn *c, const char *reason)
{
	struct rec *r = conn_data(c);

	r->closes++;
	snprintf(r->reason, sizeof r->reason, "%s", reason);
	r->pending_at_close = conn_output_pending(c);
	r->c = NULL;
}

static void
rec_connect(struct conn *c, int err)
{
	struct rec *r = conn_data(c);

	r->connects++;
	r->connect_err = err;
	if (r->closes)
		r->connect_after_close = 1;
}

/* Server side: every accepted conn shares the listener's rec. */
static void
rec_accept(struct conn *c)
{
	struct rec *r = conn_data(c);

	r->accepts++;
	r->c = c;
}

static const struct conn_ops rec_ops = {
	.on_accept = rec_accept,
	.on_connect = rec_connect,
	.on_frame = rec_frame,
	.on_close = rec_close,
};

static void
put_ping(struct buf *b, uint32_t reqid, uint64_t token)
{
	struct wire_PING m;

	memset(&m, 0, sizeof m);
	m.token = token;
	wire_encode(b, WIRE_OP_PING, reqid, &m);
}

/* A socketpair: one end adopted by the loop with rec r, the other
 * returned in *peer (blocking, for the test to play the peer). */
static struct conn *
make_pair(struct loop *l, int *peer, struct rec *r, uint32_t maxp)
{
	int sv[2];
	struct conn *c;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	c = loop_adopt(l, sv[0], &rec_ops, r, maxp);
	ck_assert_ptr_nonnull(c);
	r->c = c;
	*peer = sv[1];
	return c;
}

static void
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;
	ssize_t k;

	while (n > 0) {
		k = write(fd, q, n);
		if (k < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(k, 0);
		q += k;
		n -= (size_t)k;
	}
}

/* Append what fd has now to b (non-blocking). 1 on EOF/error, else 0. */
static int
drain_fd(int fd, struct buf *b)
{
	ssize_t n;

	for (;;) {
		n = recv(fd, buf_reserve(b, 65536), 65536, MSG_DONTWAIT);
		if (n > 0) {
			b->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : 1;
	}
}

/* Pop one complete frame off b into *h and *token; 1 if there was one. */
static int
pop_frame(struct buf *b, struct wire_header *h, uint64_t *token)
{
	if (buf_pending(b) == 0 ||
	    wire_peek_header(buf_head(b), buf_pending(b), 1u << 20, h) !=
	    WIRE_FRAME_OK)
		return 0;
	*token = h->length == 8 ? get_be64(buf_head(b) + WIRE_HEADER_SIZE) : 0;
	buf_consume(b, WIRE_HEADER_SIZE + h->length);
	return 1;
}

/* Peer side: read until a PONG with token arrives (1) or not yet (0). */
static int
peer_got_pong(int fd, struct buf *b, uint64_t token)
{
	struct wire_header h;
	uint64_t t;

	drain_fd(fd, b);
	while (pop_frame(b, &h, &t))
		if (h.opcode == WIRE_OP_PONG && t == token)
			return 1;
	return 0;
}

/* The byte at position i of the large-transfer pattern. */
static uint8_t
pattern(size_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

/* ---- framing ---------------------------------------------------------- */

START_TEST(test_byte_at_a_time)
{
	struct loop *l = loop_new();
	struct rec r;
	struct buf b;
	size_t i;
	unsigned k;
	int peer;

	memset(&r, 0, sizeof r);
	make_pair(l, &peer, &r, MAXP);
	buf_init(&b);
	for (k = 0; k < 3; k++)
		put_ping(&b, 100 + k, 0x1122334455667788ull + k);
	for (i = 0; i < b.len; i++) {
		write_all(peer, b.data + i, 1);
		ck_assert_int_eq(loop_run_once(l, 1000), 0);
		ck_assert_uint_eq(r.nframes, (i + 1) / PING_SIZE);
	}
	for (k = 0; k < 3; k++) {
		ck_assert_uint_eq(r.reqids[k], 100 + k);
		ck_assert(r.tokens[k] == 0x1122334455667788ull + k);
	}
	ck_assert_int_eq(r.last_op, WIRE_OP_PING);
	ck_assert_int_eq(r.closes, 0);
	buf_free(&b);
	close(peer);
	loop_free(l);
	ck_assert_int_eq(r.closes, 1);
	ck_assert_str_eq(r.reason, "shutting down");
}
END_TEST

START_TEST(test_many_frames_one_write)
{
	struct loop *l = loop_new();
	struct rec r;
	struct buf b;
	unsigned k;
	int peer, passes = 0;

	memset(&r, 0, sizeof r);
	make_pair(l, &peer, &r, MAXP);
	buf_init(&b);
	for (k = 0; k < 1000; k++)
		put_ping(&b, k, 1000000 + k);
	write_all(peer, b.data, b.len);
	while (r.nframes < 1000 && passes < 50) {
		ck_assert_int_eq(loop_run_once(l, 1000), 0);
		passes++;
	}
	ck_assert_uint_eq(r.nframes, 1000);
	ck_assert_int_le(passes, 2);
	for (k = 0; k < 1000; k++) {
		ck_assert_uint_eq(r.reqids[k], k);
		ck_assert(r.tokens[k] == 1000000 + k);
	}
	buf_free(&b);
	close(peer);
	loop_free(l);
}
END_TEST

START_TEST(test_bad_magic)
{
	struct loop *l = loop_new();
	struct rec r;
	struct buf b;
	int peer;

	memset(&r, 0, sizeof r);
	make_pair(l, &peer, &r, MAXP);
	buf_init(&b);
	put_ping(&b, 1, 42);
	buf_append(&b, "GET / HTTP/1.0\r\n\r\n", 18);
	write_all(peer, b.data, b.len);
	RUN_UNTIL(l, r.closes == 1, 2000);
	ck_assert_str_eq(r.reason, "bad magic");
	ck_assert_uint_eq(r.nframes, 1);	/* the good frame before it */
	buf_reset(&b);
	ck_assert_int_eq(drain_fd(peer, &b), 1);	/* we see EOF */
	buf_free(&b);
	close(peer);
	loop_free(l);
	ck_assert_int_eq(r.closes, 1);
}
END_TEST

START_TEST(test_bad_version)
{
	struct loop *l = loop_new();
	struct rec r;
	uint8_t hdr[3] = { 0x43, 0x44, 9 };
	int peer;

	memset(&r, 0, sizeof r);
	make_pair(l, &peer, &r, MAXP);
	write_all(peer, hdr, sizeof hdr);
	RUN_UNTIL(l, r.closes == 1, 2000);
	ck_assert_str_eq(r.reason, "unsupported protocol version");
	close(peer);
	loop_free(l);
}
END_TEST

START_TEST(test_frame_too_large)
{
	struct loop *l = loop_new();
	struct rec r;
	uint8_t hdr[WIRE_HEADER_SIZE];
	struct buf b;
	int peer;

	memset(&r, 0, sizeof r);
	make_pair(l, &peer, &r, 1024);
	put_be16(hdr, WIRE_MAGIC);
	hdr[2] = WIRE_VERSION_MAX;
	hdr[3] = 0;
	put_be16(hdr + 4, WIRE_OP_PING);
	put_be32(hdr + 6, 7);
	put_be32(hdr + 10, 1025);
	/* Only the header: the payload is never sent. */
	write_all(peer, hdr, sizeof hdr);
	RUN_UNTIL(l, r.closes == 1, 2000);
	ck_assert_str_eq(r.reason, "frame too large");
	ck_assert_uint_eq(r.nframes, 0);
	buf_init(&b);
	ck_assert_int_eq(drain_fd(peer, &b), 1);
	buf_free(&b);
	close(peer);
	loop_free(l);
}
END_TEST

START_TEST(test_max_payload_exact)
{
	struct loop *l = loop_new();
	struct rec r;
	struct buf b;
	uint8_t *p;
	int peer;

	memset(&r, 0, sizeof r);
	make_pair(l, &peer, &r, 100000);
	buf_init(&b);
	buf_put_u16(&b, WIRE_MAGIC);
	buf_put_u8(&b, WIRE_VERSION_MAX);
	buf_put_u8(&b, 0);
	buf_put_u16(&b, WIRE_OP_PING);
	buf_put_u32(&b, 5);
	buf_put_u32(&b, 100000);
	p = buf_reserve(&b, 100000);
	memset(p, 0xab, 100000);
	b.len += 100000;
	write_all(peer, b.data, b.len);
	RUN_UNTIL(l, r.nframes == 1, 2000);
	ck_assert_uint_eq(r.reqids[0], 5);
	ck_assert_int_eq(r.closes, 0);
	buf_free(&b);
	close(peer);
	loop_free(l);
}
END_TEST

START_TEST(test_peer_closed)
{
	struct loop *l = loop_new();
	struct rec r;
	struct buf b;
	int peer, i;

	memset(&r, 0, sizeof r);
	make_pair(l, &peer, &r, MAXP);
	buf_init(&b);
	put_ping(&b, 1, 1);
	put_ping(&b, 2, 2);
	write_all(peer, b.data, b.len);
	close(peer);
	RUN_UNTIL(l, r.closes == 1, 2000);
	ck_assert_str_eq(r.reason, "peer closed");
	ck_assert_uint_eq(r.nframes, 2);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(loop_run_once(l, 10), 0);
	ck_assert_int_eq(r.closes, 1);
	buf_free(&b);
	loop_free(l);
	ck_assert_int_eq(r.closes, 1);
}
END_TEST

/* ---- output ----------------------------------------------------------- */

START_TEST(test_output_cap)
{
	struct loop *l = loop_new();
	struct rec ra, rb;
	struct conn *a;
	struct buf b;
	uint8_t chunk[4096];
	int pa, pb, rc = 0, i;

	memset(&ra, 0, sizeof ra);
	memset(&rb, 0, sizeof rb);
	memset(chunk, 'x', sizeof chunk);
	a = make_pair(l, &pa, &ra, MAXP);
	make_pair(l, &pb, &rb, MAXP);
	rb.pong = 1;
	conn_set_output_cap(a, 64 * 1024);
	for (i = 0; i < 100000 && rc == 0; i++) {
		rc = conn_send(a, chunk, sizeof chunk);
		ck_assert_int_eq(loop_run_once(l, 0), 0);
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(ra.closes, 1);	/* finalized by that pass */
	ck_assert_str_eq(ra.reason, "output buffer full");

	/* The other connection is unaffected. */
	buf_init(&b);
	put_ping(&b, 9, 4242);
	write_all(pb, b.data, b.len);
	buf_reset(&b);
	RUN_UNTIL(l, peer_got_pong(pb, &b, 4242), 2000);
	ck_assert_int_eq(rb.closes, 0);
	buf_free(&b);
	close(pa);
	close(pb);
	loop_free(l);
}
END_TEST

START_TEST(test_output_cap_in_place)
{
	struct loop *l = loop_new();
	struct rec r;
	struct conn *c;
	struct buf *out;
	uint8_t *p;
	int peer;

	memset(&r, 0, sizeof r);
	c = make_pair(l, &peer, &r, MAXP);
	conn_set_output_cap(c, 1000);
	out = conn_outbuf(c);
	p = buf_reserve(out, 1001);
	memset(p, 0, 1001);
	out->len += 1001;
	ck_assert_int_eq(conn_sent(c), -1);
	ck_assert(conn_is_closing(c));
	ck_assert_int_eq(conn_send(c, "x", 1), -1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(r.closes, 1);
	ck_assert_str_eq(r.reason, "output buffer full");
	close(peer);
	loop_free(l);
}
END_TEST

START_TEST(test_large_write_partial)
{
	struct loop *l = loop_new();
	struct rec r;
	struct conn *c;
	const size_t total = 8u << 20;
	uint8_t *data, *rd;
	size_t got = 0, i;
	uint64_t end;
	ssize_t n;
	int peer;

	memset(&r, 0, sizeof r);
	c = make_pair(l, &peer, &r, MAXP);
	conn_set_output_cap(c, 16u << 20);
	data = malloc(total);
	rd = malloc(65536);
	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(rd);
	for (i = 0; i < total; i++)
		data[i] = pattern(i);
	ck_assert_int_eq(conn_send(c, data, total / 2), 0);
	ck_assert_int_eq(conn_send(c, data + total / 2, total / 2), 0);
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_uint_gt(conn_output_pending(c), 0);	/* a partial write */
	end = mono_ms() + 20000;
	while (got < total) {
		ck_assert_msg(mono_ms() < end, "transfer stalled at %zu", got);
		n = recv(peer, rd, 1 + h_xorshift64(&rng) % 65536,
		    MSG_DONTWAIT);
		if (n > 0) {
			for (i = 0; i < (size_t)n; i++)
				if (rd[i] != pattern(got + i))
					ck_abort_msg("byte %zu differs", got + i);
			got += (size_t)n;
		} else {
			ck_assert(n < 0 && errno == EAGAIN);
		}
		ck_assert_int_eq(loop_run_once(l, n > 0 ? 0 : 10), 0);
	}
	ck_assert_uint_eq(got, total);
	ck_assert_uint_eq(conn_output_pending(c), 0);
	ck_assert_int_eq(r.closes, 0);
	free(data);
	free(rd);
	close(peer);
	loop_free(l);
}
END_TEST

START_TEST(test_close_flush)
{
	struct loop *l = loop_new();
	struct rec r;
	struct conn *c;
	const size_t total = 600u * 1024u;
	uint8_t *data;
	struct buf b;
	size_t i;
	int peer, eof = 0;

	memset(&r, 0, sizeof r);
	c = make_pair(l, &peer, &r, MAXP);
	data = malloc(total);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < total; i++)
		data[i] = pattern(i);
	ck_assert_int_eq(conn_send(c, data, total), 0);
	conn_close(c, "bye", 1);
	conn_close(c, "second call ignored", 1);
	ck_assert(conn_is_closing(c));
	ck_assert_int_eq(conn_send(c, "late", 4), -1);
	/* In-place output after close is dropped, not sent. */
	buf_append(conn_outbuf(c), "late", 4);
	ck_assert_int_eq(conn_sent(c), -1);
	buf_init(&b);
	RUN_UNTIL(l, eof || (eof = drain_fd(peer, &b)) != 0, 5000);
	ck_assert_int_eq(r.closes, 1);
	ck_assert_str_eq(r.reason, "bye");
	ck_assert_uint_eq(r.pending_at_close, 0);
	ck_assert_uint_eq(buf_pending(&b), total);
	ck_assert_mem_eq(buf_head(&b), data, total);
	buf_free(&b);
	free(data);
	close(peer);
	loop_free(l);
	ck_assert_int_eq(r.closes, 1);
}
END_TEST

START_TEST(test_close_other_in_on_frame)
{
	struct loop *l = loop_new();
	struct rec ra, rb, rc;
	struct conn *a, *b;
	struct buf f;
	int pa, pb, pc;

	memset(&ra, 0, sizeof ra);
	memset(&rb, 0, sizeof rb);
	memset(&rc, 0, sizeof rc);
	a = make_pair(l, &pa, &ra, MAXP);
	b = make_pair(l, &pb, &rb, MAXP);
	make_pair(l, &pc, &rc, MAXP);
	ra.close_other = b;
	rb.close_other = a;
	rc.close_self = 1;
	buf_init(&f);
	put_ping(&f, 1, 1);
	put_ping(&f, 2, 2);
	put_ping(&f, 3, 3);
	write_all(pa, f.data, f.len);
	write_all(pb, f.data, f.len);
	write_all(pc, f.data, f.len);
	RUN_UNTIL(l, ra.closes + rb.closes == 1 && rc.closes == 1, 2000);
	/* Whichever ran first closed the other before its frames ran. */
	if (ra.closes) {
		ck_assert_str_eq(ra.reason, "closed by other");
		ck_assert_uint_eq(ra.nframes, 0);
		ck_assert_uint_eq(rb.nframes, 3);
	} else {
		ck_assert_str_eq(rb.reason, "closed by other");
		ck_assert_uint_eq(rb.nframes, 0);
		ck_assert_uint_eq(ra.nframes, 3);
	}
	/* A conn that closed itself saw no frame after that. */
	ck_assert_uint_eq(rc.nframes, 1);
	ck_assert_str_eq(rc.reason, "done");
	buf_free(&f);
	close(pa);
	close(pb);
	close(pc);
	loop_free(l);
	ck_assert_int_eq(ra.closes + rb.closes, 2);
}
END_TEST

START_TEST(test_pause_resume)
{
	struct loop *l = loop_new();
	struct rec r;
	struct conn *c;
	struct buf b;
	uint64_t t0;
	int peer, i;

	memset(&r, 0, sizeof r);
	c = make_pair(l, &peer, &r, MAXP);
	r.pause = 1;
	buf_init(&b);
	for (i = 0; i < 3; i++)
		put_ping(&b, (uint32_t)i, (uint64_t)i);
	write_all(peer, b.data, b.len);
	RUN_UNTIL(l, r.nframes == 1, 2000);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(loop_run_once(l, 10), 0);
	ck_assert_uint_eq(r.nframes, 1);

	/* Buffered frames run on the next pass with no new bytes, and that
	 * pass does not wait. */
	conn_pause_input(c, 0);
	t0 = mono_ms();
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_uint_lt(mono_ms() - t0, 500);
	ck_assert_uint_eq(r.nframes, 2);
	conn_pause_input(c, 0);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_uint_eq(r.nframes, 3);
	ck_assert_uint_eq(r.tokens[2], 2);

	/* Paused with the peer gone: the loop sleeps instead of spinning. */
	close(peer);
	t0 = mono_ms();
	ck_assert_int_eq(loop_run_once(l, 50), 0);
	ck_assert_uint_ge(mono_ms() - t0, 40);
	ck_assert_int_eq(r.closes, 0);
	r.pause = 0;
	conn_pause_input(c, 0);
	RUN_UNTIL(l, r.closes == 1, 2000);
	ck_assert_str_eq(r.reason, "peer closed");
	buf_free(&b);
	loop_free(l);
}
END_TEST

/* ---- hooks and lifecycle ---------------------------------------------- */

struct hookctx {
	int          calls;
	struct rec  *r;
	struct conn *c;
	int          sent;
};

static void
hook(void *ud)
{
	struct hookctx *h = ud;

	h->calls++;
	if (h->r && h->r->nframes > 0 && !h->sent) {
		/* Group commit: reply to the frames of this pass. */
		struct wire_PONG m;

		memset(&m, 0, sizeof m);
		m.token = h->r->tokens[0];
		wire_encode(conn_outbuf(h->c), WIRE_OP_PONG, 1, &m);
		ck_assert_int_eq(conn_sent(h->c), 0);
		h->sent = 1;
	}
}

START_TEST(test_before_sleep)
{
	struct loop *l = loop_new();
	struct hookctx h;
	struct rec r;
	struct buf b;
	int peer, i;

	memset(&h, 0, sizeof h);
	memset(&r, 0, sizeof r);
	h.c = make_pair(l, &peer, &r, MAXP);
	h.r = &r;
	loop_set_before_sleep(l, hook, &h);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(h.calls, 3);
	buf_init(&b);
	put_ping(&b, 1, 777);
	write_all(peer, b.data, b.len);
	buf_reset(&b);
	/* One pass: frame dispatched, hook replies, reply flushed. */
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(h.calls, 4);
	ck_assert(h.sent);
	ck_assert(peer_got_pong(peer, &b, 777));
	buf_free(&b);
	close(peer);
	loop_free(l);
}
END_TEST

START_TEST(test_conn_accessors)
{
	struct loop *l = loop_new();
	struct rec r, other;
	struct conn *c;
	char want[32];
	int peer;

	memset(&r, 0, sizeof r);
	memset(&other, 0, sizeof other);
	c = make_pair(l, &peer, &r, MAXP);
	snprintf(want, sizeof want, "fd %d", conn_fd(c));
	ck_assert_str_eq(conn_peer(c), want);
	ck_assert_ptr_eq(conn_data(c), &r);
	conn_set_data(c, &other);
	ck_assert_ptr_eq(conn_data(c), &other);
	conn_set_data(c, &r);
	ck_assert_int_eq(fcntl(conn_fd(c), F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	ck_assert(!conn_is_closing(c));
	ck_assert_uint_eq(conn_output_pending(c), 0);
	ck_assert_int_eq(conn_send(c, "abc", 3), 0);
	ck_assert_uint_eq(conn_output_pending(c), 3);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_uint_eq(conn_output_pending(c), 0);
	ck_assert_uint_ge(loop_now_ms(l), 1);
	ck_assert_uint_gt(wall_ms(), 1500000000000ull);
	close(peer);
	loop_free(l);
	ck_assert_int_eq(r.closes, 1);
}
END_TEST

/* ---- timers ----------------------------------------------------------- */

struct tctx {
	struct loop  *l;
	int           order[1024];
	int           n;
	uint64_t      fired_at;
	struct timer *cancel_me;
	int           add_more;
};

struct tk {
	struct tctx *ctx;
	int          id;
	uint64_t     key;	/* expected deadline (add time + delay) */
};

static struct tk tks[1024];

static void
tfire(void *ud)
{
	struct tk *t = ud;
	struct tctx *x = t->ctx;

	ck_assert_int_lt(x->n, 1024);
	x->order[x->n++] = t->id;
	x->fired_at = mono_ms();
	if (x->cancel_me != NULL) {
		timer_cancel(x->l, x->cancel_me);
		x->cancel_me = NULL;
	}
	if (x->add_more) {
		x->add_more = 0;
		tks[99].ctx = x;
		tks[99].id = 99;
		timer_add(x->l, 0, tfire, &tks[99]);
	}
}

static struct timer *
tadd(struct tctx *x, int id, uint64_t delay)
{
	tks[id].ctx = x;
	tks[id].id = id;
	tks[id].key = mono_ms() + delay;
	return timer_add(x->l, delay, tfire, &tks[id]);
}

START_TEST(test_timer_order)
{
	static const int delays[] = { 30, 10, 20, 10, 0 };
	static const int want[] = { 4, 1, 3, 2, 0 };
	struct tctx x;
	int i;

	memset(&x, 0, sizeof x);
	x.l = loop_new();
	for (i = 0; i < 5; i++)
		tadd(&x, i, (uint64_t)delays[i]);
	RUN_UNTIL(x.l, x.n == 5, 2000);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(x.order[i], want[i]);
	loop_free(x.l);
}
END_TEST

START_TEST(test_timer_equal_deadlines)
{
	struct tctx x;
	int i, k = 0;

	memset(&x, 0, sizeof x);
	x.l = loop_new();
	/* ids 0..149: delay 15, 5, 10, 15, 5, 10, ... */
	for (i = 0; i < 150; i++)
		tadd(&x, i, (uint64_t)(i % 3 == 0 ? 15 : i % 3 == 1 ? 5 : 10));
	RUN_UNTIL(x.l, x.n == 150, 2000);
	/* Expected: all delay-5 ids in insertion order, then 10s, then 15s. */
	for (i = 1; i < 150; i += 3)
		ck_assert_int_eq(x.order[k++], i);
	for (i = 2; i < 150; i += 3)
		ck_assert_int_eq(x.order[k++], i);
	for (i = 0; i < 150; i += 3)
		ck_assert_int_eq(x.order[k++], i);
	loop_free(x.l);
}
END_TEST

START_TEST(test_timer_cancel)
{
	struct tctx x;
	struct timer *c;

	memset(&x, 0, sizeof x);
	x.l = loop_new();
	tadd(&x, 0, 10);		/* A: cancels B, adds D */
	x.cancel_me = tadd(&x, 1, 10);	/* B: due in the same pass */
	c = tadd(&x, 2, 20);		/* C: cancelled before running */
	tadd(&x, 3, 10);		/* E */
	x.add_more = 1;
	timer_cancel(x.l, c);
	timer_cancel(x.l, NULL);
	RUN_UNTIL(x.l, x.n == 3, 2000);
	ck_assert_int_eq(x.order[0], 0);
	ck_assert_int_eq(x.order[1], 3);
	ck_assert_int_eq(x.order[2], 99);
	/* Nothing else fires. */
	ck_assert_int_eq(loop_run_once(x.l, 40), 0);
	ck_assert_int_eq(x.n, 3);
	loop_free(x.l);
}
END_TEST

START_TEST(test_timer_random_cancel)
{
	static struct timer *t[600];
	static int cancelled[600];
	struct tctx x;
	int i, live = 0, seen[600];

	memset(&x, 0, sizeof x);
	memset(seen, 0, sizeof seen);
	memset(cancelled, 0, sizeof cancelled);
	x.l = loop_new();
	for (i = 0; i < 600; i++)
		t[i] = tadd(&x, i, h_xorshift64(&rng) % 25);
	for (i = 0; i < 600; i++) {
		if (h_xorshift64(&rng) % 2) {
			timer_cancel(x.l, t[i]);
			cancelled[i] = 1;
		} else {
			live++;
		}
	}
	RUN_UNTIL(x.l, x.n == live, 2000);
	ck_assert_int_eq(loop_run_once(x.l, 30), 0);
	ck_assert_int_eq(x.n, live);
	for (i = 0; i < x.n; i++) {
		int id = x.order[i];

		ck_assert(!cancelled[id]);
		ck_assert(!seen[id]);
		seen[id] = 1;
		/* Deadline order (1 ms slack: the test reads the clock
		 * separately from timer_add). */
		if (i > 0)
			ck_assert_uint_le(tks[x.order[i - 1]].key,
			    tks[id].key + 1);
	}
	loop_free(x.l);
}
END_TEST

START_TEST(test_timer_poll_timeout)
{
	struct tctx x;
	uint64_t start;
	int passes = 0;

	memset(&x, 0, sizeof x);
	x.l = loop_new();
	start = mono_ms();
	tadd(&x, 0, 50);
	while (x.n == 0) {
		ck_assert_int_eq(loop_run_once(x.l, 1000), 0);
		passes++;
		ck_assert_int_lt(passes, 20);
	}
	ck_assert_uint_ge(x.fired_at - start, 50);
	ck_assert_uint_lt(x.fired_at - start, 1000);
	ck_assert_int_le(passes, 3);

	/* The caller's shorter limit wins. */
	tadd(&x, 1, 200);
	start = mono_ms();
	ck_assert_int_eq(loop_run_once(x.l, 20), 0);
	ck_assert_int_eq(x.n, 1);
	ck_assert_uint_ge(mono_ms() - start, 20);
	ck_assert_uint_lt(mono_ms() - start, 150);
	loop_free(x.l);	/* frees the pending timer */
}
END_TEST

static void
stop_cb(void *ud)
{
	loop_stop(ud);
}

START_TEST(test_loop_run_stop)
{
	struct loop *l = loop_new();

	timer_add(l, 5, stop_cb, l);
	ck_assert_int_eq(loop_run(l), 0);
	loop_free(l);
}
END_TEST

/* ---- TCP -------------------------------------------------------------- */

START_TEST(test_tcp_ping_pong)
{
	struct loop *l = loop_new();
	struct rec srv, cli;
	struct listener *ls;
	struct conn *c;
	struct buf b;
	char err[256] = "", want[64];
	uint16_t port;

	memset(&srv, 0, sizeof srv);
	memset(&cli, 0, sizeof cli);
	srv.pong = 1;
	ls = loop_listen(l, "127.0.0.1", 0, &rec_ops, &srv, MAXP, err,
	    sizeof err);
	ck_assert_msg(ls != NULL, "%s", err);
	port = listener_port(ls);
	ck_assert_uint_ne(port, 0);
	c = loop_connect(l, "127.0.0.1", port, &rec_ops, &cli, MAXP, err,
	    sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	cli.c = c;
	snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)port);
	ck_assert_str_eq(conn_peer(c), want);
	ck_assert_int_eq(cli.connects, 0);	/* reported from the loop */
	/* Queued before the connect completes. */
	buf_init(&b);
	put_ping(&b, 77, 0xfeedfacecafebeefull);
	ck_assert_int_eq(conn_send(c, b.data, b.len), 0);
	RUN_UNTIL(l, cli.nframes == 1, 2000);
	ck_assert_int_eq(cli.connects, 1);
	ck_assert_int_eq(cli.connect_err, 0);
	ck_assert_int_eq(srv.accepts, 1);
	ck_assert_int_eq(cli.last_op, WIRE_OP_PONG);
	ck_assert_uint_eq(cli.reqids[0], 77);
	ck_assert(cli.tokens[0] == 0xfeedfacecafebeefull);
	ck_assert_int_eq(strncmp(conn_peer(srv.c), "127.0.0.1:", 10), 0);

	conn_close(c, "client done", 1);
	RUN_UNTIL(l, srv.closes == 1 && cli.closes == 1, 2000);
	ck_assert_str_eq(cli.reason, "client done");
	ck_assert_str_eq(srv.reason, "peer closed");
	listener_close(ls);
	buf_free(&b);
	loop_free(l);
}
END_TEST

START_TEST(test_tcp_any_and_ipv6)
{
	struct loop *l = loop_new();
	struct rec srv, cli;
	struct listener *ls;
	struct conn *c;
	char err[256] = "", want[64];
	uint16_t port;

	memset(&srv, 0, sizeof srv);
	memset(&cli, 0, sizeof cli);
	/* Any address: reachable over IPv4 loopback. */
	ls = loop_listen(l, NULL, 0, &rec_ops, &srv, MAXP, err, sizeof err);
	ck_assert_msg(ls != NULL, "%s", err);
	c = loop_connect(l, "127.0.0.1", listener_port(ls), &rec_ops, &cli,
	    MAXP, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	RUN_UNTIL(l, cli.connects == 1 && srv.accepts == 1, 2000);
	ck_assert_int_eq(cli.connect_err, 0);
	listener_close(ls);

	/* IPv6 loopback, where the host has it. */
	ls = loop_listen(l, "::1", 0, &rec_ops, &srv, MAXP, err, sizeof err);
	if (ls != NULL) {
		port = listener_port(ls);
		memset(&cli, 0, sizeof cli);
		c = loop_connect(l, "::1", port, &rec_ops, &cli, MAXP, err,
		    sizeof err);
		ck_assert_msg(c != NULL, "%s", err);
		snprintf(want, sizeof want, "[::1]:%u", (unsigned)port);
		ck_assert_str_eq(conn_peer(c), want);
		RUN_UNTIL(l, cli.connects == 1 && srv.accepts == 2, 2000);
		ck_assert_int_eq(cli.connect_err, 0);
		ck_assert_int_eq(strncmp(conn_peer(srv.c), "[::1]:", 6), 0);
		listener_close(ls);
	}

	/* An address we do not have. */
	ck_assert_ptr_null(loop_listen(l, "192.0.2.1", 0, &rec_ops, &srv,
	    MAXP, err, sizeof err));
	ck_assert_uint_gt(strlen(err), 0);
	loop_free(l);
}
END_TEST

START_TEST(test_tcp_refused)
{
	struct loop *l = loop_new();
	struct rec r, srv;
	struct listener *ls;
	struct conn *c;
	char err[256] = "";
	uint16_t port;

	memset(&r, 0, sizeof r);
	memset(&srv, 0, sizeof srv);
	/* A port that was free a moment ago. */
	ls = loop_listen(l, "127.0.0.1", 0, &rec_ops, &srv, MAXP, err,
	    sizeof err);
	ck_assert_msg(ls != NULL, "%s", err);
	port = listener_port(ls);
	listener_close(ls);
	c = loop_connect(l, "127.0.0.1", port, &rec_ops, &r, MAXP, err,
	    sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	RUN_UNTIL(l, r.closes == 1, 2000);
	ck_assert_int_eq(r.connects, 1);
	ck_assert_int_eq(r.connect_err, ECONNREFUSED);
	ck_assert_int_eq(r.connect_after_close, 0);
	ck_assert_str_eq(r.reason, strerror(ECONNREFUSED));
	loop_free(l);
	ck_assert_int_eq(r.closes, 1);
}
END_TEST

START_TEST(test_accept_emfile_backoff)
{
	struct loop *l = loop_new();
	struct rec srv;
	struct listener *ls;
	struct sockaddr_in sin;
	struct rlimit old, low;
	char err[256] = "";
	uint64_t t0;
	int cfd, probe, passes = 0;

	memset(&srv, 0, sizeof srv);
	ls = loop_listen(l, "127.0.0.1", 0, &rec_ops, &srv, MAXP, err,
	    sizeof err);
	ck_assert_msg(ls != NULL, "%s", err);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(cfd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(listener_port(ls));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sin, sizeof sin), 0);

	/* No descriptor left for accept(). */
	probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(probe, 0);
	close(probe);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)probe;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(srv.accepts, 0);
	/* Backing off: passes end on their timeout, not at once. */
	t0 = mono_ms();
	while (mono_ms() - t0 < 50) {
		ck_assert_int_eq(loop_run_once(l, 10), 0);
		passes++;
	}
	ck_assert_int_le(passes, 10);
	ck_assert_int_eq(srv.accepts, 0);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	RUN_UNTIL(l, srv.accepts == 1, 2000);
	close(cfd);
	listener_close(ls);
	loop_free(l);
}
END_TEST

/* ---- signals and watches ---------------------------------------------- */

static int sig_seen[65];

static void
sig_cb(int signo, void *ud)
{
	ck_assert_int_lt(signo, 65);
	sig_seen[signo]++;
	if (ud != NULL)
		loop_stop(ud);
}

static void
raise_usr2(void *ud)
{
	(void)ud;
	raise(SIGUSR2);
}

START_TEST(test_signals)
{
	struct loop *l = loop_new();

	memset(sig_seen, 0, sizeof sig_seen);
	ck_assert_int_eq(loop_on_signal(l, SIGUSR1, sig_cb, NULL), 0);
	ck_assert_int_eq(loop_on_signal(l, SIGUSR2, sig_cb, NULL), 0);
	ck_assert_int_eq(raise(SIGUSR1), 0);
	ck_assert_int_eq(sig_seen[SIGUSR1], 0);	/* not in the handler */
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(sig_seen[SIGUSR1], 1);
	ck_assert_int_eq(raise(SIGUSR1), 0);
	ck_assert_int_eq(raise(SIGUSR2), 0);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(sig_seen[SIGUSR1], 2);
	ck_assert_int_eq(sig_seen[SIGUSR2], 1);

	/* loop_stop from a signal callback ends loop_run. */
	ck_assert_int_eq(loop_on_signal(l, SIGUSR2, sig_cb, l), 0);
	timer_add(l, 5, raise_usr2, NULL);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_int_eq(sig_seen[SIGUSR2], 2);
	ck_assert_int_eq(loop_on_signal(l, SIGKILL, sig_cb, NULL), -1);
	loop_free(l);
}
END_TEST

struct wctx {
	struct loop  *l;
	struct watch *self, *other;
	int           calls;
	int           remove_self;
};

static void
wcb(int fd, void *ud)
{
	struct wctx *w = ud;
	char ch;

	w->calls++;
	ck_assert_int_eq(read(fd, &ch, 1), 1);
	if (w->other != NULL) {
		watch_remove(w->l, w->other);
		w->other = NULL;
	}
	if (w->remove_self)
		watch_remove(w->l, w->self);
}

START_TEST(test_watch)
{
	struct loop *l = loop_new();
	struct wctx a, b;
	int pa[2], pb[2], i;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	ck_assert_int_eq(pipe(pa), 0);
	ck_assert_int_eq(pipe(pb), 0);
	a.l = b.l = l;
	a.self = loop_watch(l, pa[0], wcb, &a);
	ck_assert_int_eq(write(pa[1], "x", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(a.calls, 1);
	/* Removing itself from inside the callback. */
	a.remove_self = 1;
	ck_assert_int_eq(write(pa[1], "y", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(a.calls, 2);
	ck_assert_int_eq(write(pa[1], "z", 1), 1);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(loop_run_once(l, 10), 0);
	ck_assert_int_eq(a.calls, 2);

	/* Two ready watches removing each other: only the first runs. */
	memset(&a, 0, sizeof a);
	a.l = l;
	a.self = loop_watch(l, pa[0], wcb, &a);
	b.self = loop_watch(l, pb[0], wcb, &b);
	a.other = b.self;
	b.other = a.self;
	ck_assert_int_eq(write(pb[1], "b", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);	/* a has "z" */
	ck_assert_int_eq(a.calls + b.calls, 1);
	watch_remove(l, a.calls ? a.self : b.self);	/* outside a pass */
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
	loop_free(l);
}
END_TEST

/* ---- many connections ------------------------------------------------- */

#define NPAIRS 200

static int
count_closes(const struct rec *r, int n)
{
	int i, sum = 0;

	for (i = 0; i < n; i++)
		sum += r[i].closes;
	return sum;
}

START_TEST(test_many_conns)
{
	struct loop *l = loop_new();
	struct rec *r = calloc(NPAIRS + 50, sizeof *r);
	int peer[NPAIRS + 50], order[NPAIRS], n = NPAIRS, i, j, tmp;
	int expect_closes = 0;
	struct buf f, in;

	ck_assert_ptr_nonnull(r);
	for (i = 0; i < NPAIRS; i++) {
		make_pair(l, &peer[i], &r[i], MAXP);
		r[i].pong = 1;
		order[i] = i;
	}
	for (i = NPAIRS - 1; i > 0; i--) {
		j = (int)(h_xorshift64(&rng) % (uint64_t)(i + 1));
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	/* Close 120 in random order, in batches, by either side; open 50
	 * more halfway. */
	for (i = 0; i < 120; i++) {
		int k = order[i];

		if (i % 2)
			conn_close(r[k].c, "test close", 0);
		else
			close(peer[k]);
		expect_closes++;
		if (i % 10 == 9) {
			RUN_UNTIL(l, count_closes(r, n) == expect_closes,
			    2000);
		}
		if (i == 60) {
			for (j = NPAIRS; j < NPAIRS + 50; j++) {
				make_pair(l, &peer[j], &r[j], MAXP);
				r[j].pong = 1;
			}
			n = NPAIRS + 50;
		}
	}
	for (i = 0; i < 120; i++) {
		int k = order[i];

		ck_assert_int_eq(r[k].closes, 1);
		ck_assert_str_eq(r[k].reason,
		    i % 2 ? "test close" : "peer closed");
		if (i % 2)
			close(peer[k]);
		peer[k] = -1;
	}
	/* Every survivor still answers, on its own fd. */
	buf_init(&f);
	buf_init(&in);
	for (i = 0; i < n; i++) {
		if (peer[i] < 0)
			continue;
		buf_reset(&f);
		put_ping(&f, (uint32_t)i, 5000u + (uint64_t)i);
		write_all(peer[i], f.data, f.len);
	}
	for (i = 0; i < n; i++) {
		if (peer[i] < 0)
			continue;
		buf_reset(&in);
		RUN_UNTIL(l, peer_got_pong(peer[i], &in, 5000u + (uint64_t)i),
		    2000);
		ck_assert_uint_eq(r[i].nframes, 1);
		ck_assert_int_eq(r[i].closes, 0);
	}
	buf_free(&f);
	buf_free(&in);
	loop_free(l);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(r[i].closes, 1);
		if (peer[i] >= 0)
			close(peer[i]);
	}
	free(r);
}
END_TEST

/* Idle connections go cold (polled only every few passes), and a cold one
 * that speaks, hangs up or is written to still gets served. */
START_TEST(test_cold_conns)
{
	struct loop *l = loop_new();
	struct rec r[40];
	int peer[40], i;
	size_t base;
	uint64_t t0;
	struct buf f, in;

	memset(r, 0, sizeof r);
	buf_init(&f);
	buf_init(&in);
	base = loop_hot_count(l);	/* the signal pipe */
	loop_set_cold(l, 200, 20);
	for (i = 0; i < 40; i++) {
		make_pair(l, &peer[i], &r[i], MAXP);
		r[i].pong = 1;
	}
	ck_assert_uint_eq(loop_hot_count(l), base + 40);
	RUN_UNTIL(l, loop_hot_count(l) == base, 2000);

	/* A cold one speaks: answered, within a few cold polls. */
	t0 = mono_ms();
	put_ping(&f, 7, 4242);
	write_all(peer[7], f.data, f.len);
	RUN_UNTIL(l, peer_got_pong(peer[7], &in, 4242), 2000);
	ck_assert_uint_lt(mono_ms() - t0, 1000);
	ck_assert_uint_eq(r[7].nframes, 1);
	ck_assert_int_eq(loop_run_once(l, 0), 0);	/* warmed up before it */
	ck_assert_uint_ge(loop_hot_count(l), base + 1);

	/* Written to while cold: the bytes arrive. */
	RUN_UNTIL(l, loop_hot_count(l) == base, 2000);
	wire_encode(conn_outbuf(r[9].c), WIRE_OP_PONG, 0,
	    &(struct wire_PONG){ .token = 99 });
	ck_assert_int_eq(conn_sent(r[9].c), 0);
	buf_reset(&in);
	RUN_UNTIL(l, peer_got_pong(peer[9], &in, 99), 2000);

	/* Hung up while cold: noticed and closed. */
	close(peer[20]);
	RUN_UNTIL(l, r[20].closes == 1, 2000);
	ck_assert_str_eq(r[20].reason, "peer closed");

	/* The others are untouched and still answer. */
	for (i = 0; i < 40; i++) {
		if (i == 20)
			continue;
		buf_reset(&f);
		put_ping(&f, (uint32_t)i, 100u + (uint64_t)i);
		write_all(peer[i], f.data, f.len);
	}
	for (i = 0; i < 40; i++) {
		if (i == 20)
			continue;
		buf_reset(&in);
		RUN_UNTIL(l, peer_got_pong(peer[i], &in, 100u + (uint64_t)i),
		    2000);
		ck_assert_int_eq(r[i].closes, 0);
	}
	buf_free(&f);
	buf_free(&in);
	loop_free(l);
	for (i = 0; i < 40; i++)
		if (i != 20)
			close(peer[i]);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_byte_at_a_time,
		test_many_frames_one_write,
		test_bad_magic,
		test_bad_version,
		test_frame_too_large,
		test_max_payload_exact,
		test_peer_closed,
		test_output_cap,
		test_output_cap_in_place,
		test_large_write_partial,
		test_close_flush,
		test_close_other_in_on_frame,
		test_pause_resume,
		test_before_sleep,
		test_conn_accessors,
		test_timer_order,
		test_timer_equal_deadlines,
		test_timer_cancel,
		test_timer_random_cancel,
		test_timer_poll_timeout,
		test_loop_run_stop,
		test_tcp_ping_pong,
		test_tcp_any_and_ipv6,
		test_tcp_refused,
		test_accept_emfile_backoff,
		test_signals,
		test_watch,
		test_many_conns,
		test_cold_conns,
		NULL
	};

	return h_run_tests("net", "core", 30, tests);
}
