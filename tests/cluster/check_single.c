/*
 * check_single.c — the chat service on one real replica, driven through
 * the real line client (./chat scripts) and, below it, raw frames.
 *
 * Each test starts its own chatd on free loopback ports in a temporary
 * directory and stops it by pid. Waits are on observable output with
 * deadlines, never fixed sleeps.
 */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "h_check.h"
#include "harness.h"
#include "wire.h"

#define T_CLIENT_MS 60000	/* a whole script, generous under ASan */
#define T_WAIT_MS   10000	/* one awaited line */

static struct h_cluster cl;

static void
start_one(void)
{
	ck_assert_int_eq(h_cluster_create(&cl, 1, NULL), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
}

static void
stop_all(void)
{
	h_cluster_destroy(&cl);
}

/* Run a script; assert its exit status; return its output (caller frees). */
static char *
run(const char *script, int want_status)
{
	char *out = NULL;
	int rc = h_chat_run(&cl, script, &out, T_CLIENT_MS);

	if (rc != want_status) {
		fprintf(stderr, "---- script ----\n%s---- output ----\n%s\n",
		    script, out ? out : "");
		h_replica_dump_log(&cl, 0);
	}
	ck_assert_int_eq(rc, want_status);
	return out;
}

static void
expect(const char *out, const char *needle)
{
	if (strstr(out, needle) == NULL)
		fprintf(stderr, "---- output lacks '%s' ----\n%s\n", needle, out);
	ck_assert_ptr_nonnull(strstr(out, needle));
}

/* run, then expect one needle in what it printed. */
static void
run_expect(const char *script, int want_status, const char *needle)
{
	char *out = run(script, want_status);

	expect(out, needle);
	free(out);
}

START_TEST(test_register_send_read_history)
{
	char *out;

	start_one();
	run_expect("/register alice pw-alice\n/register bob pw-bob\n", 0,
	    "registered alice");
	out = run("/login alice pw-alice\n/msg bob hello bob, it is alice\n"
	    "/msg bob second  line with  spaces\n", 0);
	ck_assert_int_eq(h_count(out, "sent #"), 2);
	expect(out, "sent #1");
	expect(out, "sent #2");
	free(out);
	/* Offline delivery: bob was not logged in; it waited in his inbox. */
	out = run("/login bob pw-bob\n/inbox\n/read\n/history alice\n", 0);
	expect(out, "2 unread");
	expect(out, "#1");
	expect(out, "hello bob, it is alice");
	expect(out, "second  line with  spaces");
	ck_assert_int_eq(h_count(out, "hello bob, it is alice"), 2);
	free(out);
	/* Read once: nothing unread any more. */
	out = run("/login bob pw-bob\n/read\n", 0);
	ck_assert_ptr_null(strstr(out, "hello bob, it is alice"));
	free(out);
	stop_all();
}
END_TEST

START_TEST(test_errors)
{
	start_one();
	free(run("/register alice pw\n", 0));
	run_expect("/register alice other\n", 1, "error:");
	/* case-insensitive */
	run_expect("/register ALICE other\n", 1, "error:");
	run_expect("/login alice wrong\n", 1, "error:");
	run_expect("/msg alice hi\n", 1, "error:");	/* not logged in */
	run_expect("/login alice pw\n/msg nobody hi\n", 1, "error:");
	run_expect("/frobnicate\n", 1, "error:");
	run_expect("/register bad/name pw\n", 1, "error:");
	stop_all();
}
END_TEST

START_TEST(test_live_push_and_receipt)
{
	struct h_proc bob, alice;

	start_one();
	free(run("/register alice pa\n/register bob pb\n", 0));
	ck_assert_int_eq(h_chat_spawn(&cl, &bob), 0);
	ck_assert_int_eq(h_chat_spawn(&cl, &alice), 0);
	h_proc_send(&bob, "/login bob pb");
	h_proc_send(&alice, "/login alice pa");
	ck_assert_int_eq(h_proc_expect(&bob, "logged in", T_WAIT_MS), 0);
	ck_assert_int_eq(h_proc_expect(&alice, "logged in", T_WAIT_MS), 0);
	h_proc_send(&alice, "/users");
	ck_assert_int_eq(h_proc_expect(&alice, "bob", T_WAIT_MS), 0);
	ck_assert_int_eq(h_proc_expect(&alice, "online", T_WAIT_MS), 0);

	h_proc_send(&alice, "/msg bob pushed without polling");
	/* bob asked for nothing: the line arrives by push. */
	ck_assert_int_eq(h_proc_expect(&bob, "pushed without polling",
	    T_WAIT_MS), 0);
	ck_assert_ptr_nonnull(strstr(bob.out, "alice"));
	ck_assert_ptr_nonnull(strstr(bob.out, "#1"));

	/* bob reads it; alice, online, gets a receipt. */
	h_proc_send(&bob, "/read");
	ck_assert_int_eq(h_proc_expect(&alice, "read by bob", T_WAIT_MS), 0);

	ck_assert_int_eq(h_proc_finish(&bob, T_WAIT_MS), 0);
	ck_assert_int_eq(h_proc_finish(&alice, T_WAIT_MS), 0);
	free(bob.out);
	free(alice.out);
	stop_all();
}
END_TEST

START_TEST(test_drafts)
{
	char *out;

	start_one();
	free(run("/register alice pa\n/register bob pb\n", 0));
	out = run("/login alice pa\n/draft bob first draft text\n"
	    "/draft bob second draft text\n/drafts\n", 0);
	expect(out, "draft #1");
	expect(out, "draft #2");
	ck_assert_int_eq(h_count(out, "first draft text"), 1);  /* listed */
	ck_assert_int_eq(h_count(out, "second draft text"), 1);
	free(out);
	out = run("/login alice pa\n/drop-draft 1\n/drafts\n/send-draft all\n",
	    0);
	expect(out, "second draft text");
	free(out);
	out = run("/login alice pa\n/drafts\n/send-draft 1\n", 1);
	expect(out, "error:");		/* dropped, then nothing left */
	ck_assert_ptr_null(strstr(out, "first draft text"));
	free(out);
	out = run("/login bob pb\n/read\n", 0);
	expect(out, "second draft text");
	ck_assert_ptr_null(strstr(out, "first draft text"));
	free(out);
	stop_all();
}
END_TEST

START_TEST(test_delete_account)
{
	char *out;

	start_one();
	free(run("/register alice pa\n/register bob pb\n", 0));
	free(run("/login alice pa\n/msg bob message from the old alice\n", 0));
	free(run("/login bob pb\n/msg alice unread by alice\n", 0));
	/* Deleting shows the unread messages first (which reads them), then
	 * asks the server, which checks the password. */
	out = run("/login alice pa\n/delete-account wrong\n", 1);
	expect(out, "unread by alice");
	expect(out, "error:");
	free(out);
	out = run("/login alice pa\n/delete-account pa\n", 0);
	free(out);
	run_expect("/login alice pa\n", 1, "error:");
	/* What alice sent stays in bob's history, under her name. */
	run_expect("/login bob pb\n/history alice\n", 0,
	    "message from the old alice");
	/* The name is free again, and the new alice sees nothing old. */
	out = run("/register alice new\n/login alice new\n/history bob\n"
	    "/inbox\n", 0);
	ck_assert_ptr_null(strstr(out, "message from the old alice"));
	ck_assert_ptr_null(strstr(out, "unread by alice"));
	free(out);
	stop_all();
}
END_TEST

/* Every acknowledged message and account survives a restart, whether the
 * replica stopped cleanly or was killed. */
static void
restart_keeps_everything(int sig)
{
	char script[8192], want[64], *out;
	size_t n = 0;
	int i;

	start_one();
	free(run("/register alice pa\n/register bob pb\n", 0));
	n += (size_t)snprintf(script + n, sizeof script - n, "/login alice pa\n");
	for (i = 1; i <= 40; i++)
		n += (size_t)snprintf(script + n, sizeof script - n,
		    "/msg bob durable message %d\n", i);
	out = run(script, 0);
	ck_assert_int_eq(h_count(out, "sent #"), 40);
	free(out);

	ck_assert_int_ne(h_replica_stop(&cl, 0, sig), -1);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);

	out = run("/login bob pb\n/history alice 100\n", 0);
	for (i = 1; i <= 40; i++) {
		snprintf(want, sizeof want, "durable message %d\n", i);
		if (h_count(out, want) != 1)
			fprintf(stderr, "missing or doubled: %s", want);
		ck_assert_int_eq(h_count(out, want), 1);
	}
	free(out);
	stop_all();
}

START_TEST(test_restart_sigterm)
{
	restart_keeps_everything(SIGTERM);
}
END_TEST

START_TEST(test_restart_kill9)
{
	restart_keeps_everything(SIGKILL);
}
END_TEST

/* ---- below the client: raw frames ------------------------------------------- */

static int
expect_frame(int fd, uint16_t op, uint32_t rid, struct buf *payload)
{
	struct wire_header h;

	ck_assert_int_eq(h_raw_recv(fd, &h, payload, T_WAIT_MS), 0);
	if (h.opcode != op || h.request_id != rid) {
		struct wire_ERROR e;
		if (h.opcode == WIRE_OP_ERROR &&
		    wire_decode(wire_op(WIRE_OP_ERROR), buf_head(payload),
		    buf_pending(payload), &e, NULL) == 0)
			fprintf(stderr, "got ERROR %s: %s\n",
			    wire_err_name(e.code), e.text);
		fprintf(stderr, "want %s rid %u, got %s rid %u\n",
		    wire_op_name(op), rid, wire_op_name(h.opcode),
		    h.request_id);
	}
	ck_assert_uint_eq(h.opcode, op);
	ck_assert_uint_eq(h.request_id, rid);
	return 0;
}

static uint16_t
error_code(const struct buf *payload)
{
	struct wire_ERROR e;

	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_ERROR), buf_head(payload),
	    buf_pending(payload), &e, NULL), 0);
	return e.code;
}

static void
raw_login_seq(int fd, const char *user, const char *pw, uint64_t client_id,
	      uint64_t seq, uint32_t rid, struct buf *b)
{
	struct wire_LOGIN l;

	memset(&l, 0, sizeof l);
	l.client_id = client_id;
	l.seq = seq;
	snprintf(l.username, sizeof l.username, "%s", user);
	snprintf(l.password, sizeof l.password, "%s", pw);
	h_raw_send(fd, WIRE_OP_LOGIN, rid, &l);
	expect_frame(fd, WIRE_OP_SESSION, rid, b);
}

/* Log in to an existing account on a fresh connection. */
static void
raw_login_only(int fd, const char *user, const char *pw, uint64_t client_id,
	       uint32_t rid, struct buf *b)
{
	raw_login_seq(fd, user, pw, client_id, 1, rid, b);
}

/* Register the account, then log in. */
static void
raw_login(int fd, const char *user, const char *pw, uint64_t client_id,
	  uint64_t *seq, struct buf *b)
{
	struct wire_REGISTER r;

	memset(&r, 0, sizeof r);
	r.client_id = client_id;
	r.seq = ++*seq;
	snprintf(r.username, sizeof r.username, "%s", user);
	snprintf(r.password, sizeof r.password, "%s", pw);
	h_raw_send(fd, WIRE_OP_REGISTER, 10, &r);
	expect_frame(fd, WIRE_OP_OK, 10, b);
	raw_login_seq(fd, user, pw, client_id, ++*seq, 11, b);
}

/* A request repeated with the same (client_id, seq) — as a client does
 * after losing its connection — gets the original answer, and the
 * message exists once. */
START_TEST(test_retry_is_applied_once)
{
	struct wire_SEND s;
	struct wire_SENT a1, a2;
	struct wire_FETCH f;
	struct wire_MESSAGES m;
	struct buf b;
	uint64_t seq = 0;
	int fd, fd2;

	start_one();
	buf_init(&b);
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	ck_assert_int_ge(fd, 0);
	raw_login(fd, "alice", "pa", 0xC0FFEE, &seq, &b);

	memset(&s, 0, sizeof s);
	s.client_id = 0xC0FFEE;
	s.seq = ++seq;
	snprintf(s.to, sizeof s.to, "alice");
	snprintf(s.body, sizeof s.body, "exactly once");
	h_raw_send(fd, WIRE_OP_SEND, 20, &s);
	expect_frame(fd, WIRE_OP_SENT, 20, &b);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_SENT), buf_head(&b),
	    buf_pending(&b), &a1, NULL), 0);
	close(fd);

	/* A new connection, the same request again. */
	fd2 = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	raw_login(fd2, "alice2", "pa", 0xC0FFEE, &seq, &b);
	h_raw_send(fd2, WIRE_OP_SEND, 21, &s);
	expect_frame(fd2, WIRE_OP_SENT, 21, &b);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_SENT), buf_head(&b),
	    buf_pending(&b), &a2, NULL), 0);
	ck_assert_uint_eq(a1.id, a2.id);
	ck_assert_uint_eq(a1.sent_at, a2.sent_at);
	close(fd2);

	/* alice has exactly one message. */
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	raw_login_only(fd, "alice", "pa", 0xBEEF, 30, &b);
	memset(&f, 0, sizeof f);
	f.max = 100;
	h_raw_send(fd, WIRE_OP_FETCH, 31, &f);
	expect_frame(fd, WIRE_OP_MESSAGES, 31, &b);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_MESSAGES), buf_head(&b),
	    buf_pending(&b), &m, NULL), 0);
	ck_assert_uint_eq(m.msgs.count, 1);
	close(fd);
	buf_free(&b);
	stop_all();
}
END_TEST

/* A retry whose stored result was pruned (the client sent over 1024
 * newer requests since; pruning runs when a batch of results moves into
 * the requests table, every STORE_RESULTS_BATCH lsns) is refused with
 * RETRY_TOO_OLD instead of running again: the message exists once, not
 * twice. */
START_TEST(test_retry_too_old)
{
	struct wire_SEND s;
	struct wire_INBOX_INFO ic;
	struct buf b;
	uint64_t seq = 0, first;
	uint32_t i;
	int fd;

	start_one();
	buf_init(&b);
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	ck_assert_int_ge(fd, 0);
	raw_login(fd, "dave", "pd", 0xAC, &seq, &b);
	close(fd);
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	ck_assert_int_ge(fd, 0);
	raw_login(fd, "carol", "pc", 0xAB, &seq, &b);
	memset(&s, 0, sizeof s);
	s.client_id = 0xAB;
	snprintf(s.to, sizeof s.to, "dave");
	snprintf(s.body, sizeof s.body, "once");
	first = seq + 1;
	/* Up to seq ~1402 (lsn ~1410): the batch moved at lsn 1280 holds
	 * seqs up to ~1272 and prunes the client to seqs above ~248. */
	for (i = 0; i < 1400; i++) {
		s.seq = ++seq;
		h_raw_send(fd, WIRE_OP_SEND, 100 + i, &s);
		expect_frame(fd, WIRE_OP_SENT, 100 + i, &b);
	}
	/* The newest result is still kept; the first one's is gone. */
	h_raw_send(fd, WIRE_OP_SEND, 5000, &s);
	expect_frame(fd, WIRE_OP_SENT, 5000, &b);
	s.seq = first;
	h_raw_send(fd, WIRE_OP_SEND, 5001, &s);
	expect_frame(fd, WIRE_OP_ERROR, 5001, &b);
	ck_assert_int_eq(error_code(&b), WIRE_E_RETRY_TOO_OLD);

	close(fd);
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	ck_assert_int_ge(fd, 0);
	raw_login_only(fd, "dave", "pd", 0xAD, 5003, &b);
	h_raw_send(fd, WIRE_OP_INBOX, 5002, &(struct wire_INBOX){ 0 });
	expect_frame(fd, WIRE_OP_INBOX_INFO, 5002, &b);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_INBOX_INFO),
	    buf_head(&b), buf_pending(&b), &ic, NULL), 0);
	ck_assert_uint_eq(ic.total, 1400);
	close(fd);
	buf_free(&b);
	stop_all();
}
END_TEST

/* Bad input: a clear error, or a close when the framing is broken; the
 * replica keeps serving everybody else. */
START_TEST(test_bad_input)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct wire_STATUS st;
	struct wire_SEND s;
	struct buf b;
	uint8_t frame[WIRE_HEADER_SIZE];
	int fd, good;

	start_one();
	buf_init(&b);
	good = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	ck_assert_int_ge(good, 0);

	/* Not our protocol: closed. */
	fd = h_raw_connect(cl.r[0].client_port, 0);
	h_raw_write(fd, http, sizeof http - 1);
	ck_assert_int_eq(h_raw_closed(fd, T_WAIT_MS), 1);
	close(fd);

	/* A request before HELLO: ERROR HELLO_FIRST, then closed. */
	fd = h_raw_connect(cl.r[0].client_port, 0);
	memset(&st, 0, sizeof st);
	h_raw_send(fd, WIRE_OP_STATUS, 5, &st);
	expect_frame(fd, WIRE_OP_ERROR, 5, &b);
	ck_assert_uint_eq(error_code(&b), WIRE_E_HELLO_FIRST);
	ck_assert_int_eq(h_raw_closed(fd, T_WAIT_MS), 1);
	close(fd);

	/* A length over the request limit: closed at once. */
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	put_be16(frame, WIRE_MAGIC);
	frame[2] = WIRE_VERSION_MAX;
	frame[3] = 0;
	put_be16(frame + 4, WIRE_OP_SEND);
	put_be32(frame + 6, 9);
	put_be32(frame + 10, WIRE_MAX_REQUEST + 1);
	h_raw_write(fd, frame, sizeof frame);
	ck_assert_int_eq(h_raw_closed(fd, T_WAIT_MS), 1);
	close(fd);

	/* Unknown opcode and a bad field: errors, the connection stays. */
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	put_be16(frame + 4, 0x01EE);
	put_be32(frame + 6, 7);
	put_be32(frame + 10, 0);
	h_raw_write(fd, frame, sizeof frame);
	expect_frame(fd, WIRE_OP_ERROR, 7, &b);
	ck_assert_uint_eq(error_code(&b), WIRE_E_UNKNOWN_OPCODE);
	{
		/* SEND with a body that is not UTF-8, built by hand. */
		struct buf raw;
		buf_init(&raw);
		memset(&s, 0, sizeof s);
		s.client_id = 1;
		s.seq = 1;
		snprintf(s.to, sizeof s.to, "bob");
		snprintf(s.body, sizeof s.body, "x");
		wire_encode(&raw, WIRE_OP_SEND, 8, &s);
		raw.data[raw.len - 1] = 0xFF;	/* the body's only byte */
		h_raw_write(fd, buf_head(&raw), buf_pending(&raw));
		buf_free(&raw);
	}
	expect_frame(fd, WIRE_OP_ERROR, 8, &b);
	ck_assert_uint_eq(error_code(&b), WIRE_E_BAD_FIELD);
	h_raw_send(fd, WIRE_OP_STATUS, 9, &st);
	expect_frame(fd, WIRE_OP_STATUS_INFO, 9, &b);
	/* A response opcode sent as a request. */
	{
		struct wire_OK ok;
		memset(&ok, 0, sizeof ok);
		h_raw_send(fd, WIRE_OP_OK, 10, &ok);
		expect_frame(fd, WIRE_OP_ERROR, 10, &b);
		ck_assert_uint_eq(error_code(&b), WIRE_E_WRONG_PORT);
	}
	close(fd);

	/* The first connection was served all along. */
	h_raw_send(good, WIRE_OP_STATUS, 2, &st);
	expect_frame(good, WIRE_OP_STATUS_INFO, 2, &b);
	close(good);
	buf_free(&b);
	stop_all();
}
END_TEST

/* A connection that never says HELLO is told why and closed. */
START_TEST(test_hello_deadline)
{
	struct buf b;
	int fd;

	ck_assert_int_eq(h_cluster_create(&cl, 1, "hello_timeout_ms 300"), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	buf_init(&b);
	fd = h_raw_connect(cl.r[0].client_port, 0);
	ck_assert_int_ge(fd, 0);
	expect_frame(fd, WIRE_OP_ERROR, 0, &b);
	ck_assert_uint_eq(error_code(&b), WIRE_E_TIMEOUT);
	ck_assert_int_eq(h_raw_closed(fd, T_WAIT_MS), 1);
	close(fd);
	buf_free(&b);
	stop_all();
}
END_TEST

/* A client that never reads its pushes is dropped once its output passes
 * max_output_kb; the sender is never held up by it. How much the kernel's
 * socket buffers absorb first varies, so alice sends in batches until the
 * server's own connection count shows bob gone (at most 40 x 200 KiB). */
START_TEST(test_slow_reader_dropped)
{
	struct wire_STATUS_INFO info;
	struct wire_STATUS st;
	struct wire_SEND m;
	struct buf b;
	uint64_t seq = 0, aseq = 0;
	uint32_t rid = 100;
	int slow, alice, batch, i, dropped = 0;

	ck_assert_int_eq(h_cluster_create(&cl, 1, "max_output_kb 64"), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	buf_init(&b);
	slow = h_raw_connect(cl.r[0].client_port,
	    H_RAW_HELLO | H_RAW_SMALL_RCVBUF);
	ck_assert_int_ge(slow, 0);
	raw_login(slow, "bob", "pb", 0x5105, &seq, &b);
	/* From here on bob reads nothing. */
	alice = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	raw_login(alice, "alice", "pa", 0xA11CE, &aseq, &b);
	memset(&m, 0, sizeof m);
	m.client_id = 0xA11CE;
	snprintf(m.to, sizeof m.to, "bob");
	memset(m.body, 'x', 4000);
	memset(&st, 0, sizeof st);
	for (batch = 0; batch < 40 && !dropped; batch++) {
		for (i = 0; i < 50; i++) {
			m.seq = ++aseq;
			h_raw_send(alice, WIRE_OP_SEND, ++rid, &m);
		}
		for (i = 0; i < 50; i++)
			expect_frame(alice, WIRE_OP_SENT, rid - 49 + (uint32_t)i,
			    &b);
		h_raw_send(alice, WIRE_OP_STATUS, ++rid, &st);
		expect_frame(alice, WIRE_OP_STATUS_INFO, rid, &b);
		ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_STATUS_INFO),
		    buf_head(&b), buf_pending(&b), &info, NULL), 0);
		dropped = info.clients == 1;	/* only alice is left */
	}
	ck_assert_msg(dropped, "slow reader still connected after %d batches",
	    batch);
	/* And the operator is told, at the default level. */
	ck_assert(h_log_contains(&cl, 0, "INFO client ") &&
	    h_log_contains(&cl, 0, "(user bob) dropped: it reads too slowly"));
	/* bob's connection was closed: draining it reaches the end. */
	ck_assert_int_eq(h_raw_closed(slow, T_WAIT_MS), 1);
	close(slow);
	close(alice);
	buf_free(&b);
	stop_all();
}
END_TEST

/* A client that vanishes in the middle of a request (here: while its
 * password is being checked) costs nothing but its connection. */
START_TEST(test_vanishing_client)
{
	struct wire_LOGIN l;
	struct wire_STATUS st;
	struct buf b;
	uint64_t seq = 0;
	int fd, i;

	start_one();
	buf_init(&b);
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	raw_login(fd, "carol", "pc", 0xCA201, &seq, &b);
	close(fd);
	for (i = 0; i < 5; i++) {
		fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
		memset(&l, 0, sizeof l);
		l.client_id = 0xCA202 + (uint64_t)i;
		l.seq = 1;
		snprintf(l.username, sizeof l.username, "carol");
		snprintf(l.password, sizeof l.password, "pc");
		h_raw_send(fd, WIRE_OP_LOGIN, 3, &l);
		close(fd);
	}
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	memset(&st, 0, sizeof st);
	h_raw_send(fd, WIRE_OP_STATUS, 4, &st);
	expect_frame(fd, WIRE_OP_STATUS_INFO, 4, &b);
	close(fd);
	free(run("/login carol pc\n/status\n", 0));
	buf_free(&b);
	stop_all();
}
END_TEST

/* Who is online is derived afresh at start: nobody is stuck online after
 * a crash. Also /status prints what scripts rely on. */
START_TEST(test_online_after_restart)
{
	struct buf b;
	char *out;
	uint64_t seq = 0;
	int fd;

	start_one();
	buf_init(&b);
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	raw_login(fd, "bob", "pb", 0x0B0B, &seq, &b);
	free(run("/register alice pa\n", 0));
	out = run("/login alice pa\n/users\n/status\n", 0);
	expect(out, "bob");
	expect(out, "online");
	expect(out, "replica=1 role=primary primary=1 epoch=");
	free(out);
	ck_assert_int_ne(h_replica_stop(&cl, 0, SIGKILL), -1);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	out = run("/login alice pa\n/users b*\n", 0);
	expect(out, "bob");
	ck_assert_ptr_null(strstr(out, " online"));
	expect(out, "offline");
	free(out);
	close(fd);
	buf_free(&b);
	stop_all();
}
END_TEST

/* RESUME with a token: works while the session lives; refused once it
 * expired (session_ttl_s 10, the shortest allowed, and no activity). */
static int
resume(const uint8_t *token, struct buf *b)
{
	struct wire_RESUME r;
	struct wire_header h;
	int fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);

	ck_assert_int_ge(fd, 0);
	memset(&r, 0, sizeof r);
	r.token.ptr = token;
	r.token.len = CHAT_TOKEN_BYTES;
	h_raw_send(fd, WIRE_OP_RESUME, 2, &r);
	ck_assert_int_eq(h_raw_recv(fd, &h, b, T_WAIT_MS), 0);
	close(fd);
	if (h.opcode == WIRE_OP_SESSION)
		return 0;
	ck_assert_uint_eq(h.opcode, WIRE_OP_ERROR);
	ck_assert_uint_eq(error_code(b), WIRE_E_BAD_TOKEN);
	return -1;
}

START_TEST(test_token_expiry)
{
	struct wire_SESSION sess;
	uint8_t token[CHAT_TOKEN_BYTES];
	struct buf b;
	uint64_t seq = 0;
	int fd, i, expired = 0;

	ck_assert_int_eq(h_cluster_create(&cl, 1, "session_ttl_s 10"), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	buf_init(&b);
	fd = h_raw_connect(cl.r[0].client_port, H_RAW_HELLO);
	raw_login(fd, "dana", "pd", 0xDA7A, &seq, &b);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_SESSION), buf_head(&b),
	    buf_pending(&b), &sess, NULL), 0);
	memcpy(token, sess.token.ptr, sizeof token);
	close(fd);
	ck_assert_int_eq(resume(token, &b), 0);
	/* A wrong token never works. */
	token[0] ^= 1;
	ck_assert_int_eq(resume(token, &b), -1);
	token[0] ^= 1;
	/* Unused, the session ends 10 s after login: probe until it does
	 * (each probe is a fresh connection and does not slide it). */
	for (i = 0; i < 60 && !expired; i++) {
		struct pollfd none;
		expired = resume(token, &b) < 0;
		if (!expired)
			poll(&none, 0, 500);	/* probe period, not a sync */
	}
	ck_assert_msg(expired, "token still accepted after 30 s");
	buf_free(&b);
	stop_all();
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_register_send_read_history,
		test_errors,
		test_live_push_and_receipt,
		test_drafts,
		test_delete_account,
		test_restart_sigterm,
		test_restart_kill9,
		test_retry_is_applied_once,
		test_retry_too_old,
		test_bad_input,
		test_hello_deadline,
		test_slow_reader_dropped,
		test_vanishing_client,
		test_online_after_restart,
		test_token_expiry,
		NULL
	};

	return h_run_tests("single replica", "chat", 120, tests);
}
