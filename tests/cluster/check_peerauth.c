/*
 * check_peerauth.c — the internal port lets in only holders of the
 * cluster key, and after the handshake accepts only frames sealed for
 * that connection, in order (PROTOCOL.md §8.1).
 *
 * A fake replica talks to replica 3 of a real 3-replica cluster, claiming
 * to be replica 1 (whom replica 3 accepts connections from). Without the
 * key (or with a wrong one) it gets nowhere, and nothing it sends is
 * applied or disturbs the cluster. With the real key (the test reads the
 * cluster's key file) it authenticates, and then a replayed or a spliced
 * frame is refused.
 */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "buf.h"
#include "h_check.h"
#include "harness.h"
#include "wire.h"

#define T_MS 10000

static struct h_cluster cl;
static uint8_t key[AUTH_KEY_BYTES];

/* Start three replicas and wait for a primary with all in its ISR. */
static void
start(void)
{
	int i, p;

	ck_assert_int_eq(h_cluster_create(&cl, 3, NULL), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(h_replica_start(&cl, i), 0);
	p = h_wait_primary(&cl, T_MS);
	ck_assert_int_ge(p, 0);
	ck_assert_int_eq(h_wait_isr(&cl, p, 3, T_MS), 0);
	ck_assert_int_eq(h_cluster_key(&cl, key), 0);
}

/* Everybody's epoch and log end, to show nothing changed. */
static void
snapshot_state(uint64_t epochs[3], uint64_t lsns[3])
{
	struct h_status st;
	int i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(h_status(&cl, i, &st, T_MS), 0);
		epochs[i] = st.epoch;
		lsns[i] = st.last_lsn;
	}
}

/* A connection to replica 3's internal port. */
struct fake {
	int      fd;
	uint8_t  my_nonce[32], their_nonce[32];
	uint8_t  session[32];
	uint64_t send_seq, recv_seq;
	struct buf in;
};

static void
fake_open(struct fake *f)
{
	memset(f, 0, sizeof *f);
	buf_init(&f->in);
	f->fd = h_raw_connect(cl.r[2].internal_port, 0);
	ck_assert_int_ge(f->fd, 0);
}

static void
fake_close(struct fake *f)
{
	close(f->fd);
	buf_free(&f->in);
}

/* HELLO as replica 1; returns 0 when replica 3 answered with its own. */
static int
fake_hello(struct fake *f)
{
	struct wire_HELLO h, back;
	struct wire_header hdr;

	memset(&h, 0, sizeof h);
	h.version_min = h.version_max = WIRE_VERSION_MAX;
	h.kind = 2;
	h.replica_id = 1;
	auth_random(f->my_nonce, sizeof f->my_nonce);
	h.nonce.ptr = f->my_nonce;
	h.nonce.len = 32;
	ck_assert_int_eq(h_raw_send(f->fd, WIRE_OP_HELLO, 0, &h), 0);
	if (h_raw_recv(f->fd, &hdr, &f->in, T_MS) < 0 ||
	    hdr.opcode != WIRE_OP_HELLO ||
	    wire_decode(wire_op(WIRE_OP_HELLO), buf_head(&f->in),
	    buf_pending(&f->in), &back, NULL) < 0 || back.nonce.len != 32)
		return -1;
	memcpy(f->their_nonce, back.nonce.ptr, 32);
	return 0;
}

/* AUTH with a proof made from k; 0 if replica 3 proved itself back. */
static int
fake_auth(struct fake *f, const uint8_t k[AUTH_KEY_BYTES])
{
	struct wire_AUTH a;
	struct wire_header hdr;
	uint8_t proof[32], want[32];

	auth_proof(k, 1, f->my_nonce, f->their_nonce, proof);
	a.proof.ptr = proof;
	a.proof.len = 32;
	ck_assert_int_eq(h_raw_send(f->fd, WIRE_OP_AUTH, 0, &a), 0);
	if (h_raw_recv(f->fd, &hdr, &f->in, T_MS) < 0 ||
	    hdr.opcode != WIRE_OP_AUTH ||
	    wire_decode(wire_op(WIRE_OP_AUTH), buf_head(&f->in),
	    buf_pending(&f->in), &a, NULL) < 0)
		return -1;
	auth_proof(k, 3, f->their_nonce, f->my_nonce, want);
	ck_assert(memcmp(want, a.proof.ptr, 32) == 0);
	auth_session_key(k, f->my_nonce, f->their_nonce, f->session);
	return 0;
}

/* Encode and seal a frame as replica 1 would; the bytes go to *out. */
static void
fake_seal(struct fake *f, uint16_t op, const void *msg, struct buf *out)
{
	uint8_t mac[AUTH_MAC_BYTES];
	uint8_t *fr;

	buf_reset(out);
	wire_encode(out, op, 0, msg);
	fr = buf_head(out);
	fr[3] |= WIRE_FLAG_MAC;
	put_be32(fr + 10, get_be32(fr + 10) + AUTH_MAC_BYTES);
	auth_frame_mac(f->session, 1, ++f->send_seq, fr, buf_pending(out), mac);
	buf_append(out, mac, sizeof mac);
}

/* The next PONG or ERROR: a replica that takes us for its peer also
 * sends heartbeats, catch-up requests and the like, all unsolicited. */
static int
recv_skip_heartbeats(struct fake *f, struct wire_header *h)
{
	do {
		if (h_raw_recv(f->fd, h, &f->in, T_MS) < 0)
			return -1;
	} while (h->opcode != WIRE_OP_PONG && h->opcode != WIRE_OP_ERROR);
	return 0;
}

static uint16_t
error_code(struct fake *f, const struct wire_header *h)
{
	struct wire_ERROR e;

	if (h->opcode != WIRE_OP_ERROR ||
	    wire_decode(wire_op(WIRE_OP_ERROR), buf_head(&f->in),
	    buf_pending(&f->in), &e, NULL) < 0)
		return 0;
	return e.code;
}

/* A connection that did the handshake with the cluster's key. */
static void
fake_open_authed(struct fake *f)
{
	fake_open(f);
	ck_assert_int_eq(fake_hello(f), 0);
	ck_assert_int_eq(fake_auth(f, key), 0);
}

/* h, f's last frame, is an ERROR with code, and replica 3 closes the
 * connection; f is closed too. */
static void
expect_refused(struct fake *f, const struct wire_header *h, uint16_t code)
{
	ck_assert_uint_eq(error_code(f, h), code);
	ck_assert_int_eq(h_raw_closed(f->fd, T_MS), 1);
	fake_close(f);
}

/* Frames a stranger might send first; none may do anything. */
START_TEST(test_no_key)
{
	static const uint16_t ops[] = { WIRE_OP_BALLOT, WIRE_OP_APPEND,
	    WIRE_OP_SNAP_BEGIN, WIRE_OP_ROUND, WIRE_OP_ANNOUNCE };
	uint64_t e0[3], l0[3], e1[3], l1[3];
	union {
		struct wire_BALLOT b;
		struct wire_APPEND a;
		struct wire_SNAP_BEGIN s;
		struct wire_ROUND r;
		struct wire_ANNOUNCE an;
	} m;
	struct wire_header hdr;
	struct fake f;
	uint8_t wrong[AUTH_KEY_BYTES];
	size_t i;

	start();
	snapshot_state(e0, l0);

	/* Replica frames instead of HELLO, and instead of AUTH. */
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		memset(&m, 0, sizeof m);
		m.b.round_epoch = m.b.epoch = 1000;	/* a "newer" epoch */
		m.a.epoch = 1000;
		m.s.epoch = m.s.size = 1000;
		m.an.epoch = 1000;
		m.an.primary_id = 1;
		fake_open(&f);
		ck_assert_int_eq(h_raw_send(f.fd, ops[i], 0, &m), 0);
		ck_assert_int_eq(h_raw_recv(f.fd, &hdr, &f.in, T_MS), 0);
		expect_refused(&f, &hdr, WIRE_E_HELLO_FIRST);

		fake_open(&f);
		ck_assert_int_eq(fake_hello(&f), 0);
		ck_assert_int_eq(h_raw_send(f.fd, ops[i], 0, &m), 0);
		ck_assert_int_eq(h_raw_recv(f.fd, &hdr, &f.in, T_MS), 0);
		expect_refused(&f, &hdr, WIRE_E_NOT_AUTHORIZED);
	}
	/* A wrong key. */
	auth_random(wrong, sizeof wrong);
	fake_open(&f);
	ck_assert_int_eq(fake_hello(&f), 0);
	ck_assert_int_ne(fake_auth(&f, wrong), 0);
	ck_assert_int_eq(h_raw_closed(f.fd, T_MS), 1);
	fake_close(&f);

	/* Nothing was applied, nobody changed epoch, the real link between
	 * replicas 1 and 3 survived every claim to be replica 1. */
	snapshot_state(e1, l1);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(e1[i], e0[i]);
		ck_assert_uint_eq(l1[i], l0[i]);
	}
	ck_assert_int_eq(h_log_contains(&cl, 2, "replaced by a new connection"),
	    0);
	h_cluster_destroy(&cl);
}
END_TEST

/* With the key: a sealed PING is answered; the same bytes again (a
 * replay), a frame sealed for another connection (a splice), or an
 * unsealed frame are refused and end the connection. */
START_TEST(test_replay_and_splice)
{
	struct wire_header hdr;
	struct wire_PING ping;
	struct fake f, g;
	struct buf frame, other;

	start();
	/* The real replica 1 would take its link back (it holds the key
	 * too): it is gone for this test. */
	ck_assert_int_ne(h_replica_stop(&cl, 0, SIGKILL), -1);
	buf_init(&frame);
	buf_init(&other);
	memset(&ping, 0, sizeof ping);
	ping.token = 42;

	/* Replay. */
	fake_open_authed(&f);
	fake_seal(&f, WIRE_OP_PING, &ping, &frame);
	ck_assert_int_eq(h_raw_write(f.fd, buf_head(&frame),
	    buf_pending(&frame)), 0);
	ck_assert_int_eq(recv_skip_heartbeats(&f, &hdr), 0);
	ck_assert_uint_eq(hdr.opcode, WIRE_OP_PONG);
	ck_assert(hdr.flags & WIRE_FLAG_MAC);	/* its answers are sealed */
	ck_assert_int_eq(h_raw_write(f.fd, buf_head(&frame),
	    buf_pending(&frame)), 0);
	ck_assert_int_eq(recv_skip_heartbeats(&f, &hdr), 0);
	expect_refused(&f, &hdr, WIRE_E_NOT_AUTHORIZED);

	/* Splice: sealed for connection g, sent on connection f. */
	fake_open_authed(&g);
	fake_seal(&g, WIRE_OP_PING, &ping, &other);
	fake_open_authed(&f);
	ck_assert_int_eq(h_raw_write(f.fd, buf_head(&other),
	    buf_pending(&other)), 0);
	ck_assert_int_eq(recv_skip_heartbeats(&f, &hdr), 0);
	expect_refused(&f, &hdr, WIRE_E_NOT_AUTHORIZED);
	fake_close(&g);

	/* Unsealed after the handshake. */
	fake_open_authed(&f);
	ck_assert_int_eq(h_raw_send(f.fd, WIRE_OP_PING, 0, &ping), 0);
	ck_assert_int_eq(recv_skip_heartbeats(&f, &hdr), 0);
	expect_refused(&f, &hdr, WIRE_E_NOT_AUTHORIZED);

	buf_free(&frame);
	buf_free(&other);
	h_cluster_destroy(&cl);
}
END_TEST

/* An unauthenticated connection that says nothing is closed. */
START_TEST(test_silent_stranger)
{
	struct wire_header hdr;
	struct fake f;

	ck_assert_int_eq(h_cluster_create(&cl, 3, "hello_timeout_ms 300"), 0);
	ck_assert_int_eq(h_replica_start(&cl, 2), 0);
	fake_open(&f);
	ck_assert_int_eq(h_raw_recv(f.fd, &hdr, &f.in, T_MS), 0);
	expect_refused(&f, &hdr, WIRE_E_TIMEOUT);
	h_cluster_destroy(&cl);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_no_key,
		test_replay_and_splice,
		test_silent_stranger,
		NULL
	};

	return h_run_tests("peer authentication", "internal port", 120, tests);
}
