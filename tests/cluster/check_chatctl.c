/*
 * check_chatctl.c — tools/chatctl against real replicas: the operator's
 * handshake on the internal port (HELLO kind 3, AUTH with the cluster
 * key, request ids echoed, versions checked), and `chatctl status` telling
 * the truth about a healthy cluster, a dead backup, a dead primary, a
 * cluster with no primary, and the same in JSON.
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
#include "h_run.h"
#include "harness.h"
#include "net.h"
#include "oplink.h"
#include "wire.h"

#define T_MS 10000

static struct h_cluster cl;
static uint8_t key[AUTH_KEY_BYTES];

static void
start(int n)
{
	int i, p;

	ck_assert_int_eq(h_cluster_create(&cl, n, NULL), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(h_replica_start(&cl, i), 0);
	p = h_wait_primary(&cl, T_MS);
	ck_assert_int_ge(p, 0);
	ck_assert_int_eq(h_wait_isr(&cl, p, n, T_MS), 0);
	ck_assert_int_eq(h_cluster_key(&cl, key), 0);
}

/* Run chatctl with args (after -c CONF); its exit status, output in *out. */
static int
chatctl(char **out, const char *a1, const char *a2)
{
	const char *args[] = { a1, a2, NULL };

	return h_cluster_run(&cl, "tools/chatctl", args, "", out, T_MS);
}

/* ---- a minimal JSON checker: the whole text is one valid value ---------- */

static const char *json_value(const char *p, int depth);

static const char *
ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *
json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && !*++p)
			return NULL;
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *
json_seq(const char *p, int depth, char close, int members)
{
	p = ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (members) {
			if ((p = json_string(ws(p))) == NULL ||
			    *(p = ws(p)) != ':')
				return NULL;
			p++;
		}
		if ((p = json_value(p, depth + 1)) == NULL)
			return NULL;
		p = ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *
json_value(const char *p, int depth)
{
	if (depth > 16)
		return NULL;
	p = ws(p);
	if (*p == '{')
		return json_seq(p, depth, '}', 1);
	if (*p == '[')
		return json_seq(p, depth, ']', 0);
	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		p += *p == '-';
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
		return p;
	}
	return NULL;
}

static int
json_valid(const char *text)
{
	const char *end = json_value(text, 0);

	return end != NULL && *ws(end) == '\0';
}

/* The JSON object of replica id (one line each in chatctl's output). */
static const char *
json_row(const char *out, uint32_t id, char *line, size_t len)
{
	char needle[32];
	const char *p;
	size_t n;

	snprintf(needle, sizeof needle, "{\"id\": %u,", id);
	if ((p = strstr(out, needle)) == NULL)
		return NULL;
	n = strcspn(p, "\n");
	snprintf(line, len, "%.*s", (int)n, p);
	return line;
}

/* Poll `chatctl --json status` until replica id's row contains want (and
 * the exit status is rc). 0, or -1 after T_MS (the last output printed). */
static int
wait_row(uint32_t id, const char *want, int rc)
{
	uint64_t deadline = mono_ms() + T_MS;
	char *out = NULL, line[2048];
	int got = -1;

	while (mono_ms() < deadline) {
		free(out);
		got = chatctl(&out, "--json", "status");
		if (got == rc && json_valid(out) && json_row(out, id, line,
		    sizeof line) && strstr(line, want)) {
			free(out);
			return 0;
		}
		poll(NULL, 0, 50);	/* polling an observable state */
	}
	fprintf(stderr, "replica %u never showed %s (exit %d):\n%s\n", id,
	    want, got, out ? out : "");
	free(out);
	return -1;
}

/* ---- the operator's handshake ------------------------------------------- */

/* hello with request id rid on a new connection to replica 1's internal
 * port; its answer in *h and b. Returns the connection. */
static int
hello_answer(const struct wire_HELLO *hello, uint32_t rid,
	     struct wire_header *h, struct buf *b)
{
	int fd = h_raw_connect(cl.r[0].internal_port, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(h_raw_send(fd, WIRE_OP_HELLO, rid, hello), 0);
	ck_assert_int_eq(h_raw_recv(fd, h, b, T_MS), 0);
	return fd;
}

START_TEST(test_operator_handshake)
{
	struct wire_ADMIN_STATUS req;
	struct wire_HELLO hello;
	struct wire_header h;
	struct oplink l;
	struct buf b;
	char err[256];
	uint8_t wrong[AUTH_KEY_BYTES], nonce[32];
	int fd;

	start(3);
	/* The real key: HELLO and AUTH, then a sealed request answered
	 * with its own request id. */
	ck_assert_int_eq(oplink_open(&l, "127.0.0.1", cl.r[1].internal_port,
	    key, T_MS, err, sizeof err), 0);
	ck_assert_uint_eq(l.replica_id, 2);
	memset(&req, 0, sizeof req);
	ck_assert_int_eq(oplink_call(&l, WIRE_OP_ADMIN_STATUS, &req, err,
	    sizeof err), 0);
	ck_assert_uint_eq(l.h.opcode, WIRE_OP_ADMIN_STATUS_INFO);
	ck_assert_uint_eq(l.h.request_id, 3);
	oplink_close(&l);

	/* Another key: refused, and the tool says the key is wrong. */
	memcpy(wrong, key, sizeof wrong);
	wrong[0] ^= 1;
	ck_assert_int_eq(oplink_open(&l, "127.0.0.1", cl.r[1].internal_port,
	    wrong, T_MS, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "NOT_AUTHORIZED") && strstr(err,
	    "wrong cluster key"), "%s", err);

	/* The HELLO answer echoes the request id; no common version is
	 * BAD_VERSION with that id; an operator claiming an id is refused. */
	buf_init(&b);
	memset(nonce, 7, sizeof nonce);
	memset(&hello, 0, sizeof hello);
	hello.version_min = WIRE_VERSION_MIN;
	hello.version_max = WIRE_VERSION_MAX;
	hello.kind = 3;
	hello.nonce.ptr = nonce;
	hello.nonce.len = sizeof nonce;
	fd = hello_answer(&hello, 4242, &h, &b);
	ck_assert_uint_eq(h.opcode, WIRE_OP_HELLO);
	ck_assert_uint_eq(h.request_id, 4242);
	close(fd);

	hello.version_min = hello.version_max = WIRE_VERSION_MAX + 1;
	fd = hello_answer(&hello, 77, &h, &b);
	ck_assert_uint_eq(h.opcode, WIRE_OP_ERROR);
	ck_assert_uint_eq(h.request_id, 77);
	ck_assert_uint_eq(get_be16(buf_head(&b)), WIRE_E_BAD_VERSION);
	ck_assert(h_raw_closed(fd, T_MS));
	close(fd);

	hello.version_min = hello.version_max = WIRE_VERSION_MAX;
	hello.replica_id = 2;
	fd = hello_answer(&hello, 5, &h, &b);
	ck_assert_uint_eq(h.opcode, WIRE_OP_ERROR);
	ck_assert_uint_eq(get_be16(buf_head(&b)), WIRE_E_NOT_AUTHORIZED);
	close(fd);
	buf_free(&b);
	h_cluster_destroy(&cl);
}
END_TEST

/* ---- status --------------------------------------------------------------- */

START_TEST(test_status_truth)
{
	char *out = NULL, line[2048], want[64];
	struct h_status st;
	int p, b, i, np;

	start(3);
	p = h_wait_primary(&cl, T_MS);
	ck_assert_int_ge(p, 0);
	ck_assert_int_eq(h_wait_converged(&cl, p, 3, T_MS), 0);

	/* Healthy: the table shows every replica reachable and in the ISR,
	 * the primary as primary; exit 0. */
	ck_assert_int_eq(chatctl(&out, "status", NULL), 0);
	ck_assert_int_eq(h_count(out, "  yes\n"), 3);
	ck_assert_int_eq(h_count(out, " primary "), 1);
	ck_assert_int_eq(h_count(out, " backup "), 2);
	free(out);
	ck_assert_int_eq(chatctl(&out, "--json", "status"), 0);
	ck_assert_msg(json_valid(out), "not JSON:\n%s", out);
	snprintf(want, sizeof want, "{\"primary\": %u,", cl.r[p].id);
	ck_assert_msg(strstr(out, want), "%s", out);
	ck_assert_int_eq(h_status(&cl, p, &st, T_MS), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(json_row(out, cl.r[i].id, line,
		    sizeof line));
		ck_assert_msg(strstr(line, "\"reachable\": true") &&
		    strstr(line, "\"in_isr\": true") &&
		    strstr(line, "\"lag\": 0,"), "%s", line);
		snprintf(want, sizeof want, "\"last_lsn\": %llu,",
		    (unsigned long long)st.last_lsn);
		ck_assert_msg(strstr(line, want), "%s / %s", line, want);
		snprintf(want, sizeof want, "\"role\": \"%s\"",
		    i == p ? "primary" : "backup");
		ck_assert_msg(strstr(line, want), "%s", line);
	}
	free(out);

	/* A backup killed: unreachable, then (once the primary noticed)
	 * out of the ISR as "down"; still exit 0. */
	b = (p + 1) % 3;
	ck_assert_int_ge(h_replica_stop(&cl, b, SIGKILL), 0);
	ck_assert_int_eq(wait_row(cl.r[b].id, "\"reachable\": false, "
	    "\"member\": true, \"in_isr\": false, \"isr_state\": \"down\"",
	    0), 0);

	/* The primary killed: the survivor takes over, and status names it. */
	ck_assert_int_ge(h_replica_stop(&cl, p, SIGKILL), 0);
	np = h_wait_primary(&cl, T_MS);
	ck_assert_int_ge(np, 0);
	ck_assert_int_ne(np, p);
	ck_assert_int_eq(wait_row(cl.r[np].id, "\"role\": \"primary\"", 0), 0);
	ck_assert_int_eq(chatctl(&out, "--json", "status"), 0);
	snprintf(want, sizeof want, "{\"primary\": %u,", cl.r[np].id);
	ck_assert_msg(strstr(out, want), "%s", out);
	ck_assert_ptr_nonnull(json_row(out, cl.r[p].id, line, sizeof line));
	ck_assert_msg(strstr(line, "\"reachable\": false"), "%s", line);
	free(out);

	/* Nobody left: no primary answers, exit 1. */
	ck_assert_int_ge(h_replica_stop(&cl, np, SIGKILL), 0);
	ck_assert_int_eq(chatctl(&out, "status", NULL), 1);
	ck_assert_msg(strstr(out, "no primary answered"), "%s", out);
	free(out);
	h_cluster_destroy(&cl);
}
END_TEST

/* A replica restarted alone after all stopped waits for the others (rule
 * 4) — and status says for whom, and exits 1. */
START_TEST(test_status_waiting)
{
	char *out = NULL, want[64];
	int p;

	start(3);
	p = h_wait_primary(&cl, T_MS);
	ck_assert_int_ge(p, 0);
	ck_assert_int_eq(h_wait_converged(&cl, p, 3, T_MS), 0);
	/* All at once: nobody sees the others go (the ISR stays whole). */
	ck_assert_int_eq(h_cluster_stop_quiescent(&cl, p, SIGTERM), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	ck_assert_int_eq(wait_row(1, "\"isr_state\": \"waiting for replica ",
	    1), 0);
	ck_assert_int_eq(chatctl(&out, "status", NULL), 1);
	snprintf(want, sizeof want, "waiting for replica ");
	ck_assert_msg(strstr(out, want), "%s", out);
	free(out);
	h_cluster_destroy(&cl);
}
END_TEST

/* All three stop; two come back and wait for the third (gone for good).
 * force-primary asks first and does nothing without "yes"; with --yes
 * the forced replica leads, the other follows, and the data is there. */
START_TEST(test_force_primary)
{
	const char *ask[] = { "force-primary", "1", NULL };
	const char *yes[] = { "--yes", "force-primary", "1", NULL };
	char *out = NULL;
	int p;

	start(3);
	p = h_wait_primary(&cl, T_MS);
	ck_assert_int_ge(p, 0);
	ck_assert_int_eq(h_chat_run(&cl, "/register ann pa\n/register ben "
	    "pb\n/login ann pa\n/msg ben kept across the force\n", &out,
	    T_MS), 0);
	free(out);
	ck_assert_int_eq(h_wait_converged(&cl, p, 3, T_MS), 0);
	/* All at once: nobody sees the others go (the ISR stays whole). */
	ck_assert_int_eq(h_cluster_stop_quiescent(&cl, p, SIGTERM), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	ck_assert_int_eq(h_replica_start(&cl, 1), 0);
	ck_assert_int_eq(wait_row(1, "\"isr_state\": \"waiting for replica "
	    "3\"", 1), 0);

	/* Asked, not confirmed: nothing happens. */
	ck_assert_int_eq(h_cluster_run(&cl, "tools/chatctl", ask, "no\n", &out,
	    T_MS), 3);
	ck_assert_msg(strstr(out, "LOST") && strstr(out, "Type 'yes'"), "%s",
	    out);
	free(out);
	ck_assert_int_eq(chatctl(&out, "status", NULL), 1);
	free(out);

	/* Forced: replica 1 leads, replica 2 follows, 3 shows as down. */
	ck_assert_int_eq(h_cluster_run(&cl, "tools/chatctl", yes, "", &out,
	    T_MS), 0);
	ck_assert_msg(strstr(out, "replica 1 is primary of epoch"), "%s", out);
	free(out);
	ck_assert_int_eq(h_wait_primary(&cl, T_MS), 0);
	ck_assert_int_eq(wait_row(3, "\"isr_state\": \"down\"", 0), 0);
	ck_assert_int_eq(h_chat_run(&cl, "/login ben pb\n/read\n", &out,
	    T_MS), 0);
	ck_assert_msg(strstr(out, "kept across the force"), "%s", out);
	free(out);

	/* With a primary, force-primary refuses. */
	ck_assert_int_eq(h_cluster_run(&cl, "tools/chatctl", yes, "", &out,
	    T_MS), 3);
	free(out);
	h_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_usage)
{
	const char *help[] = { "chatctl", "--help", NULL };
	const char *bad[] = { "chatctl", "frobnicate", NULL };
	const char *nokey[] = { "chatctl", "-c", "/nonexistent/replicas.conf",
	    "status", NULL };
	char *out = NULL;

	ck_assert_int_eq(h_run_bin("tools/chatctl", help, "", &out, T_MS), 0);
	ck_assert_msg(strstr(out, "usage: chatctl") && strstr(out,
	    "force-primary"), "%s", out);
	free(out);
	ck_assert_int_eq(h_run_bin("tools/chatctl", bad, "", &out, T_MS), 2);
	free(out);
	ck_assert_int_eq(h_run_bin("tools/chatctl", nokey, "", &out, T_MS), 3);
	free(out);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_usage,
		test_operator_handshake,
		test_status_truth,
		test_status_waiting,
		test_force_primary,
		NULL
	};

	signal(SIGPIPE, SIG_IGN);	/* writes to replicas that went away */
	return h_run_tests("chatctl", "status", 120, tests);
}
