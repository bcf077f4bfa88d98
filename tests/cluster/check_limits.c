/*
 * check_limits.c — the limits of the client port (DESIGN.md §8,
 * PROTOCOL.md §4) on one real replica, through raw frames:
 *
 *  - failed logins slow down: per account (three wrong passwords, then
 *    SLOW_DOWN at once even for the right one, until the delay passes),
 *    per address (failures spread over many accounts slow a fresh one),
 *    and for a burst of guesses sent together on many connections (only
 *    the first result is told; the rest get SLOW_DOWN);
 *  - max_clients: SERVER_FULL and close beyond it, room again after a
 *    close;
 *  - max_inflight: the excess of a pipelined burst gets TOO_MANY_REQUESTS
 *    while the rest completes;
 *  - idle_timeout_ms: a connection without a session that sends nothing
 *    gets TIMEOUT and is closed; an active one and a logged-in one stay.
 *
 * The HELLO deadline, the output cap and the frame size limit are tested in
 * check_single.c. Waits are on observable state with deadlines; the only
 * pauses are the ones the server asks for ("retry in N ms") and the period
 * of a poll.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "h_check.h"
#include "harness.h"
#include "net.h"
#include "ratelimit.h"
#include "wire.h"

#define T_WAIT_MS 10000		/* one awaited frame, generous under ASan */

static struct h_cluster cl;

static void
start(const char *extra)
{
	ck_assert_int_eq(h_cluster_create(&cl, 1, extra), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
}

static void
stop(void)
{
	h_cluster_destroy(&cl);
}

static void
pause_ms(uint64_t ms)
{
	poll(NULL, 0, (int)ms);
}

static int
connect_hello(void)
{
	int fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* The next frame that answers a request (pushes, request id 0, skipped
 * unless want_rid is 0). */
static void
recv_frame(int fd, uint32_t want_rid, struct wire_header *h, struct buf *b)
{
	do {
		if (h_raw_recv(fd, h, b, T_WAIT_MS) != 0) {
			h_replica_dump_log(&cl, 0);
			ck_abort_msg("no answer to request %u", want_rid);
		}
	} while (want_rid != 0 && h->request_id == 0);
	ck_assert_uint_eq(h->request_id, want_rid);
}

static void
decode_error(const struct buf *b, struct wire_ERROR *e)
{
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_ERROR), buf_head(b),
	    buf_pending(b), e, NULL), 0);
}

/* Receive the answer to rid and require opcode op (an ERROR is printed). */
static void
expect_op(int fd, uint32_t rid, uint16_t op, struct buf *b)
{
	struct wire_header h;
	struct wire_ERROR e;

	recv_frame(fd, rid, &h, b);
	if (h.opcode != op && h.opcode == WIRE_OP_ERROR) {
		decode_error(b, &e);
		fprintf(stderr, "rid %u: want %s, got ERROR %s: %s\n", rid,
		    wire_op_name(op), wire_err_name(e.code), e.text);
	}
	ck_assert_uint_eq(h.opcode, op);
}

/* Receive the answer to rid: an ERROR with this code. */
static void
expect_error(int fd, uint32_t rid, uint16_t code, struct wire_ERROR *e,
	     struct buf *b)
{
	expect_op(fd, rid, WIRE_OP_ERROR, b);
	decode_error(b, e);
	if (e->code != code)
		fprintf(stderr, "rid %u: want ERROR %s, got %s: %s\n", rid,
		    wire_err_name(code), wire_err_name(e->code), e->text);
	ck_assert_uint_eq(e->code, code);
}

static uint64_t next_seq = 1;

static void
do_register(int fd, const char *user, const char *pw, struct buf *b)
{
	struct wire_REGISTER r;

	memset(&r, 0, sizeof r);
	r.client_id = 0x11111;
	r.seq = next_seq++;
	snprintf(r.username, sizeof r.username, "%s", user);
	snprintf(r.password, sizeof r.password, "%s", pw);
	ck_assert_int_eq(h_raw_send(fd, WIRE_OP_REGISTER, 900, &r), 0);
	expect_op(fd, 900, WIRE_OP_OK, b);
}

static void
send_login(int fd, uint32_t rid, const char *user, const char *pw)
{
	struct wire_LOGIN l;

	memset(&l, 0, sizeof l);
	l.client_id = 0x22222;
	l.seq = next_seq++;
	snprintf(l.username, sizeof l.username, "%s", user);
	snprintf(l.password, sizeof l.password, "%s", pw);
	ck_assert_int_eq(h_raw_send(fd, WIRE_OP_LOGIN, rid, &l), 0);
}

/* The N of "retry in N ms" in a SLOW_DOWN's text (asserted present). */
static uint64_t
retry_hint(const struct wire_ERROR *e)
{
	const char *p = strstr(e->text, "retry in ");
	unsigned long long n;

	if (p == NULL || sscanf(p, "retry in %llu ms", &n) != 1)
		ck_abort_msg("SLOW_DOWN without a retry hint: %s", e->text);
	return (uint64_t)n;
}

/* One LOGIN: 0 for SESSION, else the ERROR's code (*hint: its retry hint
 * for SLOW_DOWN, else 0). */
static unsigned
login(int fd, const char *user, const char *pw, uint64_t *hint)
{
	static uint32_t rid = 1000;
	struct wire_header h;
	struct wire_ERROR e;
	struct buf b;
	unsigned code = 0;

	buf_init(&b);
	send_login(fd, ++rid, user, pw);
	recv_frame(fd, rid, &h, &b);
	*hint = 0;
	if (h.opcode == WIRE_OP_ERROR) {
		decode_error(&b, &e);
		code = e.code;
		if (code == WIRE_E_SLOW_DOWN)
			*hint = retry_hint(&e);
	} else {
		ck_assert_uint_eq(h.opcode, WIRE_OP_SESSION);
	}
	buf_free(&b);
	return code;
}

/* LOGIN until the answer is not SLOW_DOWN, pausing as long as the server
 * says each time (at most limit_ms in all). The final answer's code. */
static unsigned
login_patiently(int fd, const char *user, const char *pw, uint64_t limit_ms)
{
	uint64_t deadline = mono_ms() + limit_ms, hint;
	unsigned code;

	while ((code = login(fd, user, pw, &hint)) == WIRE_E_SLOW_DOWN) {
		ck_assert_uint_gt(hint, 0);
		ck_assert_msg(mono_ms() + hint < deadline,
		    "still SLOW_DOWN for %s after %llu ms", user,
		    (unsigned long long)limit_ms);
		pause_ms(hint);
	}
	return code;
}

/* ---- failed logins ---------------------------------------------------------- */

/* Three wrong passwords for one account: the fourth attempt, even with
 * the right password, is answered SLOW_DOWN at once — before the delay
 * could have passed — until the delay has passed; then it works, and the
 * success resets the account. */
START_TEST(test_slow_down_account)
{
	uint64_t t3, t_sent, t_answer, t_ok, hint, hint2;
	struct buf b;
	int fd, fd2, i;

	start(NULL);
	buf_init(&b);
	fd = connect_hello();
	do_register(fd, "alice", "right-pw", &b);
	for (i = 0; i < (int)RL_ACCOUNT_GRACE + 1; i++)
		ck_assert_uint_eq(login(fd, "alice", "wrong-pw", &hint),
		    WIRE_E_BAD_PASSWORD);
	t3 = mono_ms();

	t_sent = mono_ms();
	ck_assert_uint_eq(login(fd, "alice", "right-pw", &hint),
	    WIRE_E_SLOW_DOWN);
	t_answer = mono_ms();
	/* The first delay, counted from the third failure. */
	ck_assert_uint_gt(hint, 0);
	ck_assert_uint_le(hint, RL_BASE_MS);
	/* Answered while the delay was still running: no password check ran
	 * to its end before this answer (the delay is short). */
	ck_assert_msg(t_answer - t3 < RL_BASE_MS,
	    "SLOW_DOWN took %llu ms (sent %llu ms after the 3rd failure)",
	    (unsigned long long)(t_answer - t3),
	    (unsigned long long)(t_sent - t3));
	/* Any case of the name is the same account; asking again does not
	 * extend the delay. */
	ck_assert_uint_eq(login(fd, "ALICE", "right-pw", &hint2),
	    WIRE_E_SLOW_DOWN);
	ck_assert_uint_le(hint2, hint);

	/* After the delay the right password works. */
	ck_assert_uint_eq(login_patiently(fd, "alice", "right-pw", 5000), 0);
	t_ok = mono_ms();
	ck_assert_msg(t_ok - t3 + 20 >= RL_BASE_MS,
	    "logged in %llu ms after the third failure, before the delay",
	    (unsigned long long)(t_ok - t3));

	/* The success reset the account: one more typo costs no delay. */
	fd2 = connect_hello();
	ck_assert_uint_eq(login(fd2, "alice", "wrong-pw", &hint),
	    WIRE_E_BAD_PASSWORD);
	ck_assert_uint_eq(login(fd2, "alice", "right-pw", &hint), 0);
	close(fd2);
	close(fd);
	buf_free(&b);
	stop();
}
END_TEST

/* Failures spread over many accounts from one address slow that address:
 * an account that never failed is refused too, until the delay passes. */
START_TEST(test_slow_down_address)
{
	char name[32];
	uint64_t hint;
	struct buf b;
	unsigned i;
	int fd;

	start(NULL);
	buf_init(&b);
	fd = connect_hello();
	do_register(fd, "bob", "bob-pw", &b);
	/* One failure per (unknown) account: no account reaches a delay. */
	for (i = 0; i <= RL_ADDRESS_GRACE; i++) {
		snprintf(name, sizeof name, "ghost%u", i);
		ck_assert_uint_eq(login(fd, name, "guess", &hint),
		    WIRE_E_BAD_PASSWORD);
	}
	/* A fresh connection from the same address, an account without any
	 * failure, the right password: still SLOW_DOWN. */
	close(fd);
	fd = connect_hello();
	ck_assert_uint_eq(login(fd, "bob", "bob-pw", &hint), WIRE_E_SLOW_DOWN);
	ck_assert_uint_gt(hint, 0);
	ck_assert_uint_le(hint, RL_BASE_MS);
	ck_assert_uint_eq(login_patiently(fd, "bob", "bob-pw", 5000), 0);
	close(fd);
	buf_free(&b);
	stop();
}
END_TEST

/* Guesses sent together on many connections all pass the first check
 * before any of them fails (password checks queue on one thread). Once
 * the first result has started a delay, every other one is answered
 * SLOW_DOWN, whatever its password: the burst tells one result only. */
START_TEST(test_slow_down_burst)
{
	enum { N = 6 };
	int fd[N], conn, bad = 0, slowed = 0, i;
	uint64_t hint;
	struct wire_header h;
	struct wire_ERROR e;
	struct buf b;

	start(NULL);
	buf_init(&b);
	conn = connect_hello();
	do_register(conn, "carol", "carol-pw", &b);
	for (i = 0; i < N; i++)
		fd[i] = connect_hello();
	/* Bring carol to RL_ACCOUNT_GRACE + 2 failures, so the burst's
	 * first failure starts a delay of 4 x base: ample for the others to
	 * finish inside it. */
	for (i = 0; i < (int)RL_ACCOUNT_GRACE + 2; i++)
		ck_assert_uint_eq(login_patiently(conn, "carol", "wrong", 5000),
		    WIRE_E_BAD_PASSWORD);
	/* Wait out the delay without an attempt that counts: the server
	 * says how long it still runs. */
	ck_assert_uint_eq(login(conn, "carol", "wrong", &hint),
	    WIRE_E_SLOW_DOWN);
	pause_ms(hint + 50);

	for (i = 0; i < N; i++)
		send_login(fd[i], 77, "carol", "wrong");
	for (i = 0; i < N; i++) {
		recv_frame(fd[i], 77, &h, &b);
		ck_assert_uint_eq(h.opcode, WIRE_OP_ERROR);
		decode_error(&b, &e);
		if (e.code == WIRE_E_BAD_PASSWORD)
			bad++;
		else if (e.code == WIRE_E_SLOW_DOWN)
			slowed++;
		else
			ck_abort_msg("connection %d: ERROR %s: %s", i,
			    wire_err_name(e.code), e.text);
	}
	ck_assert_int_eq(bad, 1);
	ck_assert_int_eq(slowed, N - 1);
	for (i = 0; i < N; i++)
		close(fd[i]);
	close(conn);
	buf_free(&b);
	stop();
}
END_TEST

/* DELETE_ACCOUNT's password check counts the same way. */
START_TEST(test_slow_down_delete_account)
{
	struct wire_DELETE_ACCOUNT d;
	struct wire_header h;
	struct wire_ERROR e;
	uint64_t hint, deadline;
	struct buf b;
	int fd, i;

	start(NULL);
	buf_init(&b);
	fd = connect_hello();
	do_register(fd, "dave", "dave-pw", &b);
	ck_assert_uint_eq(login(fd, "dave", "dave-pw", &hint), 0);
	memset(&d, 0, sizeof d);
	d.client_id = 0x33333;
	snprintf(d.password, sizeof d.password, "wrong");
	for (i = 0; i < (int)RL_ACCOUNT_GRACE + 1; i++) {
		d.seq = next_seq++;
		h_raw_send(fd, WIRE_OP_DELETE_ACCOUNT, 50 + (uint32_t)i, &d);
		expect_error(fd, 50 + (uint32_t)i, WIRE_E_BAD_PASSWORD, &e, &b);
	}
	/* The right password: refused for now, and the account stays. */
	snprintf(d.password, sizeof d.password, "dave-pw");
	d.seq = next_seq++;
	h_raw_send(fd, WIRE_OP_DELETE_ACCOUNT, 60, &d);
	expect_error(fd, 60, WIRE_E_SLOW_DOWN, &e, &b);
	ck_assert_uint_eq(e.about_op, WIRE_OP_DELETE_ACCOUNT);
	/* LOGIN of the same account from elsewhere is slowed as well. */
	{
		int fd2 = connect_hello();
		ck_assert_uint_eq(login(fd2, "dave", "dave-pw", &hint),
		    WIRE_E_SLOW_DOWN);
		close(fd2);
	}
	/* Once the delay has passed, the right password deletes. */
	deadline = mono_ms() + 5000;
	for (;;) {
		pause_ms(retry_hint(&e));
		d.seq = next_seq++;
		h_raw_send(fd, WIRE_OP_DELETE_ACCOUNT, 61, &d);
		recv_frame(fd, 61, &h, &b);
		if (h.opcode == WIRE_OP_OK)
			break;
		ck_assert_uint_eq(h.opcode, WIRE_OP_ERROR);
		decode_error(&b, &e);
		ck_assert_uint_eq(e.code, WIRE_E_SLOW_DOWN);
		ck_assert_msg(mono_ms() < deadline, "DELETE_ACCOUNT still slowed");
	}
	/* Deleted: the name no longer logs in. */
	close(fd);
	fd = connect_hello();
	ck_assert_uint_eq(login(fd, "dave", "dave-pw", &hint),
	    WIRE_E_BAD_PASSWORD);
	close(fd);
	buf_free(&b);
	stop();
}
END_TEST

/* ---- connections ------------------------------------------------------------ */

static struct wire_STATUS_INFO
status(int fd, uint32_t rid, struct buf *b)
{
	struct wire_STATUS_INFO info;
	struct wire_STATUS st;

	memset(&st, 0, sizeof st);
	ck_assert_int_eq(h_raw_send(fd, WIRE_OP_STATUS, rid, &st), 0);
	expect_op(fd, rid, WIRE_OP_STATUS_INFO, b);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_STATUS_INFO),
	    buf_head(b), buf_pending(b), &info, NULL), 0);
	return info;
}

/* max_clients 3: the fourth connection is told SERVER_FULL (request id 0)
 * and closed; once one of the three has gone, a new one is accepted. */
START_TEST(test_max_clients)
{
	struct wire_STATUS_INFO info;
	struct wire_ERROR e;
	struct buf b;
	uint64_t deadline;
	int fd[3], extra, i;

	start("max_clients 3");
	buf_init(&b);
	for (i = 0; i < 3; i++)
		fd[i] = connect_hello();
	extra = h_raw_connect(cl.r[0].client_port, 0);
	ck_assert_int_ge(extra, 0);
	expect_error(extra, 0, WIRE_E_SERVER_FULL, &e, &b);
	ck_assert_int_eq(h_raw_closed(extra, T_WAIT_MS), 1);
	close(extra);
	/* The operator is told (once per 10 s, however many knock). */
	ck_assert(h_log_contains(&cl, 0,
	    "WARN refusing client connections: max_clients (3) reached"));
	/* The three are served meanwhile. */
	info = status(fd[1], 2, &b);
	ck_assert_uint_eq(info.clients, 3);

	close(fd[0]);
	/* The replica sees the close in its own time: retry until a new
	 * connection gets its HELLO answered instead of SERVER_FULL. */
	deadline = mono_ms() + T_WAIT_MS;
	while ((extra = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO)) < 0) {
		ck_assert_msg(mono_ms() < deadline,
		    "no room after a connection closed");
		pause_ms(20);
	}
	info = status(extra, 3, &b);
	ck_assert_uint_eq(info.clients, 3);
	status(fd[2], 4, &b);
	close(extra);
	close(fd[1]);
	close(fd[2]);
	buf_free(&b);
	stop();
}
END_TEST

/* max_inflight 4: ten SENDs in one write. All of them are dispatched in
 * one loop pass, before the commit that answers any, so the first four
 * are in flight when the others arrive: those get TOO_MANY_REQUESTS
 * (without effect), the four get SENT, all answered in request order.
 * (Pipelined LOGINs would not show the limit: input is paused while a
 * password is checked, so they are taken one at a time.) */
START_TEST(test_max_inflight)
{
	enum { BURST = 10, LIMIT = 4 };
	struct wire_INBOX_INFO ib;
	struct wire_INBOX in;
	struct wire_SEND s;
	struct wire_ERROR e;
	struct buf b, frames;
	uint64_t hint;
	int fd, fd2, i;

	start("max_inflight 4");
	buf_init(&b);
	buf_init(&frames);
	fd = connect_hello();
	do_register(fd, "erin", "erin-pw", &b);
	do_register(fd, "frank", "frank-pw", &b);
	ck_assert_uint_eq(login(fd, "erin", "erin-pw", &hint), 0);
	memset(&s, 0, sizeof s);
	s.client_id = 0xE1;
	snprintf(s.to, sizeof s.to, "frank");
	for (i = 0; i < BURST; i++) {
		s.seq = (uint64_t)i + 1;
		snprintf(s.body, sizeof s.body, "burst %d", i);
		wire_encode(&frames, WIRE_OP_SEND, 100 + (uint32_t)i, &s);
	}
	ck_assert_int_eq(h_raw_write(fd, buf_head(&frames),
	    buf_pending(&frames)), 0);
	for (i = 0; i < BURST; i++) {
		if (i < LIMIT) {
			expect_op(fd, 100 + (uint32_t)i, WIRE_OP_SENT, &b);
		} else {
			expect_error(fd, 100 + (uint32_t)i,
			    WIRE_E_TOO_MANY_REQUESTS, &e, &b);
			ck_assert_uint_eq(e.about_op, WIRE_OP_SEND);
		}
	}
	/* Answered, they no longer count: the next request goes through. */
	s.seq = BURST + 1;
	snprintf(s.body, sizeof s.body, "after the burst");
	ck_assert_int_eq(h_raw_send(fd, WIRE_OP_SEND, 200, &s), 0);
	expect_op(fd, 200, WIRE_OP_SENT, &b);

	/* The refused ones had no effect: frank has LIMIT + 1 messages. */
	fd2 = connect_hello();
	ck_assert_uint_eq(login(fd2, "frank", "frank-pw", &hint), 0);
	memset(&in, 0, sizeof in);
	ck_assert_int_eq(h_raw_send(fd2, WIRE_OP_INBOX, 5, &in), 0);
	expect_op(fd2, 5, WIRE_OP_INBOX_INFO, &b);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_INBOX_INFO), buf_head(&b),
	    buf_pending(&b), &ib, NULL), 0);
	ck_assert_uint_eq(ib.total, LIMIT + 1);
	close(fd2);
	close(fd);
	buf_free(&frames);
	buf_free(&b);
	stop();
}
END_TEST

/* idle_timeout_ms 1000: a connection past HELLO without a session that
 * sends nothing gets ERROR TIMEOUT (request id 0) and is closed; one that
 * keeps sending (PINGs) stays, and so does a logged-in one that is as
 * quiet as the idle one. */
START_TEST(test_idle_timeout)
{
	struct wire_PING ping;
	struct wire_ERROR e;
	struct buf b;
	uint64_t t0, t_closed, hint;
	uint32_t rid = 10;
	int logged, active, idle, got = 0;

	start("idle_timeout_ms 1000");
	buf_init(&b);
	logged = connect_hello();
	do_register(logged, "gina", "gina-pw", &b);
	ck_assert_uint_eq(login(logged, "gina", "gina-pw", &hint), 0);
	active = connect_hello();
	idle = connect_hello();
	t0 = mono_ms();
	memset(&ping, 0, sizeof ping);
	/* PING on `active` every ~200 ms until `idle` hears something. */
	while (!got) {
		struct pollfd p = { idle, POLLIN, 0 };

		ck_assert_msg(mono_ms() - t0 < T_WAIT_MS,
		    "idle connection not closed within %d ms", T_WAIT_MS);
		ping.token = ++rid;
		ck_assert_int_eq(h_raw_send(active, WIRE_OP_PING, rid, &ping),
		    0);
		expect_op(active, rid, WIRE_OP_PONG, &b);
		got = poll(&p, 1, 200) > 0;
	}
	expect_error(idle, 0, WIRE_E_TIMEOUT, &e, &b);
	t_closed = mono_ms();
	ck_assert_int_eq(h_raw_closed(idle, T_WAIT_MS), 1);
	close(idle);
	/* Not before the limit (the server's clock started at or before
	 * t0; a little slack for ours). */
	ck_assert_msg(t_closed - t0 >= 950, "closed after %llu ms",
	    (unsigned long long)(t_closed - t0));

	/* The logged-in connection was quiet for longer than `idle`: a sweep
	 * that closed `idle` would have closed it in the same pass. */
	{
		struct pollfd p = { logged, POLLIN, 0 };
		ck_assert_int_eq(poll(&p, 1, 100), 0);
	}
	status(logged, 3, &b);
	ping.token = ++rid;
	ck_assert_int_eq(h_raw_send(active, WIRE_OP_PING, rid, &ping), 0);
	expect_op(active, rid, WIRE_OP_PONG, &b);
	close(active);
	close(logged);
	buf_free(&b);
	stop();
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_slow_down_account,
		test_slow_down_address,
		test_slow_down_burst,
		test_slow_down_delete_account,
		test_max_clients,
		test_max_inflight,
		test_idle_timeout,
		NULL
	};

	return h_run_tests("limits", "client port", 60, tests);
}
