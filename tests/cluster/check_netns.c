/*
 * check_netns.c — three replicas on three "machines": each chatd runs in
 * its own network namespace with its own address, and the failures of
 * check_failover.c, plus network partitions, are played across them.
 *
 * The network, made fresh for each test (names carry the test run's pid):
 *
 *     PREFIX-r1  eth0 10.77.0.1/24 --veth-- r1 \
 *     PREFIX-r2  eth0 10.77.0.2/24 --veth-- r2  > br0 10.77.0.100/24
 *     PREFIX-r3  eth0 10.77.0.3/24 --veth-- r3 /    in PREFIX-lan
 *
 * PREFIX-lan is the switch (a bridge) and the client's machine: the test
 * process moves into it (setns) before it connects to anything, so its
 * raw clients and the `chat` processes it spawns reach the replicas only
 * through the bridge. Nothing else exists in these namespaces, and no
 * address outside them is ever used. Each chatd is started as
 * `ip netns exec PREFIX-rN chatd -c CONF -i N` (harness exec_prefix); the
 * config lists the three 10.77.0.N addresses, the same two ports on each.
 *
 * A partition unplugs a replica at the switch: its port on the bridge goes
 * down. Frames to and from it vanish without a reset — a partition, not a
 * crash. A client on the cut-off side is the test process for a moment in
 * that replica's namespace (its sockets stay there): see on_side().
 *
 * Clean-up: every process by pid (h_cluster_destroy), every namespace by
 * name, when the test ends or fails (an atexit handler in the forked test),
 * and again in main() after all tests (a test killed by its timeout runs
 * no handler); at the start, namespaces left by an earlier run that
 * crashed (our prefix, a pid no longer alive) are removed.
 *
 * Cases (CK_RUN_CASE picks one): two_failures (the six orders, the
 * scenario of check_failover.c), client (the line client across a
 * failover), partition_min_isr1 / partition_min_isr2 (the primary cut
 * off), partition_backup (a backup cut off, min_isr 1 and 2). What each
 * partition may lose is asserted exactly: see partition() and
 * partition_backup().
 *
 * Needs root and iproute2's `ip netns`; otherwise the suite is one passing
 * check that says it skipped and why.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "h_check.h"
#include "h_run.h"
#include "harness.h"
#include "net.h"
#include "wire.h"

#define T_CUT_MS       5000	/* the cut-off primary acknowledges alone */
#define T_REFUSE_MS    3000	/* how long a refusing side is tried */

#define NS_TAG     "chatdt"	/* PREFIX = NS_TAG + pid of the test run */
#define CLIENT_PORT   7001	/* the same ports on every "machine" */
#define INTERNAL_PORT 7101

static char prefix[32];		/* "chatdt<pid>": this run's namespaces */
static int  net_made;		/* this process made the namespaces */
static struct h_cluster cl;
static const char *const hosts[3] = { "10.77.0.1", "10.77.0.2",
    "10.77.0.3" };

/* ---- running ip ---------------------------------------------------------- */

/* Run argv (argv[0] looked up in PATH unless it has a '/') and wait for it,
 * at most 10 s. 0 if it exited 0. Its stderr is shown unless quiet
 * (clean-up of what may not exist). */
static int
run(const char *const argv[], int quiet)
{
	char *out, *err = NULL;
	int rc = h_run(argv[0], argv, NULL, &out, quiet ? &err : NULL, 10000);

	free(out);
	free(err);
	return rc == 0 ? 0 : -1;
}

/* Run "ip WORDS..." (fmt expands to words separated by single spaces). */
static int ipcmd(int quiet, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
ipcmd(int quiet, const char *fmt, ...)
{
	char line[512], *save = NULL, *w;
	const char *argv[32];
	int n = 0;
	va_list ap;

	argv[n++] = "ip";
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	for (w = strtok_r(line, " ", &save); w && n < 31;
	    w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	return run(argv, quiet);
}

/* Move this process into namespace PREFIX-name (sockets made from now on
 * live there; those made before stay where they were). 0 or -1. */
static int
ns_enter(const char *name)
{
	char path[128];
	int fd, rc;

	snprintf(path, sizeof path, "/run/netns/%s-%s", prefix, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

/* Delete every namespace whose name starts with tag and whose run (the
 * pid after NS_TAG) is ours (mine) or no longer alive (!mine). */
static void
ns_remove(const char *tag, int mine)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;
	char names[64][256];
	int n = 0, k;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < 64) {
		long pid;

		if (strncmp(e->d_name, tag, strlen(tag)) != 0)
			continue;
		pid = strtol(e->d_name + strlen(NS_TAG), NULL, 10);
		if (!mine && pid > 0 && (kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH))
			continue;	/* a run still going */
		snprintf(names[n++], sizeof names[0], "%s", e->d_name);
	}
	closedir(d);
	for (k = 0; k < n; k++)
		ipcmd(1, "netns del %s", names[k]);
}

/* Every process and namespace of this test: by pid, then by name. */
static void
net_destroy(void)
{
	char mine[40];

	h_cluster_destroy(&cl);
	memset(&cl, 0, sizeof cl);
	if (!net_made)
		return;
	net_made = 0;
	snprintf(mine, sizeof mine, "%s-", prefix);
	ns_remove(mine, 1);
}

/* The lan with the bridge and three replica namespaces; the test process
 * moves into the lan. 0 or -1 (what exists is removed). */
static int
net_create(void)
{
	int k, ok;

	net_made = 1;
	ok = ipcmd(0, "netns add %s-lan", prefix) == 0 &&
	    ipcmd(0, "-n %s-lan link set lo up", prefix) == 0 &&
	    ipcmd(0, "-n %s-lan link add br0 type bridge", prefix) == 0 &&
	    ipcmd(0, "-n %s-lan addr add 10.77.0.100/24 dev br0",
	    prefix) == 0 &&
	    ipcmd(0, "-n %s-lan link set br0 up", prefix) == 0;
	for (k = 1; ok && k <= 3; k++)
		ok = ipcmd(0, "netns add %s-r%d", prefix, k) == 0 &&
		    ipcmd(0, "-n %s-r%d link set lo up", prefix, k) == 0 &&
		    ipcmd(0, "-n %s-lan link add r%d type veth peer name "
		    "eth0 netns %s-r%d", prefix, k, prefix, k) == 0 &&
		    ipcmd(0, "-n %s-lan link set r%d master br0 up", prefix,
		    k) == 0 &&
		    ipcmd(0, "-n %s-r%d addr add %s/24 dev eth0", prefix, k,
		    hosts[k - 1]) == 0 &&
		    ipcmd(0, "-n %s-r%d link set eth0 up", prefix, k) == 0;
	if (ok && ns_enter("lan") == 0)
		return 0;
	net_destroy();
	return -1;
}

/* Unplug (up = 0) or plug in replica i's cable at the switch. */
static int
net_link(int i, int up)
{
	return ipcmd(0, "-n %s-lan link set r%d %s", prefix, i + 1,
	    up ? "up" : "down");
}

/* A failing CHECK shows the cluster as seen from the lan, then removes
 * it and the namespaces. */
static void
on_fail(void)
{
	ns_enter("lan");
	h_cluster_report(&cl);
	net_destroy();
}

/* ---- building blocks ------------------------------------------------------ */

/* The network and three replicas (extra: more config lines), each in its
 * namespace, a key made as an operator would (chatd --gen-key), a primary
 * with all three in its ISR. Returns the primary. */
static int
start_cluster(const char *extra)
{
	char key[600], cmd[700];
	int i;

	atexit(net_destroy);	/* also when a check fails (Check exits) */
	CHECK(net_create() == 0, "cannot make the network namespaces");
	CHECK(h_cluster_create_hosts(&cl, 3, hosts, CLIENT_PORT,
	    INTERNAL_PORT, extra) == 0, "cannot create the cluster");
	snprintf(key, sizeof key, "%s/cluster.key", cl.dir);
	h_bin_path("chatd", cmd, sizeof cmd);
	{
		const char *argv[] = { cmd, "--gen-key", key, NULL };

		CHECK(run(argv, 0) == 0, "%s --gen-key %s failed", cmd, key);
	}
	for (i = 0; i < 3; i++)
		snprintf(cl.r[i].exec_prefix, sizeof cl.r[i].exec_prefix,
		    "ip netns exec %s-r%d", prefix, i + 1);
	return h_start_all(&cl);
}

/* ---- 1. two failures across machines, in each of the six orders ---------- */

/* check_failover.c's scenario (harness scenario.c), over the bridge. */
START_TEST(test_two_failures)
{
	fprintf(stderr, "netns two failures: %s\n", h_order_name(_i));
	h_two_failures(&cl, start_cluster(NULL), _i, 0x50000 + (uint64_t)_i);
	net_destroy();
}
END_TEST

/* ---- 2. the line client from the lan, across a failover ------------------ */

START_TEST(test_client_across_machines)
{
	h_client_failover(&cl, start_cluster(NULL));
	net_destroy();
}
END_TEST

/* ---- 3. a partition: the primary cut off from both backups ---------------- */

/* Move into replica i's namespace (i < 0: back to the lan), or fail. */
static void
enter(int i)
{
	char name[16];

	if (i < 0)
		snprintf(name, sizeof name, "lan");
	else
		snprintf(name, sizeof name, "r%d", i + 1);
	CHECK(ns_enter(name) == 0, "cannot enter %s-%s", prefix, name);
}

/* Run h_sender_pump for a client on the cut-off replica's side: from its
 * namespace (the sender's socket is made, or already lives, there). */
static int
on_side(int i, struct h_sender *s, int want, int timeout_ms)
{
	int rc;

	enter(i);
	rc = h_sender_pump(s, want, timeout_ms);
	enter(-1);
	return rc;
}

/* Poll the STATUS of cut-off replica i, from its own namespace, until
 * its role is `role` and (nisr > 0) its ISR has nisr members; at most
 * H_ELECT_MS. 0 with the last STATUS in *st, or -1. */
static int
status_inside(int i, int role, unsigned nisr, struct h_status *st)
{
	uint64_t deadline = mono_ms() + H_ELECT_MS;
	struct h_cluster view = cl;
	int rc;

	view.r[i].cut = 0;
	enter(i);
	do {
		rc = h_status(&view, i, st, 2000);
		if (rc == 0 && st->role == role && (nisr == 0 ||
		    st->nisr == nisr))
			break;
		rc = -1;
		poll(NULL, 0, 20);	/* polling STATUS */
	} while (mono_ms() < deadline);
	enter(-1);
	return rc;
}

/* A LOGIN on replica i from replica i's namespace: 0 for a session, the
 * error code of an ERROR, -1 for anything else or no answer in 3 s. */
static int
login_answer(const struct h_cluster *c, int i, const char *user,
	     const char *pw)
{
	struct wire_LOGIN l;
	struct wire_ERROR e;
	struct wire_header h;
	struct buf b;
	int fd, rc = -1;

	enter(i);
	fd = h_raw_connect_replica(c, i, H_RAW_HELLO);
	enter(-1);
	if (fd < 0)
		return -1;
	memset(&l, 0, sizeof l);
	l.client_id = 0x62000;
	l.seq = 1;
	snprintf(l.username, sizeof l.username, "%s", user);
	snprintf(l.password, sizeof l.password, "%s", pw);
	buf_init(&b);
	if (h_raw_send(fd, WIRE_OP_LOGIN, 7, &l) == 0 &&
	    h_raw_recv(fd, &h, &b, 3000) == 0 && h.request_id == 7) {
		if (h.opcode == WIRE_OP_SESSION)
			rc = 0;
		else if (h.opcode == WIRE_OP_ERROR &&
		    wire_decode(wire_op(WIRE_OP_ERROR), buf_head(&b),
		    buf_pending(&b), &e, NULL) == 0)
			rc = e.code;
	}
	buf_free(&b);
	close(fd);
	return rc;
}

/*
 * min_isr 1 or 2. The primary A is unplugged from the switch with writes
 * going on both sides, then plugged in again:
 *   - the majority side (B, C) elects a new primary and acknowledges;
 *   - with min_isr 1 the lone A shrinks its ISR to itself and acknowledges
 *     alone; those writes, and exactly those, are lost when A comes back,
 *     steps down and is resynced (its divergent log replaced);
 *   - with min_isr 2 A acknowledges nothing after the cut, so nothing
 *     acknowledged is lost; its client's requests are answered after the
 *     heal, by the new primary, each once.
 * Either way the three stores end identical.
 */
static void
partition(unsigned min_isr)
{
	char extra[32], *lost;
	struct h_sender s1, s2, *ss[2] = { &s1, &s2 };
	struct h_cluster side;
	struct h_status st;
	const char *lostv[2];
	uint64_t t_cut, t_heal, first = 0, last = 0;
	int a, q, k, before, nlost = 0;

	fprintf(stderr, "netns partition, min_isr %u\n", min_isr);
	snprintf(extra, sizeof extra, "min_isr %u", min_isr);
	a = start_cluster(extra);

	/* s1 on the lan; s2 next to A, seeing only A (its view of the
	 * cluster has the others cut off). */
	h_sender_start(&s1, &cl, 0x60000 + min_isr, "lan-", 4);
	CHECK(h_sender_register(&s1, "carol", "pc", H_PHASE_MS) == 0, "%s",
	    s1.err);
	side = cl;
	for (k = 0; k < 3; k++)
		side.r[k].cut = k != a;
	h_sender_init(&s2, &side, 0x61000 + min_isr, "carol", "pc", "bob",
	    "side-", 4);
	h_send_all(&s1, 20);
	h_sender_queue(&s2, 5);
	CHECK(on_side(a, &s2, 5, H_PHASE_MS) == 0, "%s", s2.err);
	before = s2.nacked;

	/* The cut. The majority elects; A's client keeps writing to A. */
	CHECK(net_link(a, 0) == 0, "cannot unplug r%u", cl.r[a].id);
	t_cut = mono_ms();
	cl.r[a].cut = 1;
	h_sender_queue(&s2, 10);
	k = on_side(a, &s2, s2.n, min_isr == 1 ? T_CUT_MS : T_REFUSE_MS);
	if (min_isr == 1) {
		CHECK(k == 0, "the cut-off primary r%u did not acknowledge "
		    "alone: %s", cl.r[a].id, s2.err);
	} else {
		CHECK(s2.nacked == before, "the cut-off primary r%u "
		    "acknowledged %d writes with min_isr %u", cl.r[a].id,
		    s2.nacked - before, min_isr);
		/* A LOGIN is a write: refused. The refusal itself waits
		 * behind the records no one acknowledges (server.c answers
		 * in commit order), so the client sees no answer at all. */
		k = login_answer(&side, a, "carol", "pc");
		CHECK(k != 0 && h_log_contains(&cl, a, "UNAVAILABLE: only 1 "
		    "in-sync replicas, min_isr is 2"), "a LOGIN on the "
		    "cut-off r%u got %s", cl.r[a].id, k < 0 ? "no answer" :
		    k == 0 ? "a session" : wire_err_name((uint16_t)k));
	}
	/* A still believes it leads (nothing told it otherwise). */
	CHECK(status_inside(a, H_ROLE_PRIMARY, 1, &st) == 0, "r%u on its own "
	    "is not a primary with an ISR of itself (role %d, ISR of %u)",
	    cl.r[a].id, st.role, st.nisr);
	fprintf(stderr, "  cut off, r%u: primary of epoch %" PRIu64 ", ISR "
	    "of %u, %d acknowledged on its side\n", cl.r[a].id, st.epoch,
	    st.nisr, s2.nacked - before);

	q = h_expect_primary(&cl);
	CHECK(q != a, "r%u is primary on both sides", cl.r[a].id);
	fprintf(stderr, "  majority: r%u primary (seen %llu ms after the cut, "
	    "once the side's writes were done)\n", cl.r[q].id,
	    (unsigned long long)(mono_ms() - t_cut));
	h_send_all(&s1, 20);

	/* Heal: A hears of the newer epoch, steps down, is resynced. */
	CHECK(net_link(a, 1) == 0, "cannot plug r%u in", cl.r[a].id);
	t_heal = mono_ms();
	cl.r[a].cut = 0;
	k = h_expect_primary(&cl);
	CHECK(k == q, "after the heal r%u leads, not r%u", cl.r[k].id,
	    cl.r[q].id);
	h_expect_isr(&cl, q, 3);
	fprintf(stderr, "  healed: r%u follows r%u, ISR of 3 after %llu ms\n",
	    cl.r[a].id, cl.r[q].id, (unsigned long long)(mono_ms() - t_heal));
	CHECK(h_log_contains(&cl, a, "stepping down as primary"),
	    "r%u never said it stepped down", cl.r[a].id);
	/* Its log diverged (records of the old epoch after the cut): the
	 * new primary replaced it with a snapshot. */
	CHECK(h_log_contains(&cl, q, "is not a prefix of ours"),
	    "r%u did not resync r%u with a snapshot", cl.r[q].id, cl.r[a].id);
	h_send_all(&s1, 10);
	/* s2's client comes over to the lan and retries what is open. */
	s2.c = &cl;
	h_sender_drop(&s2);
	CHECK(h_sender_pump(&s2, s2.n, H_PHASE_MS) == 0, "%s", s2.err);

	/* Lost: what A acknowledged after the cut — with min_isr 2, none. */
	lost = calloc((size_t)s2.n + 1, 1);
	ck_assert_ptr_nonnull(lost);
	for (k = 1; k <= s2.n; k++) {
		const struct h_msg *m = &s2.m[k];

		if (m->state == H_MSG_ACKED && m->acked_by == a &&
		    m->acked_at >= t_cut && m->acked_at < t_heal) {
			lost[k] = 1;
			nlost++;
			first = first ? first : m->acked_at - t_cut;
			last = m->acked_at - t_cut;
		}
	}
	if (min_isr == 1) {
		CHECK(nlost == 10, "%d acknowledged by the cut-off r%u, "
		    "expected 10", nlost, cl.r[a].id);
		fprintf(stderr, "  lost (acknowledged by r%u alone, %llu-%llu "
		    "ms after the cut):", cl.r[a].id, (unsigned long long)first,
		    (unsigned long long)last);
		for (k = 1; k <= s2.n; k++)
			if (lost[k])
				fprintf(stderr, " side-%d", k);
		fprintf(stderr, "\n");
	} else {
		CHECK(nlost == 0, "%d acknowledged by the cut-off r%u", nlost,
		    cl.r[a].id);
	}
	lostv[0] = NULL;
	lostv[1] = lost;
	h_finish(&cl, q, ss, 2, lostv, NULL);
	fprintf(stderr, "  stores identical; lan: %d acknowledged, all there "
	    "once; side: %d acknowledged, %d lost\n", s1.nacked, s2.nacked,
	    nlost);
	free(lost);
	h_sender_free(&s1);
	h_sender_free(&s2);
	net_destroy();
}

/*
 * A backup C cut off instead, with writes on the majority side. Alone, C
 * hears no primary:
 *   - with min_isr 1 it elects itself (silence looks like a crash); its
 *     new epoch makes its log the freshest, so when the network heals it
 *     leads and the others are resynced to it: every write the majority
 *     acknowledged during the partition is lost, though C acknowledged
 *     nothing. The test records exactly that;
 *   - with min_isr 2 it does not elect itself (one replica reachable,
 *     fewer than min_isr) and waits; nothing acknowledged is lost.
 */
static void
partition_backup(unsigned min_isr)
{
	char extra[32], *lost = NULL;
	const char *lostv[1];
	struct h_sender s1, *ss = &s1;
	struct h_status st;
	int p, c, q, k, nlost = 0;
	uint64_t t_cut, t_heal;

	fprintf(stderr, "netns partition of a backup, min_isr %u\n", min_isr);
	snprintf(extra, sizeof extra, "min_isr %u", min_isr);
	p = start_cluster(extra);
	c = h_other_than(&cl, p, -1);
	h_sender_start(&s1, &cl, 0x63000 + min_isr, "lan-", 4);
	h_send_all(&s1, 20);

	CHECK(net_link(c, 0) == 0, "cannot unplug r%u", cl.r[c].id);
	t_cut = mono_ms();
	cl.r[c].cut = 1;
	h_send_all(&s1, 20);
	q = h_expect_primary(&cl);
	CHECK(q == p, "the primary moved from r%u to r%u", cl.r[p].id,
	    cl.r[q].id);
	h_expect_isr(&cl, q, 2);
	fprintf(stderr, "  r%u cut off; r%u primary with an ISR of 2 after "
	    "%llu ms\n", cl.r[c].id, cl.r[q].id,
	    (unsigned long long)(mono_ms() - t_cut));
	h_send_all(&s1, 20);

	/* What C made of it, asked from its own side. */
	k = status_inside(c, min_isr == 1 ? H_ROLE_PRIMARY : H_ROLE_WAITING,
	    0, &st);
	fprintf(stderr, "  alone, r%u: %s, epoch %" PRIu64 ", log (%" PRIu64
	    ",%" PRIu64 "), note \"%s\"\n", cl.r[c].id, st.role ==
	    H_ROLE_PRIMARY ? "primary" : st.role == H_ROLE_WAITING ?
	    "waiting" : "other", st.epoch, st.last_epoch, st.last_lsn,
	    st.note);
	CHECK(k == 0 && (min_isr == 1 || strstr(st.note, "no election")),
	    "r%u alone is not %s", cl.r[c].id, min_isr == 1 ? "primary" :
	    "waiting, holding no election");

	CHECK(net_link(c, 1) == 0, "cannot plug r%u in", cl.r[c].id);
	t_heal = mono_ms();
	cl.r[c].cut = 0;
	q = h_expect_full_isr(&cl);
	fprintf(stderr, "  healed: r%u primary, ISR of 3 after %llu ms\n",
	    cl.r[q].id, (unsigned long long)(mono_ms() - t_heal));
	/* min_isr 1: C's epoch wins. min_isr 2: C promised nothing new, so
	 * it just follows the primary it finds. */
	CHECK(q == (min_isr == 1 ? c : p), "r%u leads after the heal, not "
	    "r%u", cl.r[q].id, cl.r[min_isr == 1 ? c : p].id);
	h_send_all(&s1, 10);

	/* With min_isr 1: lost is what was acknowledged during the cut. */
	if (min_isr == 1) {
		lost = calloc((size_t)s1.n + 1, 1);
		ck_assert_ptr_nonnull(lost);
		for (k = 1; k <= s1.n; k++)
			if (s1.m[k].state == H_MSG_ACKED &&
			    s1.m[k].acked_at >= t_cut &&
			    s1.m[k].acked_at < t_heal) {
				lost[k] = 1;
				nlost++;
			}
		CHECK(nlost == 40, "%d acknowledged during the cut, not 40",
		    nlost);
		fprintf(stderr, "  lost: lan-21..lan-60, acknowledged by r%u "
		    "(ISR of 2) during the partition\n", cl.r[p].id);
	}
	lostv[0] = lost;
	h_finish(&cl, q, &ss, 1, lostv, NULL);
	fprintf(stderr, "  stores identical; %d acknowledged, %d lost\n",
	    s1.nacked, nlost);
	free(lost);
	h_sender_free(&s1);
	net_destroy();
}

START_TEST(test_partition_backup)
{
	partition_backup(_i + 1);
}
END_TEST

START_TEST(test_partition_min_isr1)
{
	partition(1);
}
END_TEST

START_TEST(test_partition_min_isr2)
{
	partition(2);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static const char *skip_reason;

START_TEST(test_skipped)
{
	fprintf(stderr, "check_netns: SKIPPED: %s\n", skip_reason);
}
END_TEST

/* Can this process make namespaces and links? NULL, or why not. */
static const char *
cannot_run(void)
{
	char name[64];
	int ok;

	if (geteuid() != 0)
		return "needs root (network namespaces)";
	snprintf(name, sizeof name, "%s-probe", prefix);
	ok = ipcmd(1, "netns add %s", name) == 0 &&
	    ipcmd(1, "-n %s link add br0 type bridge", name) == 0 &&
	    ipcmd(1, "-n %s link add va type veth peer name vb", name) == 0;
	ipcmd(1, "netns del %s", name);
	return ok ? NULL : "`ip netns` (iproute2) with bridge and veth "
	    "support is not available";
}

#define CASE_S 180	/* seconds each; ASan 3x */

int
main(void)
{
	Suite *s = suite_create("netns");
	int rc;

	signal(SIGPIPE, SIG_IGN);
	h_on_fail(on_fail);
	snprintf(prefix, sizeof prefix, "%s%ld", NS_TAG, (long)getpid());
	skip_reason = cannot_run();
	if (skip_reason) {
		h_add_case(s, "skipped", CASE_S, test_skipped, 0);
	} else {
		ns_remove(NS_TAG, 0);	/* left by a run that crashed */
		h_add_case(s, "two_failures", CASE_S, test_two_failures,
		    H_NORDERS);
		h_add_case(s, "client", CASE_S, test_client_across_machines, 0);
		h_add_case(s, "partition_min_isr1", CASE_S,
		    test_partition_min_isr1, 0);
		h_add_case(s, "partition_min_isr2", CASE_S,
		    test_partition_min_isr2, 0);
		h_add_case(s, "partition_backup", CASE_S, test_partition_backup,
		    2);
	}
	rc = h_run_suite(s);
	{
		char mine[40];

		/* What a test killed at its timeout left. */
		snprintf(mine, sizeof mine, "%s-", prefix);
		ns_remove(mine, 1);
	}
	return rc;
}
