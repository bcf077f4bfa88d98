/*
 * check_storage.c — a replica whose disk fails, on loopback.
 *
 * A full disk is made with a file size limit: prlimit(2) lowers
 * RLIMIT_FSIZE of one running chatd to just above its largest file, so
 * its next writes past that point fail with EFBIG (chatd ignores SIGXFSZ)
 * as they would with ENOSPC. No root, no special filesystem.
 *
 * What must hold, for a backup and for the primary:
 *   - the replica stops by itself with exit status 1 and says why in its
 *     log ("storage failure"), never a crash or a signal;
 *   - the others go on: the ISR shrinks, or a new primary is elected,
 *     and the client (which re-sends with its (client_id, seq)) sees
 *     every message acknowledged exactly once;
 *   - restarted with room, the replica catches up and rejoins, and the
 *     three stores end identical (h_finish).
 */
#include <check.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "h_check.h"
#include "harness.h"
#include "net.h"

#define ROOM        (256 * 1024)	/* bytes of a file's growth left */
#define MAX_SENDS   5000		/* the bound of the filling loop */
#define CASE_S      120

static struct h_cluster cl;

/* A failing CHECK shows the cluster, then removes it. */
static void
on_fail(void)
{
	h_cluster_report(&cl);
	h_cluster_destroy(&cl);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The largest file replica i writes: its store, WAL and log. */
static off_t
largest_file(int i)
{
	char path[600];
	off_t max = file_size(cl.r[i].log_path);
	struct dirent *e;
	DIR *d = opendir(cl.r[i].data_dir);

	CHECK(d != NULL, "cannot list %s", cl.r[i].data_dir);
	while ((e = readdir(d)) != NULL) {
		off_t n;

		snprintf(path, sizeof path, "%s/%s", cl.r[i].data_dir,
		    e->d_name);
		n = file_size(path);
		if (n > max)
			max = n;
	}
	closedir(d);
	return max;
}

/* From now on replica i can grow no file past ROOM more bytes. */
static void
fill_disk(int i)
{
	struct rlimit rl;

	CHECK(prlimit(cl.r[i].pid, RLIMIT_FSIZE, NULL, &rl) == 0,
	    "prlimit r%u: %m", cl.r[i].id);
	rl.rlim_cur = (rlim_t)(largest_file(i) + ROOM);
	CHECK(prlimit(cl.r[i].pid, RLIMIT_FSIZE, &rl, NULL) == 0,
	    "prlimit r%u: %m", cl.r[i].id);
}

/* 1 once replica i has exited (left for h_replica_stop to reap). */
static int
has_exited(int i)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	return waitid(P_PID, (id_t)cl.r[i].pid, &si,
	    WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

/* Replica i, which has exited, stopped as a storage failure should: exit
 * status 1 and the reason in its log. Reaps it. */
static void
check_storage_stop(int i)
{
	int st = h_replica_stop(&cl, i, SIGKILL);

	CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
	    "r%u did not exit with status 1 (wait status 0x%x)", cl.r[i].id,
	    (unsigned)st);
	CHECK(h_log_contains(&cl, i, "storage failure"),
	    "r%u's log does not say why it stopped", cl.r[i].id);
}

/* Send in batches until replica i stops by itself. */
static void
send_until_stopped(struct h_sender *s, int i)
{
	int sent = 0;

	while (!has_exited(i) && sent < MAX_SENDS) {
		h_send_some(s, 20, 1);
		sent += 20;
	}
	CHECK(has_exited(i), "r%u still runs after %d more messages",
	    cl.r[i].id, sent);
	fprintf(stderr, "storage: r%u stopped after %d more messages\n",
	    cl.r[i].id, sent);
	check_storage_stop(i);
}

/* The replica comes back with room: it rejoins, and everything
 * acknowledged is on all three exactly once. */
static void
restart_and_finish(struct h_sender *s, int i)
{
	int q;

	CHECK(h_replica_start(&cl, i) == 0, "r%u did not restart",
	    cl.r[i].id);
	q = h_expect_full_isr(&cl);
	h_send_all(s, 20);
	h_finish(&cl, q, &s, 1, NULL, NULL);
	h_sender_free(s);
	h_cluster_destroy(&cl);
}

START_TEST(test_backup_disk_full)
{
	struct h_sender s;
	int p, b;

	ck_assert_int_eq(h_cluster_create(&cl, 3, NULL), 0);
	p = h_start_all(&cl);
	b = h_other_than(&cl, p, -1);
	h_sender_start(&s, &cl, 0x91000, "m-", 8);
	h_send_all(&s, 20);
	fill_disk(b);
	send_until_stopped(&s, b);
	/* The primary goes on without it. */
	h_expect_isr(&cl, p, 2);
	h_send_all(&s, 30);
	CHECK(h_expect_primary(&cl) == p, "r%u no longer leads", cl.r[p].id);
	restart_and_finish(&s, b);
}
END_TEST

START_TEST(test_primary_disk_full)
{
	struct h_sender s;
	int p, q;

	ck_assert_int_eq(h_cluster_create(&cl, 3, NULL), 0);
	p = h_start_all(&cl);
	h_sender_start(&s, &cl, 0x92000, "m-", 8);
	h_send_all(&s, 20);
	fill_disk(p);
	/* Requests in flight when it stops are re-sent to the new primary
	 * with their (client_id, seq): answered once, applied once. */
	send_until_stopped(&s, p);
	q = h_expect_primary(&cl);
	CHECK(q != p, "r%u leads", cl.r[p].id);
	h_expect_isr(&cl, q, 2);
	h_send_all(&s, 30);
	restart_and_finish(&s, p);
}
END_TEST

/* A backup far behind a pruned log is sent a snapshot, and its disk
 * fills while the snapshot arrives: it must stop, not ask for the
 * snapshot again and again. */
START_TEST(test_snapshot_disk_full)
{
	struct h_sender s;
	struct rlimit old, low;
	int p, b, rc;
	uint64_t deadline;

	ck_assert_int_eq(h_cluster_create(&cl, 3, "log_keep 10"), 0);
	p = h_start_all(&cl);
	b = h_other_than(&cl, p, -1);
	h_sender_start(&s, &cl, 0x93000, "m-", 64);
	h_send_all(&s, 20);
	CHECK(h_replica_stop(&cl, b, SIGTERM) != -1, "r%u did not stop",
	    cl.r[b].id);
	h_send_all(&s, 3000);
	/* Limits are inherited: start it with a low one, then restore ours. */
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0, "getrlimit: %m");
	low = old;
	low.rlim_cur = (rlim_t)(largest_file(b) + ROOM);
	CHECK(setrlimit(RLIMIT_FSIZE, &low) == 0, "setrlimit: %m");
	rc = h_replica_start(&cl, b);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0, "setrlimit: %m");
	CHECK(rc == 0, "r%u did not restart", cl.r[b].id);
	deadline = mono_ms() + H_PHASE_MS;
	while (!has_exited(b) && mono_ms() < deadline)
		poll(NULL, 0, 20);	/* polling an observable state */
	CHECK(has_exited(b), "r%u still runs with its disk full",
	    cl.r[b].id);
	check_storage_stop(b);
	CHECK(h_log_contains(&cl, p, "sending a snapshot") &&
	    h_log_contains(&cl, b, "writing the snapshot"),
	    "r%u did not stop while writing a snapshot", cl.r[b].id);
	h_send_all(&s, 20);
	cl.logs_pruned = 1;
	restart_and_finish(&s, b);
}
END_TEST

static Suite *
storage_suite(void)
{
	Suite *s = suite_create("storage");

	h_add_case(s, "backup_disk_full", CASE_S, test_backup_disk_full, 0);
	h_add_case(s, "primary_disk_full", CASE_S, test_primary_disk_full, 0);
	h_add_case(s, "snapshot_disk_full", CASE_S, test_snapshot_disk_full,
	    0);
	return s;
}

int
main(void)
{
	/* A replica that dies under the raw client must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	h_on_fail(on_fail);
	return h_run_suite(storage_suite());
}
