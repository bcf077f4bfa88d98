/*
 * check_wirefuzz.c — tools/wirefuzz against real replicas, and against the
 * real client.
 *
 * 1. A 3-replica cluster takes ~100k generated, mutated and out-of-order
 *    frames on the primary's client port, then 10k on replica 3's internal
 *    port; wirefuzz must report the replica alive and every canary check
 *    passed (exit 0). Afterwards all three replicas still run and the chat
 *    flow works through ./chat.
 * 2. ./chat talks to `wirefuzz --serve`, a hostile server: it must end by
 *    itself (exit 0 or 1: failures are expected), never crash or hang.
 *
 * Fixed seeds; every process is started here and stopped by pid, and every
 * wait has a deadline.
 */
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "h_check.h"
#include "h_run.h"
#include "harness.h"
#include "net.h"

#define FUZZ_FRAMES  "100000"
#define FUZZ_BOUND_S "40"	/* wirefuzz --duration: a slow machine's cap */
#define RUN_MS       90000	/* any one process */
#define SERVE_S      "10"	/* the hostile servers stop after */
#define CHAT_MS      50000	/* chat gives up by itself 30 s after that */
#define NSEEDS       4

/* A process started here: its pid and its output (stdout and stderr). */
struct proc {
	pid_t pid;
	int   out_fd, status;
	char *out;
	size_t len;
};

/* Start path (of $CHATD_BIN_DIR) with args; stdin from `input` (may be NULL). Under
 * the sanitizers a report exits with status 86, told apart from 1. */
static void
proc_start(struct proc *p, const char *input, const char *path,
	   const char **args)
{
	char exe[600];
	int in[2], out[2];

	memset(p, 0, sizeof *p);
	p->status = -1;
	h_bin_path(path, exe, sizeof exe);
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		char asan[512], ubsan[512];
		const char *a = getenv("ASAN_OPTIONS");
		const char *u = getenv("UBSAN_OPTIONS");

		snprintf(asan, sizeof asan, "%s%sexitcode=86", a ? a : "",
		    a && *a ? ":" : "");
		snprintf(ubsan, sizeof ubsan, "%s%sexitcode=86", u ? u : "",
		    u && *u ? ":" : "");
		setenv("ASAN_OPTIONS", asan, 1);
		setenv("UBSAN_OPTIONS", ubsan, 1);
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* dies with the test */
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		args[0] = exe;
		execv(exe, (char *const *)args);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (input && write(in[1], input, strlen(input)) < 0)
		ck_abort_msg("cannot write to %s", path);
	close(in[1]);
	p->out_fd = out[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
}

/* Collect output and reap. 1 if it exited (p->status set), else 0. */
static int
proc_poll(struct proc *p)
{
	char buf[4096];
	ssize_t n;

	while (p->out_fd >= 0 && (n = read(p->out_fd, buf, sizeof buf)) != 0) {
		if (n < 0)
			break;
		p->out = realloc(p->out, p->len + (size_t)n + 1);
		ck_assert_ptr_nonnull(p->out);
		memcpy(p->out + p->len, buf, (size_t)n);
		p->len += (size_t)n;
		p->out[p->len] = '\0';
	}
	if (p->pid > 0 && waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
		p->pid = 0;
		proc_poll(p);	/* what it wrote last */
		close(p->out_fd);
		p->out_fd = -1;
	}
	return p->pid == 0;
}

/* Wait for every process of ps until deadline; a process still running
 * then is killed (SIGKILL, by pid) and keeps status -1. */
static void
proc_wait(struct proc *ps, int n, uint64_t deadline)
{
	int i, left = n;

	while (left > 0 && mono_ms() < deadline) {
		poll(NULL, 0, 20);	/* the period of a poll on exits */
		for (i = 0, left = 0; i < n; i++)
			left += !proc_poll(&ps[i]);
	}
	for (i = 0; i < n; i++)
		if (ps[i].pid > 0) {
			kill(ps[i].pid, SIGKILL);
			waitpid(ps[i].pid, NULL, 0);
			ps[i].pid = 0;
			ps[i].status = -1;
			proc_poll(&ps[i]);
			close(ps[i].out_fd);
			ps[i].out_fd = -1;
		}
}

static void
proc_free(struct proc *p)
{
	free(p->out);
	p->out = NULL;
}

/* Run wirefuzz on cluster c with the given arguments; assert exit 0. */
static void
fuzz(struct h_cluster *c, const char *what, const char **args)
{
	struct proc p;
	uint64_t t0 = mono_ms();
	int i;

	proc_start(&p, NULL, "tools/wirefuzz", args);
	proc_wait(&p, 1, mono_ms() + RUN_MS);
	fprintf(stderr, "wirefuzz %s: %.1f s\n%s", what,
	    (double)(mono_ms() - t0) / 1000, p.out ? p.out : "");
	if (p.status == -1 || !WIFEXITED(p.status) ||
	    WEXITSTATUS(p.status) != 0)
		for (i = 0; i < c->n; i++)
			h_replica_dump_events(c, i, 30);
	ck_assert_msg(p.status != -1, "wirefuzz %s did not finish in %d ms",
	    what, RUN_MS);
	ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
	    "wirefuzz %s failed (status 0x%x)", what, p.status);
	proc_free(&p);
}

START_TEST(test_fuzz_cluster)
{
	struct h_cluster c;
	char conf[600], pid_s[16], bid_s[16], *out = NULL;
	int i, primary, other, status;

	ck_assert_int_eq(h_cluster_create(&c, 3, NULL), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(h_replica_start(&c, i), 0);
	primary = h_wait_primary(&c, 20000);
	ck_assert_int_ge(primary, 0);
	other = 2;	/* id 3: takes HELLOs from 1 and 2, refuses the rest */
	snprintf(conf, sizeof conf, "%s", c.conf_path);
	snprintf(pid_s, sizeof pid_s, "%u", c.r[primary].id);
	snprintf(bid_s, sizeof bid_s, "%u", c.r[other].id);
	{
		const char *args[] = { NULL, "-c", conf, "-i", pid_s, "--port",
		    "client", "--seed", "11", "--frames", FUZZ_FRAMES,
		    "--connections", "4", "--duration", FUZZ_BOUND_S, "-q",
		    NULL };
		fuzz(&c, "on the primary's client port", args);
	}
	{
		const char *args[] = { NULL, "-c", conf, "-i", bid_s, "--port",
		    "internal", "--seed", "12", "--frames", "10000",
		    "--connections", "2", "--duration", FUZZ_BOUND_S, "-q",
		    NULL };
		fuzz(&c, "on replica 3's internal port", args);
	}
	/* Nobody died on the way. */
	for (i = 0; i < 3; i++) {
		ck_assert_msg(c.r[i].pid > 0 && waitpid(c.r[i].pid, &status,
		    WNOHANG) == 0, "replica %u is gone", c.r[i].id);
	}
	/* And chatting still works. */
	ck_assert_int_eq(h_chat_run(&c, "/register alice pa\n"
	    "/register bob pb\n", &out, RUN_MS), 0);
	free(out);
	ck_assert_int_eq(h_chat_run(&c, "/login alice pa\n/msg bob after the "
	    "storm\n", &out, RUN_MS), 0);
	free(out);
	ck_assert_int_eq(h_chat_run(&c, "/login bob pb\n/read\n", &out,
	    RUN_MS), 0);
	ck_assert_ptr_nonnull(strstr(out, "after the storm"));
	free(out);
	h_cluster_destroy(&c);
}
END_TEST

/* ./chat against hostile servers (several seeds at once). */
START_TEST(test_client_under_fire)
{
	/* Seeds whose sessions end in seconds (any seed ends in < 45 s). */
	static const int seeds[NSEEDS] = { 6, 7, 10, 14 };
	struct proc srv[NSEEDS], cli[NSEEDS];
	char dir[] = "/tmp/chatd-wirefuzz-XXXXXX", conf[NSEEDS][600];
	char port[NSEEDS][16], seed[NSEEDS][16];
	struct h_cluster tmp;
	uint64_t t0;
	int i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* Free loopback ports: from a cluster set-up that is never started. */
	ck_assert_int_eq(h_cluster_create(&tmp, NSEEDS, NULL), 0);
	for (i = 0; i < NSEEDS; i++) {
		const char *args[] = { NULL, "--serve", port[i], "--seed",
		    seed[i], "--duration", SERVE_S, NULL };
		FILE *f;

		snprintf(port[i], sizeof port[i], "%u", tmp.r[i].client_port);
		snprintf(seed[i], sizeof seed[i], "%d", seeds[i]);
		snprintf(conf[i], sizeof conf[i], "%s/replicas-%d.conf", dir,
		    i);
		f = fopen(conf[i], "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "replica 1 127.0.0.1 %u %u\n"
		    "client_timeout_ms 1000\n", tmp.r[i].client_port,
		    tmp.r[i].internal_port);
		fclose(f);
		proc_start(&srv[i], NULL, "tools/wirefuzz", args);
	}
	for (i = 0; i < NSEEDS; i++) {	/* each listens before its client */
		uint64_t deadline = mono_ms() + 10000;

		while (!strstr(srv[i].out ? srv[i].out : "", "serving") &&
		    !proc_poll(&srv[i]) && mono_ms() < deadline)
			poll(NULL, 0, 10);
		ck_assert_ptr_nonnull(strstr(srv[i].out ? srv[i].out : "",
		    "serving"));
	}
	for (i = 0; i < NSEEDS; i++) {
		const char *args[] = { NULL, "-c", conf[i], NULL };

		proc_start(&cli[i], "/status\n/register x y\n/login x y\n"
		    "/users\n/msg x hello\n/read\n", "chat", args);
	}
	t0 = mono_ms();
	proc_wait(cli, NSEEDS, t0 + CHAT_MS);
	fprintf(stderr, "chat against wirefuzz --serve: %.1f s\n",
	    (double)(mono_ms() - t0) / 1000);
	for (i = 0; i < NSEEDS; i++)	/* the servers are done too */
		if (srv[i].pid > 0)
			kill(srv[i].pid, SIGTERM);
	proc_wait(srv, NSEEDS, mono_ms() + 10000);
	for (i = 0; i < NSEEDS; i++) {
		const char *out = cli[i].out ? cli[i].out : "";
		int st = cli[i].status;

		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) > 1 ||
		    strstr(out, "Sanitizer") || strstr(out, "runtime error"))
			fprintf(stderr, "---- chat against seed %s ----\n%s\n"
			    "---- wirefuzz --serve ----\n%s\n", seed[i], out,
			    srv[i].out ? srv[i].out : "");
		ck_assert_msg(st != -1, "chat (seed %s) hung past %d ms",
		    seed[i], CHAT_MS);
		ck_assert_msg(!WIFSIGNALED(st), "chat (seed %s) died of signal "
		    "%d", seed[i], WTERMSIG(st));
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) <= 1,
		    "chat (seed %s) exited with %d", seed[i], WEXITSTATUS(st));
		ck_assert_ptr_null(strstr(out, "Sanitizer"));
		ck_assert_ptr_null(strstr(out, "runtime error"));
		ck_assert_msg(srv[i].status != -1 && WIFEXITED(srv[i].status) &&
		    WEXITSTATUS(srv[i].status) == 0,
		    "wirefuzz --serve (seed %s) failed", seed[i]);
		proc_free(&cli[i]);
		proc_free(&srv[i]);
		unlink(conf[i]);
	}
	rmdir(dir);
	h_cluster_destroy(&tmp);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("wirefuzz");

	h_add_case(s, "cluster", 240, test_fuzz_cluster, 0);
	h_add_case(s, "client", 240, test_client_under_fire, 0);
	return h_run_suite(s);
}
