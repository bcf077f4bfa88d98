/*
 * check_members.c — live membership changes with tools/chatctl, under
 * client load: a fourth replica added to a running three-replica cluster
 * (chatd --join, an empty store, a snapshot since the log is pruned)
 * enters the ISR and holds every message; removing it and then a backup
 * takes them out of the ISR and the membership, they refuse to serve and
 * say why; the membership survives a full restart; clients see no error
 * throughout (h_sender counts every retry: exactly-once is checked on the
 * stores).
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
#include "net.h"
#include "wire.h"

#define T_MS 15000

static struct h_cluster cl;

/* A failing CHECK shows the cluster. */
static void
on_fail(void)
{
	h_cluster_report(&cl);
}

static int
chatctl(char **out, const char *a1, const char *a2, const char *a3,
	const char *a4, const char *a5)
{
	const char *args[] = { a1, a2, a3, a4, a5, NULL };

	return h_cluster_run(&cl, "tools/chatctl", args, "", out, T_MS);
}

static void
check_chatctl(int want, const char *a1, const char *a2, const char *a3,
	      const char *a4, const char *a5, const char *needle)
{
	char *out = NULL;
	int rc = chatctl(&out, a1, a2, a3, a4, a5);

	CHECK(rc == want && (needle == NULL || strstr(out, needle)),
	    "chatctl %s %s: exit %d (want %d), output:\n%s", a1, a2 ? a2 : "",
	    rc, want, out);
	free(out);
}

/* Poll replica i's STATUS until its note contains needle. */
static int
wait_note(int i, const char *needle)
{
	uint64_t deadline = mono_ms() + T_MS;
	struct h_status st;

	while (mono_ms() < deadline) {
		if (h_status(&cl, i, &st, 1000) == 0 && strstr(st.note, needle))
			return 0;
		poll(NULL, 0, 20);	/* polling an observable state */
	}
	return -1;
}

/* A request on replica i's client port is refused with "removed". */
static void
check_refuses(int i)
{
	struct wire_USERS req;
	struct wire_header h;
	struct buf b;
	int fd = h_raw_connect(cl.r[i].client_port, H_RAW_HELLO);

	CHECK(fd >= 0, "r%u: no connection", cl.r[i].id);
	memset(&req, 0, sizeof req);
	snprintf(req.pattern, sizeof req.pattern, "*");
	buf_init(&b);
	CHECK(h_raw_send(fd, WIRE_OP_USERS, 9, &req) == 0 &&
	    h_raw_recv(fd, &h, &b, T_MS) == 0, "r%u: no answer", cl.r[i].id);
	CHECK(h.opcode == WIRE_OP_ERROR && h.request_id == 9 &&
	    get_be16(buf_head(&b)) == WIRE_E_NOT_PRIMARY &&
	    memmem(buf_head(&b), buf_pending(&b), "removed", 7),
	    "r%u answered %s", cl.r[i].id, wire_op_name(h.opcode));
	buf_free(&b);
	close(fd);
}

static void
dump_check(int i, const struct h_sender *s)
{
	char *d = NULL, who[16];

	snprintf(who, sizeof who, "r%u", cl.r[i].id);
	CHECK(h_store_dump_ex(&cl, i, 0, &d) == 0, "cannot dump %s", who);
	h_check_messages(d, who, s, NULL);
	free(d);
}

START_TEST(test_add_and_remove_under_load)
{
	struct h_sender s1, s2;
	struct h_status st;
	char id4[8], cport[8], iport[8], join[32], bid[8];
	const char *args[3] = { "--join", join, NULL };
	int i, p, n, b, other;

	/* log_keep 0: the new replica's log is long pruned — a snapshot. */
	ck_assert_int_eq(h_cluster_create(&cl, 3, "log_keep 0"), 0);
	p = h_start_all(&cl);

	h_sender_init(&s1, &cl, 0x51, "alice", "pa", "bob", "m-", 8);
	CHECK(h_sender_register(&s1, "bob", "pb", T_MS) == 0, "%s", s1.err);
	CHECK(h_sender_register(&s1, "alice", "pa", T_MS) == 0, "%s", s1.err);
	h_sender_queue(&s1, 600);
	CHECK(h_sender_pump(&s1, 50, T_MS) == 0, "%s", s1.err);

	/* Add replica 4 while messages flow; start it with --join. */
	n = h_replica_add(&cl);
	CHECK(n == 3, "no slot for a fourth replica");
	snprintf(id4, sizeof id4, "%u", cl.r[n].id);
	snprintf(cport, sizeof cport, "%u", cl.r[n].client_port);
	snprintf(iport, sizeof iport, "%u", cl.r[n].internal_port);
	check_chatctl(0, "add", id4, "127.0.0.1", cport, iport, "added");
	/* Past the first batch of stored results (STORE_RESULTS_BATCH
	 * lsns), below which the log may be pruned. */
	CHECK(h_sender_pump(&s1, 300, T_MS) == 0, "%s", s1.err);
	other = (p + 1) % 3;	/* join through any member */
	snprintf(join, sizeof join, "127.0.0.1:%u", cl.r[other].internal_port);
	CHECK(h_replica_start_args(&cl, n, args) == 0, "r4 did not start");
	CHECK(h_sender_pump(&s1, 400, T_MS) == 0, "%s", s1.err);
	CHECK(h_wait_isr(&cl, p, 4, T_MS) == 0, "r4 did not enter the ISR");
	CHECK(h_sender_pump(&s1, s1.n, T_MS) == 0, "%s", s1.err);
	CHECK(h_wait_converged(&cl, p, 4, T_MS) == 0, "not converged");
	CHECK(h_log_contains(&cl, n, "installed the snapshot"),
	    "r4 got no snapshot");
	CHECK(h_status(&cl, n, &st, T_MS) == 0 && st.role == H_ROLE_BACKUP &&
	    h_status_isr_has(&st, 4), "r4 is not an in-sync backup");
	/* No error reached the client: it never had to look for a primary. */
	CHECK(s1.reconnects == 0, "the sender reconnected %d times",
	    s1.reconnects);

	/* Remove replica 4, then a backup, while a second sender writes. */
	h_sender_init(&s2, &cl, 0x52, "alice", "pa", "bob", "n-", 8);
	h_sender_queue(&s2, 200);
	CHECK(h_sender_pump(&s2, 50, T_MS) == 0, "%s", s2.err);
	check_chatctl(0, "remove", id4, NULL, NULL, NULL, "removed");
	CHECK(wait_note(n, "removed from the cluster") == 0,
	    "r4 does not say it was removed");
	check_refuses(n);
	CHECK(h_sender_pump(&s2, 100, T_MS) == 0, "%s", s2.err);
	CHECK(h_status(&cl, p, &st, T_MS) == 0 && st.nisr == 3 &&
	    !h_status_isr_has(&st, 4), "r4 still in the ISR");
	b = other;
	snprintf(bid, sizeof bid, "%u", cl.r[b].id);
	check_chatctl(0, "remove", bid, NULL, NULL, NULL, "removed");
	CHECK(wait_note(b, "removed from the cluster") == 0,
	    "r%u does not say it was removed", cl.r[b].id);
	check_refuses(b);
	CHECK(h_sender_pump(&s2, s2.n, T_MS) == 0, "%s", s2.err);
	CHECK(h_status(&cl, p, &st, T_MS) == 0 && st.nisr == 2 &&
	    !h_status_isr_has(&st, cl.r[b].id), "r%u still in the ISR",
	    cl.r[b].id);
	CHECK(s2.reconnects == 0, "the sender reconnected %d times",
	    s2.reconnects);
	/* Refusals: removing twice, the primary itself, a bad add. */
	check_chatctl(3, "remove", id4, NULL, NULL, NULL, NULL);
	snprintf(bid, sizeof bid, "%u", cl.r[p].id);
	check_chatctl(3, "remove", bid, NULL, NULL, NULL, NULL);
	check_chatctl(3, "add", "9", "127.0.0.1", cport, cport, NULL);

	/* Everything stops; the stored membership holds over replicas.conf:
	 * the removed replicas refuse to start, the others elect. */
	h_cluster_stop_all(&cl, SIGTERM);
	dump_check(n, &s1);	/* removed after s1 was done */
	dump_check(b, &s1);
	for (i = 0; i < 3; i++) {
		if (i == b)
			continue;
		dump_check(i, &s1);
		dump_check(i, &s2);
	}
	CHECK(h_replica_start(&cl, b) != 0, "removed r%u started", cl.r[b].id);
	CHECK(h_log_contains(&cl, b, "was removed from the cluster"),
	    "r%u does not say why it refuses", cl.r[b].id);
	CHECK(h_replica_start(&cl, n) != 0, "removed r4 started");
	for (i = 0; i < 3; i++)
		if (i != b)
			CHECK(h_replica_start(&cl, i) == 0, "r%u did not "
			    "restart", cl.r[i].id);
	p = h_wait_primary(&cl, T_MS);
	CHECK(p >= 0 && h_wait_isr(&cl, p, 2, T_MS) == 0,
	    "the two members did not elect");
	h_sender_free(&s1);
	h_sender_free(&s2);
	h_cluster_destroy(&cl);
}
END_TEST

/* A joined replica restarts from its stored membership (no --join, not in
 * replicas.conf), and elections count it: with the primary killed, the
 * new member is in the round. */
START_TEST(test_joined_restart_and_election)
{
	struct h_sender s;
	struct h_status st;
	char id4[8], cport[8], iport[8], join[32];
	const char *args[3] = { "--join", join, NULL };
	int p, n, np;

	ck_assert_int_eq(h_cluster_create(&cl, 3, NULL), 0);
	p = h_start_all(&cl);
	n = h_replica_add(&cl);
	snprintf(id4, sizeof id4, "%u", cl.r[n].id);
	snprintf(cport, sizeof cport, "%u", cl.r[n].client_port);
	snprintf(iport, sizeof iport, "%u", cl.r[n].internal_port);
	snprintf(join, sizeof join, "127.0.0.1:%u", cl.r[p].internal_port);
	check_chatctl(0, "add", id4, "127.0.0.1", cport, iport, "added");
	CHECK(h_replica_start_args(&cl, n, args) == 0, "r4 did not start");
	CHECK(h_wait_isr(&cl, p, 4, T_MS) == 0, "r4 not in the ISR");

	h_sender_init(&s, &cl, 0x61, "carol", "pc", "dave", "x-", 4);
	CHECK(h_sender_register(&s, "dave", "pd", T_MS) == 0, "%s", s.err);
	CHECK(h_sender_register(&s, "carol", "pc", T_MS) == 0, "%s", s.err);
	h_sender_queue(&s, 40);
	CHECK(h_sender_pump(&s, s.n, T_MS) == 0, "%s", s.err);

	/* Restart r4 without --join: it finds its membership in its store. */
	CHECK(h_replica_stop(&cl, n, SIGTERM) == 0, "r4 did not stop");
	CHECK(h_replica_start(&cl, n) == 0, "r4 did not restart");
	CHECK(h_wait_isr(&cl, p, 4, T_MS) == 0, "r4 not back in the ISR");

	/* The primary dies: the remaining three (r4 among them) elect. */
	CHECK(h_replica_stop(&cl, p, SIGKILL) >= 0, "kill");
	np = h_expect_primary(&cl);	/* and never two of one epoch */
	CHECK(np != p, "r%u still leads", cl.r[p].id);
	CHECK(h_wait_isr(&cl, np, 3, T_MS) == 0, "no ISR of three");
	CHECK(h_status(&cl, np, &st, T_MS) == 0 && h_status_isr_has(&st, 4),
	    "r4 is not in the new ISR");
	h_sender_queue(&s, 10);
	CHECK(h_sender_pump(&s, s.n, T_MS) == 0, "%s", s.err);
	h_sender_free(&s);
	h_cluster_destroy(&cl);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_add_and_remove_under_load,
		test_joined_restart_and_election,
		NULL
	};

	signal(SIGPIPE, SIG_IGN);	/* writes to replicas that went away */
	h_on_fail(on_fail);
	return h_run_tests("membership", "chatctl add/remove", 180, tests);
}
