/*
 * check_failover.c — three real replicas on loopback, failures injected by
 * signal (kill -9, SIGTERM, SIGSTOP/SIGCONT), and the guarantees of
 * DESIGN.md §6-7 checked from the outside:
 *
 *   - every acknowledged message exists exactly once, with the id its
 *     acknowledgement carried, after any failure the cluster is built to
 *     survive (f failures with f+1 replicas);
 *   - the replicas' stores end identical (store_dump, log included);
 *   - a restarted replica that may lack acknowledged writes waits (rule 4);
 *   - a paused primary steps down without acknowledging anything.
 *
 * Clients are raw (harness.c's h_sender): a fixed client_id, increasing
 * seq, and after a failover every unanswered request is re-sent with its
 * original (client_id, seq), as PROTOCOL.md §6 tells a real client to do.
 * So the test knows exactly which messages were acknowledged.
 *
 * Each test starts its own cluster and destroys it. Waits are on STATUS
 * (polled every 20 ms) or on answers, always with a deadline; nothing
 * sleeps to synchronise. The bounds are generous for ASan (~3x slower);
 * the times actually measured are printed. On a failure the cluster's
 * STATUS, each replica's recent events and log tail are printed
 * (CHATD_KEEP_TEST_DIR=1 keeps the directory).
 *
 * One Check case per scenario, so CK_RUN_CASE picks one: two_failures,
 * full_stop_sigterm, full_stop_kill9, catch_up, snapshot, retry,
 * must_wait, old_primary, paused_primary, paused_primary_lone_backup,
 * paused_backup.
 */
#include <check.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "buf.h"
#include "h_check.h"
#include "harness.h"
#include "net.h"
#include "store.h"
#include "wire.h"

/* What the test asserts about timing, beyond "eventually". The cluster
 * config says election_timeout_ms 500; the margin covers ASan. */
#define FAILOVER_BOUND_MS 3000	/* a paused primary replaced */
#define ISR_SHRINK_BOUND_MS 3000	/* a paused backup leaves the ISR */

static struct h_cluster cl;

/* A failing CHECK shows the cluster, then removes it. */
static void
on_fail(void)
{
	h_cluster_report(&cl);
	h_cluster_destroy(&cl);
}

/* ---- building blocks ---------------------------------------------------- */

/* Three replicas, a primary, everyone in its ISR. Returns the primary. */
static int
start_cluster(void)
{
	ck_assert_int_eq(h_cluster_create(&cl, 3, NULL), 0);
	return h_start_all(&cl);
}

static void
start_replica(int i)
{
	CHECK(h_replica_start(&cl, i) == 0, "r%u did not restart", cl.r[i].id);
}

static void
kill_replica(int i, int sig)
{
	CHECK(h_replica_stop(&cl, i, sig) != -1, "r%u did not stop",
	    cl.r[i].id);
}

/* The end of most tests: a primary with all three in its ISR, `more`
 * messages sent, h_finish with s alone; then s and the cluster go. */
static void
finish(struct h_sender *s, int more)
{
	int q = h_expect_full_isr(&cl);

	h_send_all(s, more);
	h_finish(&cl, q, &s, 1, NULL, NULL);
	h_sender_free(s);
	h_cluster_destroy(&cl);
}

/* ---- reading dumps -------------------------------------------------------- */

/* The log records made for (client_id, seq): how many, and the epoch of
 * the last. */
static int
log_records_for(const char *dump, uint64_t client_id, uint64_t seq,
		uint64_t *epoch)
{
	char needle[80];
	const char *p = dump;
	int n = 0;

	snprintf(needle, sizeof needle, " client_id=%" PRIu64 " seq=%" PRIu64
	    " ", client_id, seq);
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const char *hit;

		if (strncmp(p, "log lsn=", 8) == 0 &&
		    (hit = strstr(p, needle)) != NULL && hit < p + len) {
			const char *ep = strstr(p, " epoch=");
			n++;
			if (ep && ep < p + len)
				*epoch = strtoull(ep + 7, NULL, 10);
		}
		p += len + (e != NULL);
	}
	return n;
}

/* ---- 1. two failures, in each of the six orders ------------------------- */

/* The scenario (harness scenario.c) is shared with check_netns.c. */
static void
two_failures(int k)
{
	fprintf(stderr, "two failures: %s\n", h_order_name(k));
	h_two_failures(&cl, start_cluster(), k, 0x10000 + (uint64_t)k);
	h_cluster_destroy(&cl);
}

START_TEST(test_two_failures)
{
	two_failures(_i);
}
END_TEST

/* ---- 2. full stop and restart ---------------------------------------------- */

static void
full_stop(int sig)
{
	struct h_sender s;
	int p;

	p = start_cluster();
	(void)p;
	h_sender_start(&s, &cl, 0x20000 + (uint64_t)sig, "m-", 8);
	h_send_all(&s, 50);
	h_sender_drop(&s);
	/* All three at once, as an operator (or a power cut) would. */
	h_cluster_stop_all(&cl, sig);
	start_replica(0);
	start_replica(1);
	start_replica(2);
	finish(&s, 10);
}

START_TEST(test_full_stop_sigterm)
{
	full_stop(SIGTERM);
}
END_TEST

START_TEST(test_full_stop_kill9)
{
	full_stop(SIGKILL);
}
END_TEST

/* ---- 3. catch-up ------------------------------------------------------------- */

/* A backup stopped while 10,000 messages are written (256 in flight, the
 * client port's limit) catches up from its log position and rejoins. */
START_TEST(test_catch_up_10000)
{
	struct h_sender s;
	char needle[64];
	int p, x;
	uint64_t t0;

	p = start_cluster();
	x = h_other_than(&cl, p, -1);
	h_sender_start(&s, &cl, 0x30000, "m-", 256);
	h_send_all(&s, 10);
	kill_replica(x, SIGTERM);
	h_expect_isr(&cl, p, 2);
	t0 = mono_ms();
	h_send_all(&s, 10000);
	fprintf(stderr, "catch-up: 10000 messages acknowledged in %llu ms\n",
	    (unsigned long long)(mono_ms() - t0));
	t0 = mono_ms();
	start_replica(x);
	CHECK(h_wait_primary(&cl, H_ELECT_MS) == p, "r%u no longer leads",
	    cl.r[p].id);
	h_expect_isr(&cl, p, 3);
	fprintf(stderr, "catch-up: r%u back in the ISR %llu ms after its "
	    "restart\n", cl.r[x].id, (unsigned long long)(mono_ms() - t0));
	/* Its log is a prefix of the primary's: streamed, no snapshot. */
	CHECK(!h_log_contains(&cl, p, "sending a snapshot"),
	    "r%u was sent a snapshot instead of its missing records",
	    cl.r[x].id);
	/* The primary's log tells where the catch-up started and ended. */
	snprintf(needle, sizeof needle, "replica %u catches up from lsn",
	    cl.r[x].id);
	CHECK(h_log_contains(&cl, p, needle), "no '%s' line", needle);
	snprintf(needle, sizeof needle, "replica %u caught up to lsn",
	    cl.r[x].id);
	CHECK(h_log_contains(&cl, p, needle), "no '%s' line", needle);
	finish(&s, 0);
}
END_TEST

/* Poll a replica's log for a line (observable state, bounded). */
static int
wait_log(int i, const char *needle, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	while (!h_log_contains(&cl, i, needle)) {
		if (mono_ms() >= end)
			return -1;
		poll(NULL, 0, 20);
	}
	return 0;
}

/* A backup that stopped before the primary pruned its log past it
 * (log_keep 10) gets a snapshot, rejoins, and holds the same state. The
 * logs themselves may differ (each replica prunes its own). */
START_TEST(test_catch_up_past_pruned_log)
{
	struct h_sender s, *ss = &s;
	char needle[64];
	int p, x;

	ck_assert_int_eq(h_cluster_create(&cl, 3, "log_keep 10"), 0);
	p = h_start_all(&cl);
	x = h_other_than(&cl, p, -1);
	h_sender_start(&s, &cl, 0x31000, "m-", 64);
	h_send_all(&s, 10);
	kill_replica(x, SIGTERM);
	h_expect_isr(&cl, p, 2);
	h_send_all(&s, 300);
	CHECK(wait_log(p, "pruned", H_PHASE_MS) == 0,
	    "r%u never pruned its log", cl.r[p].id);
	start_replica(x);
	h_expect_isr(&cl, p, 3);
	CHECK(h_log_contains(&cl, p, "sending a snapshot"),
	    "r%u was not sent a snapshot", cl.r[x].id);
	snprintf(needle, sizeof needle, "snapshot to replica %u: all ",
	    cl.r[x].id);
	CHECK(h_log_contains(&cl, p, needle), "no '%s' line", needle);
	h_send_all(&s, 10);
	cl.logs_pruned = 1;
	h_finish(&cl, p, &ss, 1, NULL, NULL);
	h_sender_free(&s);
	h_cluster_destroy(&cl);
}
END_TEST

/*
 * The snapshot path needs a replica whose last (epoch, lsn) is not in the
 * primary's log: an old primary that committed a record and died before
 * it left (server.c commits a turn's records in before_sleep and writes
 * the APPEND to the socket only after). Killing a process inside that
 * window cannot be aimed, and pausing the primary is no dependable
 * substitute: whether it logs anything after it continues depends on
 * what its peers managed to send it meanwhile (tests 7 and 7b). So the
 * test makes that crash state
 * directly: kill -9 the primary, then append to its stopped store one
 * record of its epoch, as if committed just before the crash and never
 * shipped (store_apply, the same function a replica uses). The others
 * elect a new primary, whose R_EPOCH takes the same lsn; the old primary
 * restarts, asks to catch up from a position the new log holds with
 * another epoch, must get a snapshot, and the record — never
 * acknowledged — must vanish.
 */
static void
inject_unshipped_message(int i, const char *body)
{
	struct wire_item_RECORD r;
	struct wire_R_MSG_ADD m;
	struct store *st;
	struct buf payload;
	uint64_t epoch, lsn, max_msg = 0, max_draft = 0;
	char err[300];

	st = store_open(cl.r[i].data_dir, 1, err, sizeof err);
	CHECK(st != NULL, "cannot open r%u's store: %s", cl.r[i].id, err);
	store_last(st, &epoch, &lsn);
	CHECK(store_max_ids(st, &max_msg, &max_draft) == 0, "store_max_ids");
	memset(&m, 0, sizeof m);
	m.id = max_msg + 1;
	snprintf(m.from, sizeof m.from, "alice");
	snprintf(m.to, sizeof m.to, "bob");
	snprintf(m.body, sizeof m.body, "%s", body);
	buf_init(&payload);
	wire_encode_payload(&payload, &wire_op(WIRE_OP_R_MSG_ADD)->body, &m);
	memset(&r, 0, sizeof r);
	r.epoch = epoch;
	r.lsn = lsn + 1;
	r.type = WIRE_OP_R_MSG_ADD;
	r.at = (uint64_t)time(NULL) * 1000;
	r.payload.ptr = buf_head(&payload);
	r.payload.len = (uint32_t)buf_pending(&payload);
	CHECK(store_begin(st) == 0 && store_apply(st, &r) == 0 &&
	    store_commit(st) == 0, "cannot append to r%u's log", cl.r[i].id);
	buf_free(&payload);
	store_close(st);
	fprintf(stderr, "snapshot: r%u's log gets (%llu,%llu), never shipped\n",
	    cl.r[i].id, (unsigned long long)epoch,
	    (unsigned long long)lsn + 1);
}

START_TEST(test_snapshot_divergent_suffix)
{
	struct h_sender s, *ss = &s;
	char *d[3];
	int p, q, i;

	p = start_cluster();
	h_sender_start(&s, &cl, 0x31000, "m-", 8);
	h_send_all(&s, 20);
	kill_replica(p, SIGKILL);
	inject_unshipped_message(p, "never acknowledged");
	h_send_all(&s, 20);		/* the others elect and go on */
	q = h_expect_primary(&cl);
	CHECK(q != p, "r%u leads", cl.r[p].id);
	start_replica(p);
	CHECK(h_wait_primary(&cl, H_ELECT_MS) == q, "r%u no longer leads",
	    cl.r[q].id);
	h_expect_isr(&cl, q, 3);
	CHECK(h_log_contains(&cl, q, "sending a snapshot"),
	    "r%u sent r%u no snapshot", cl.r[q].id, cl.r[p].id);
	CHECK(h_log_contains(&cl, p, "installed the snapshot"),
	    "r%u installed no snapshot", cl.r[p].id);
	h_send_all(&s, 10);
	h_finish(&cl, q, &ss, 1, NULL, d);
	for (i = 0; i < 3; i++) {
		CHECK(strstr(d[i], "never acknowledged") == NULL,
		    "r%u still holds the unacknowledged record", cl.r[i].id);
		free(d[i]);
	}
	h_sender_free(&s);
	h_cluster_destroy(&cl);
}
END_TEST

/* ---- 4. a retry after the primary died between commit and reply ---------- */

START_TEST(test_retry_after_commit_applied_once)
{
	struct h_sender s, *ss = &s;
	struct h_status st;
	char *d[3];
	uint64_t lsn0, old_epoch, deadline;
	int p, q, k, i, batch = 20, first_k;

	p = start_cluster();
	h_sender_start(&s, &cl, 0x40000, "m-", 32);
	h_send_all(&s, 10);
	CHECK(h_status(&cl, p, &st, 1000) == 0, "no STATUS");
	lsn0 = st.last_lsn;
	old_epoch = st.epoch;
	/* 20 requests out; their records committed by the whole ISR (the
	 * primary's commit point covers them) — so their replies are
	 * written — but the client reads none of them. */
	first_k = s.n + 1;
	h_send_some(&s, batch, 0);
	deadline = mono_ms() + H_PHASE_MS;
	for (;;) {
		CHECK(h_status(&cl, p, &st, 1000) == 0, "no STATUS");
		if (st.last_lsn >= lsn0 + (uint64_t)batch &&
		    st.commit_lsn == st.last_lsn && st.nisr == 3)
			break;
		CHECK(mono_ms() < deadline, "the batch was not committed");
		poll(NULL, 0, 20);
	}
	/* The primary dies; the replies are lost with the connection. */
	h_sender_drop(&s);
	kill_replica(p, SIGKILL);
	CHECK(s.nacked == 10, "%d acknowledged before the crash", s.nacked);
	/* The client re-sends the 20 with the same (client_id, seq) to the
	 * new primary: each must get the original answer. */
	h_send_all(&s, 0);
	CHECK(s.retried_acks == batch, "%d of %d retries answered",
	    s.retried_acks, batch);
	q = h_expect_primary(&cl);
	h_send_all(&s, 10);
	start_replica(p);
	q = h_expect_full_isr(&cl);
	h_finish(&cl, q, &ss, 1, NULL, d);
	/* Each retried request has one log record, from the old epoch: the
	 * retry was answered from the stored result, not applied again. */
	for (k = first_k; k < first_k + batch; k++) {
		uint64_t epoch = 0;
		int n = log_records_for(d[0], s.client_id, s.m[k].seq, &epoch);

		CHECK(n == 1 && epoch == old_epoch, "message m-%d (seq %"
		    PRIu64 "): %d log records, last in epoch %" PRIu64
		    " (the crash was in epoch %" PRIu64 ")", k, s.m[k].seq, n,
		    epoch, old_epoch);
	}
	for (i = 0; i < 3; i++)
		free(d[i]);
	h_sender_free(&s);
	h_cluster_destroy(&cl);
}
END_TEST

/* ---- 5. a restarted replica that must wait ----------------------------------- */

START_TEST(test_restart_must_wait)
{
	struct h_sender s;
	int p, b1, b2, k, samples = 0, waiting_for_p = 0, electing = 0;
	int waiting_for_self = 0, waiting_for_other = 0;
	uint64_t end;

	p = start_cluster();
	b1 = h_other_than(&cl, p, -1);
	b2 = h_other_than(&cl, p, b1);
	h_sender_start(&s, &cl, 0x50000, "m-", 4);
	h_send_some(&s, 20, 10);
	kill_replica(b1, SIGKILL);
	h_send_some(&s, 20, 15);
	kill_replica(b2, SIGKILL);
	/* P acknowledges alone (ISR {P}): these exist only on P. */
	h_send_all(&s, 20);
	h_expect_isr(&cl, p, 1);
	h_send_all(&s, 10);
	kill_replica(p, SIGKILL);
	h_sender_drop(&s);

	/* The two backups come back without P: neither may lead, for as
	 * long as we look (2 s); each says it waits for P. */
	start_replica(b1);
	start_replica(b2);
	end = mono_ms() + 2000;
	while (mono_ms() < end) {
		for (k = 0; k < 3; k++) {
			struct h_status st;

			if (k == p || h_status(&cl, k, &st, 1000) < 0)
				continue;
			samples++;
			CHECK(st.role != H_ROLE_PRIMARY &&
			    st.role != H_ROLE_BACKUP, "r%u became %s while "
			    "r%u, holding acknowledged writes, is down",
			    cl.r[k].id, st.role == H_ROLE_PRIMARY ? "primary" :
			    "a backup", cl.r[p].id);
			if (st.role == H_ROLE_WAITING &&
			    st.waiting_for == cl.r[p].id)
				waiting_for_p++;
			else if (st.role == H_ROLE_WAITING &&
			    st.waiting_for == cl.r[k].id)
				waiting_for_self++;
			else if (st.role == H_ROLE_WAITING)
				waiting_for_other++;
			else
				electing++;
		}
		poll(NULL, 0, 20);
	}
	fprintf(stderr, "must wait: %d STATUS samples: %d waiting for r%u, "
	    "%d waiting for itself, %d waiting for another, %d starting or "
	    "electing\n", samples, waiting_for_p, cl.r[p].id,
	    waiting_for_self, waiting_for_other, electing);
	CHECK(samples > 0, "no STATUS from the restarted backups");
	CHECK(waiting_for_p > 0, "no restarted backup said it waits for r%u",
	    cl.r[p].id);

	/* P comes back: someone leads, and everything P acknowledged
	 * alone is there. */
	start_replica(p);
	finish(&s, 10);
}
END_TEST

/* ---- 6. an old primary rejoins as a backup ------------------------------------- */

START_TEST(test_old_primary_rejoins)
{
	struct h_sender s;
	struct h_status st;
	int p, q;

	p = start_cluster();
	h_sender_start(&s, &cl, 0x60000, "m-", 16);
	h_send_some(&s, 60, 40);	/* up to 16 in flight at the crash */
	kill_replica(p, SIGKILL);
	h_send_all(&s, 0);
	q = h_expect_primary(&cl);
	CHECK(q != p, "r%u leads", cl.r[p].id);
	h_send_all(&s, 30);
	start_replica(p);
	CHECK(h_wait_primary(&cl, H_ELECT_MS) == q, "r%u no longer leads",
	    cl.r[q].id);
	CHECK(h_status(&cl, p, &st, 1000) == 0 && st.role == H_ROLE_BACKUP &&
	    st.primary_id == cl.r[q].id, "old primary r%u is not a backup of "
	    "r%u", cl.r[p].id, cl.r[q].id);
	h_expect_isr(&cl, q, 3);
	finish(&s, 10);
}
END_TEST

/* The continued old primary p steps down: wait until every running
 * replica, p included, follows one primary; return it. It should be q,
 * the one elected during the pause; a second election is reported. */
static int
follows_as_backup(int p, int q)
{
	uint64_t deadline = mono_ms() + H_ELECT_MS;
	int now;

	for (;;) {
		h_check_rule1(&cl);
		now = h_wait_primary(&cl, 100);
		if (now >= 0 && now != p)
			break;
		CHECK(mono_ms() < deadline, "r%u did not step down to a backup",
		    cl.r[p].id);
	}
	if (now != q)
		fprintf(stderr, "  note: a second election followed: r%u leads, "
		    "not r%u\n", cl.r[now].id, cl.r[q].id);
	return now;
}

/* How many of s's messages replica i acknowledged at or after `since`. */
static int
acked_by_since(const struct h_sender *s, int i, uint64_t since)
{
	int k, n = 0;

	for (k = 1; k <= s->n; k++)
		if (s->m[k].state == H_MSG_ACKED && s->m[k].acked_by == i &&
		    s->m[k].acked_at >= since)
			n++;
	return n;
}

/* Pause primary p, send n more requests (0: the window's worth) into its
 * socket buffer and wait for another primary, within FAILOVER_BOUND_MS.
 * Returns it. */
static int
pause_primary(struct h_sender *s, int p, int n, const char *what)
{
	uint64_t t0, took;
	int q;

	CHECK(h_replica_pause(&cl, p) == 0, "cannot pause r%u", cl.r[p].id);
	t0 = mono_ms();
	h_send_some(s, n, 0);
	q = h_expect_primary(&cl);
	took = mono_ms() - t0;
	fprintf(stderr, "%s: r%u replaced by r%u after %llu ms\n", what,
	    cl.r[p].id, cl.r[q].id, (unsigned long long)took);
	CHECK(q != p, "r%u still the primary", cl.r[p].id);
	CHECK(took <= FAILOVER_BOUND_MS, "failover took %llu ms",
	    (unsigned long long)took);
	return q;
}

/* Continue the paused old primary p (q took over) and wait until it
 * follows (follows_as_backup, whose primary is returned). *resumed: when
 * it was continued. Everything acknowledged from there on — whatever p
 * might answer after it continued included — must be there at the end. */
static int
resume_old_primary(struct h_sender *s, int p, int q, uint64_t *resumed)
{
	/* Answers P sent before its pause may still wait in our socket:
	 * read them now, so that what is read after it continues was
	 * sent after it continued. */
	(void)h_sender_pump(s, s->n, 100);
	CHECK(h_replica_resume(&cl, p) == 0, "cannot continue r%u",
	    cl.r[p].id);
	*resumed = mono_ms();
	h_send_all(s, 0);
	return follows_as_backup(p, q);
}

/* ---- 7. a paused primary ------------------------------------------------------- */

START_TEST(test_paused_primary_steps_down)
{
	struct h_sender s;
	uint64_t resumed;
	int p, q, acked_at_pause;

	p = start_cluster();
	h_sender_start(&s, &cl, 0x70000, "m-", 8);
	h_send_some(&s, 40, 20);
	acked_at_pause = s.nacked;
	/* The window fills P's buffer. */
	q = pause_primary(&s, p, 0, "paused primary");
	resume_old_primary(&s, p, q, &resumed);
	fprintf(stderr, "paused primary: %d acknowledged before the pause, "
	    "%d after, %d of them by r%u after it continued\n",
	    acked_at_pause, s.nacked - acked_at_pause,
	    acked_by_since(&s, p, resumed), cl.r[p].id);
	h_send_all(&s, 20);
	finish(&s, 0);
}
END_TEST

/*
 * The same with one backup already gone (kill -9): the paused primary P
 * and one backup X are left, ISR {P, X}. X takes over alone. Nothing
 * from the new epoch can reach P before it notices that X closed their
 * link (X closed it before its round, and the round had nobody else to
 * tell). Requests waiting in P's socket buffer must still not be
 * acknowledged by P when it continues.
 */
START_TEST(test_paused_primary_lone_backup)
{
	struct h_sender s;
	uint64_t resumed;
	int p, x, y, q;

	p = start_cluster();
	y = h_other_than(&cl, p, -1);
	x = h_other_than(&cl, p, y);
	h_sender_start(&s, &cl, 0x71000, "m-", 8);
	h_send_all(&s, 20);
	kill_replica(y, SIGKILL);
	h_expect_isr(&cl, p, 2);
	h_send_all(&s, 10);
	/* 8 requests into P's socket buffer. */
	q = pause_primary(&s, p, 8, "paused primary, lone backup");
	CHECK(q == x, "r%u leads, not r%u", cl.r[q].id, cl.r[x].id);
	resume_old_primary(&s, p, x, &resumed);
	fprintf(stderr, "paused primary, lone backup: r%u acknowledged %d "
	    "messages after it continued\n", cl.r[p].id,
	    acked_by_since(&s, p, resumed));
	start_replica(y);
	finish(&s, 10);
}
END_TEST

/* ---- 8. a paused backup ----------------------------------------------------------- */

START_TEST(test_paused_backup_leaves_and_rejoins)
{
	struct h_sender s;
	uint64_t t0, took;
	int p, b, q;

	p = start_cluster();
	b = h_other_than(&cl, p, -1);
	h_sender_start(&s, &cl, 0x80000, "m-", 4);
	h_send_some(&s, 30, 15);
	CHECK(h_replica_pause(&cl, b) == 0, "cannot pause r%u", cl.r[b].id);
	t0 = mono_ms();
	CHECK(h_wait_isr(&cl, p, 2, H_REJOIN_MS) == 0, "r%u's ISR did not "
	    "shrink", cl.r[p].id);
	took = mono_ms() - t0;
	fprintf(stderr, "paused backup: r%u left the ISR after %llu ms\n",
	    cl.r[b].id, (unsigned long long)took);
	CHECK(took <= ISR_SHRINK_BOUND_MS, "the ISR shrank after %llu ms",
	    (unsigned long long)took);
	h_send_all(&s, 30);		/* writes go on without it */
	CHECK(h_replica_resume(&cl, b) == 0, "cannot continue r%u",
	    cl.r[b].id);
	t0 = mono_ms();
	q = h_expect_primary(&cl);
	CHECK(q == p, "r%u no longer leads", cl.r[p].id);
	h_expect_isr(&cl, p, 3);
	fprintf(stderr, "paused backup: back in the ISR %llu ms after "
	    "SIGCONT\n", (unsigned long long)(mono_ms() - t0));
	finish(&s, 10);
}
END_TEST

/* The line client across a failover: bob stays logged in while the
 * primary is killed; he is reconnected and resumed without doing
 * anything, alice's client sends again, and each message shows once. */
START_TEST(test_client_follows_failover)
{
	h_client_failover(&cl, start_cluster());
	h_cluster_destroy(&cl);
}
END_TEST

/* One case per scenario, so CK_RUN_CASE can pick one; each test takes
 * seconds (ASan 3x). */
#define CASE_S 120

static Suite *
failover_suite(void)
{
	Suite *s = suite_create("failover");

	h_add_case(s, "two_failures", CASE_S, test_two_failures, 6);
	h_add_case(s, "full_stop_sigterm", CASE_S, test_full_stop_sigterm, 0);
	h_add_case(s, "full_stop_kill9", CASE_S, test_full_stop_kill9, 0);
	h_add_case(s, "catch_up", CASE_S, test_catch_up_10000, 0);
	h_add_case(s, "catch_up_pruned", CASE_S,
	    test_catch_up_past_pruned_log, 0);
	h_add_case(s, "client_failover", CASE_S,
	    test_client_follows_failover, 0);
	h_add_case(s, "snapshot", CASE_S, test_snapshot_divergent_suffix, 0);
	h_add_case(s, "retry", CASE_S, test_retry_after_commit_applied_once,
	    0);
	h_add_case(s, "must_wait", CASE_S, test_restart_must_wait, 0);
	h_add_case(s, "old_primary", CASE_S, test_old_primary_rejoins, 0);
	h_add_case(s, "paused_primary", CASE_S,
	    test_paused_primary_steps_down, 0);
	h_add_case(s, "paused_primary_lone_backup", CASE_S,
	    test_paused_primary_lone_backup, 0);
	h_add_case(s, "paused_backup", CASE_S,
	    test_paused_backup_leaves_and_rejoins, 0);
	return s;
}

int
main(void)
{
	/* A replica that dies under the raw client must not kill the test:
	 * writes to its socket fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	h_on_fail(on_fail);
	return h_run_suite(failover_suite());
}
