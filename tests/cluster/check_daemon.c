/*
 * check_daemon.c — chatd as a service manager sees it: how it starts,
 * refuses to start, and stops.
 *
 *   - a bad configuration, a missing file or an unknown replica id: exit
 *     status 1 and one line on stderr that names the file (and the line);
 *     bad arguments: status 2;
 *   - the lock: a second chatd on a data directory in use exits 1 with one
 *     line naming the pid of the one running, which runs on unharmed; the
 *     lock file holds that pid; it does not outlive its holder (SIGTERM or
 *     kill -9): a new chatd starts at once;
 *   - SIGTERM: exit status 0, "stopped" logged;
 *   - --syslog: log lines leave stderr (only the refusal is checked: a
 *     test cannot read the system's syslog);
 *   - stderr on systemd's journal (JOURNAL_STREAM): lines carry their
 *     level as a "<N>" priority prefix.
 *
 * Replicas run through the harness (loopback, temporary directory, stopped
 * by pid); one-shot runs of chatd through h_run with a deadline.
 */
#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "h_check.h"
#include "h_run.h"
#include "harness.h"

#define RUN_MS 10000		/* one chatd that must exit at once */

static struct h_cluster cl;

/* Run chatd with args (NULL-terminated, at most 8); its status, stderr in
 * *err (caller frees). Nothing may appear on stdout. */
static int
chatd(char **err, const char *a0, ...)
{
	char path[1024], *out;
	const char *argv[10];
	va_list ap;
	int n = 0, rc;

	argv[n++] = h_bin_path("chatd", path, sizeof path);
	va_start(ap, a0);
	for (argv[n] = a0; argv[n] != NULL && n < 9;
	    argv[n] = va_arg(ap, const char *))
		n++;
	va_end(ap);
	argv[n] = NULL;
	rc = h_run(path, argv, NULL, &out, err, RUN_MS);
	ck_assert_msg(out[0] == '\0', "chatd wrote to stdout: %s", out);
	free(out);
	return rc;
}

/* err is exactly one line that contains each of the needles. */
static void
one_line(const char *err, const char *n1, const char *n2)
{
	size_t len = strlen(err);

	ck_assert_msg(len > 0 && err[len - 1] == '\n' &&
	    strchr(err, '\n') == err + len - 1, "not one line: '%s'", err);
	ck_assert_msg(strstr(err, n1) != NULL, "'%s' lacks '%s'", err, n1);
	ck_assert_msg(n2 == NULL || strstr(err, n2) != NULL, "'%s' lacks '%s'",
	    err, n2);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* ---- start-up errors ----------------------------------------------------- */

START_TEST(test_bad_config)
{
	static const struct {
		const char *text, *want;	/* want: after "FILE:" */
	} bad[] = {
		{ "replica 1 127.0.0.1 1 2\nheartbeat 5\n",
		  "2: unknown setting 'heartbeat'" },
		{ "replica 1 127.0.0.1 1 2\nheartbeat_ms 0\n",
		  "2: bad value '0' for heartbeat_ms" },
		{ "replica 1 127.0.0.1 1 2\nreplica 1 127.0.0.1 3 4\n", "2: " },
		{ "# nothing\n", " no replicas defined" },
	};
	char conf[600], want[800], *err;
	unsigned i;

	ck_assert_int_eq(h_cluster_create(&cl, 1, NULL), 0);
	snprintf(conf, sizeof conf, "%s/bad.conf", cl.dir);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(conf, bad[i].text);
		ck_assert_int_eq(chatd(&err, "-c", conf, "-i", "1", NULL), 1);
		snprintf(want, sizeof want, "%s:%s", conf, bad[i].want);
		one_line(err, "chatd: ", want);
		free(err);
	}
	/* A file that is not there; a replica the file does not have. */
	unlink(conf);
	ck_assert_int_eq(chatd(&err, "-c", conf, "-i", "1", NULL), 1);
	one_line(err, conf, "cannot open");
	free(err);
	ck_assert_int_eq(chatd(&err, "-c", cl.conf_path, "-i", "7", NULL), 1);
	one_line(err, cl.conf_path, "no replica 7");
	free(err);
	/* Nothing was started, nothing created. */
	ck_assert_int_ne(access(cl.r[0].data_dir, F_OK), 0);
	h_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_bad_arguments)
{
	char *err;

	ck_assert_int_eq(chatd(&err, "-c", "x.conf", "-i", "0", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "bad replica id '0'"));
	free(err);
	ck_assert_int_eq(chatd(&err, "-i", "1", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "-c FILE and -i ID are required"));
	free(err);
	ck_assert_int_eq(chatd(&err, "--no-such-option", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "usage:"));
	free(err);
}
END_TEST

/* ---- the lock ------------------------------------------------------------ */

/* The pid in DATA_DIR/chatd.pid, 0 for an empty file, -1 for none. */
static long
pid_in_file(int i)
{
	char path[600];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/chatd.pid", cl.r[i].data_dir);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

/* A second chatd for replica 0's data directory is refused, naming it. */
static void
second_is_refused(const char *extra_arg)
{
	char want[64], *err;
	struct h_status st;

	snprintf(want, sizeof want, "is in use by chatd pid %ld",
	    (long)cl.r[0].pid);
	ck_assert_int_eq(chatd(&err, "-c", cl.conf_path, "-i", "1",
	    extra_arg, NULL), 1);
	one_line(err, want, cl.r[0].data_dir);
	free(err);
	/* The one running did not notice. */
	ck_assert_int_eq(h_status(&cl, 0, &st, RUN_MS), 0);
	ck_assert_uint_eq(st.replica_id, 1);
}

START_TEST(test_lock)
{
	char datadir[600];
	int status;

	ck_assert_int_eq(h_cluster_create(&cl, 2, NULL), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	ck_assert_int_eq(pid_in_file(0), (long)cl.r[0].pid);

	second_is_refused(NULL);
	/* -v changes nothing; under --syslog the refusal goes to syslog:
	 * refused all the same, nothing on stderr. */
	second_is_refused("-v");
	{
		char *err;

		ck_assert_int_eq(chatd(&err, "-c", cl.conf_path, "-i", "1",
		    "--syslog", NULL), 1);
		ck_assert_msg(err[0] == '\0', "stderr under --syslog: %s", err);
		free(err);
	}
	/* Another replica id on the same directory: the directory counts. */
	snprintf(datadir, sizeof datadir, "%s", cl.r[0].data_dir);
	{
		char want[64], *err;

		snprintf(want, sizeof want, "in use by chatd pid %ld",
		    (long)cl.r[0].pid);
		ck_assert_int_eq(chatd(&err, "-c", cl.conf_path, "-i", "2",
		    "-d", datadir, NULL), 1);
		one_line(err, want, NULL);
		free(err);
	}

	/* SIGTERM: a clean stop, status 0; the lock goes with it. */
	status = h_replica_stop(&cl, 0, SIGTERM);
	ck_assert_msg(status != -1 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "status %d after SIGTERM", status);
	ck_assert(h_log_contains(&cl, 0, "INFO stopped"));
	ck_assert_int_eq(pid_in_file(0), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	ck_assert_int_eq(pid_in_file(0), (long)cl.r[0].pid);

	/* kill -9 leaves the file with a dead pid; it does not matter. */
	ck_assert_int_ne(h_replica_stop(&cl, 0, SIGKILL), -1);
	ck_assert_int_gt(pid_in_file(0), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	ck_assert_int_eq(pid_in_file(0), (long)cl.r[0].pid);
	second_is_refused(NULL);
	h_cluster_destroy(&cl);
}
END_TEST

/* ---- under systemd -------------------------------------------------------- */

/* With stderr on the journal (JOURNAL_STREAM names its device and inode,
 * as systemd sets it), each line starts with its syslog priority, "<6>"
 * for INFO, and no timestamp: the journal files it under that level. */
START_TEST(test_journal_stream)
{
	char js[64];
	struct stat sb;
	FILE *f;

	ck_assert_int_eq(h_cluster_create(&cl, 1, NULL), 0);
	f = fopen(cl.r[0].log_path, "w");	/* the harness appends to it */
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(stat(cl.r[0].log_path, &sb), 0);
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	unsetenv("JOURNAL_STREAM");
	ck_assert(h_log_contains(&cl, 0, "<6>r1 INFO replica 1 ready"));
	ck_assert(!h_log_contains(&cl, 0, "Z r1 INFO"));
	/* Not the journal (another inode): the usual timestamped lines. */
	ck_assert_int_ne(h_replica_stop(&cl, 0, SIGTERM), -1);
	setenv("JOURNAL_STREAM", "1:1", 1);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	unsetenv("JOURNAL_STREAM");
	ck_assert(h_log_contains(&cl, 0, "Z r1 INFO replica 1 ready"));
	h_cluster_destroy(&cl);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_bad_config,
		test_bad_arguments,
		test_lock,
		test_journal_stream,
		NULL
	};

	signal(SIGPIPE, SIG_IGN);
	return h_run_tests("daemon", "daemon", 120, tests);
}
