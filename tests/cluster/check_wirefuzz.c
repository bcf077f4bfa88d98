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
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Start path (of $CHATD_BIN_DIR) with args (args[0] set here), its
 * stderr merged into its stdout; stdin from `input` (may be NULL). Under
 * the sanitizers a report exits with status 86, told apart from 1. */
static void
proc_start(struct h_proc *p, const char *input, const char *path,
	   const char **args)
{
	char exe[600], asan[512], ubsan[512];
	const char *a = getenv("ASAN_OPTIONS"), *u = getenv("UBSAN_OPTIONS");
	const char *env[] = { asan, ubsan, NULL };

	snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sexitcode=86",
	    a ? a : "", a && *a ? ":" : "");
	snprintf(ubsan, sizeof ubsan, "UBSAN_OPTIONS=%s%sexitcode=86",
	    u ? u : "", u && *u ? ":" : "");
	args[0] = h_bin_path(path, exe, sizeof exe);
	ck_assert_int_eq(h_proc_start(p, exe, args, input, env, H_PROC_MERGE),
	    0);
}

/* Run wirefuzz on cluster c with the given arguments; assert exit 0. */
static void
fuzz(struct h_cluster *c, const char *what, const char **args)
{
	struct h_proc p;
	uint64_t t0 = mono_ms();
	int i;

	proc_start(&p, NULL, "tools/wirefuzz", args);
	h_proc_wait_all(&p, 1, mono_ms() + RUN_MS);
	fprintf(stderr, "wirefuzz %s: %.1f s\n%s", what,
	    (double)(mono_ms() - t0) / 1000, p.out);
	if (p.status == -1 || !WIFEXITED(p.status) ||
	    WEXITSTATUS(p.status) != 0)
		for (i = 0; i < c->n; i++)
			h_replica_dump_events(c, i, 30);
	ck_assert_msg(p.status != -1, "wirefuzz %s did not finish in %d ms",
	    what, RUN_MS);
	ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
	    "wirefuzz %s failed (status 0x%x)", what, p.status);
	free(p.out);
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
	struct h_proc srv[NSEEDS], cli[NSEEDS];
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
	for (i = 0; i < NSEEDS; i++)	/* each listens before its client */
		ck_assert_int_eq(h_proc_expect(&srv[i], "serving", 10000), 0);
	for (i = 0; i < NSEEDS; i++) {
		const char *args[] = { NULL, "-c", conf[i], NULL };

		proc_start(&cli[i], "/status\n/register x y\n/login x y\n"
		    "/users\n/msg x hello\n/read\n", "chat", args);
	}
	t0 = mono_ms();
	h_proc_wait_all(cli, NSEEDS, t0 + CHAT_MS);
	fprintf(stderr, "chat against wirefuzz --serve: %.1f s\n",
	    (double)(mono_ms() - t0) / 1000);
	for (i = 0; i < NSEEDS; i++)	/* the servers are done too */
		if (srv[i].pid > 0)
			kill(srv[i].pid, SIGTERM);
	h_proc_wait_all(srv, NSEEDS, mono_ms() + 10000);
	for (i = 0; i < NSEEDS; i++) {
		const char *out = cli[i].out;
		int st = cli[i].status;

		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) > 1 ||
		    strstr(out, "Sanitizer") || strstr(out, "runtime error"))
			fprintf(stderr, "---- chat against seed %s ----\n%s\n"
			    "---- wirefuzz --serve ----\n%s\n", seed[i], out,
			    srv[i].out);
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
		free(cli[i].out);
		free(srv[i].out);
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
