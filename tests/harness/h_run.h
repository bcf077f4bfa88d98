/*
 * h_run.h — the programs a test starts, other than the replicas: the one
 * way the tests run a program and read what it printed and how it exited,
 * beside the test (a live chat client, dumpcap, wirefuzz and the clients
 * it serves) or to completion (chat and chatctl scripts, chatd refusing
 * to start, --help texts, manual page linters, ip, tshark).
 *
 * Every process is started with fork/exec, dies with the test process
 * (PR_SET_PDEATHSIG), is waited for by pid with a deadline and killed by
 * pid at it. Its outputs are read through pipes as they come, so a
 * program that writes much never blocks on a full pipe.
 */
#ifndef CHATD_H_RUN_H
#define CHATD_H_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "$CHATD_BIN_DIR/prog" (else "build/prog") into buf. Returns buf. */
char *h_bin_path(const char *prog, char *buf, size_t len);
/* The path of an executable prog in a directory of $PATH into buf, and
 * buf; NULL if none has it (the tool is not installed). */
char *h_which(const char *prog, char *buf, size_t len);

/* One output of a process, as far as it was read. */
struct h_stream {
	int    fd;		/* the pipe; -1 once at its end */
	size_t len, cap;	/* of the text */
};

/* A program the test started. */
struct h_proc {
	pid_t  pid;		/* 0 once it was reaped */
	int    status;		/* its wait status once reaped; -1 before,
				   and when it had to be killed */
	int    in_fd;		/* its stdin with H_PROC_STDIN, else -1 */
	char  *out;		/* what it wrote to stdout (and to stderr with
				   H_PROC_MERGE) so far, NUL-terminated */
	char  *err;		/* with H_PROC_STDERR, what it wrote to stderr
				   so far (NUL-terminated); else NULL */
	struct h_stream so, se;
};

#define H_PROC_STDIN  1		/* keep its stdin open for h_proc_send */
#define H_PROC_STDERR 2		/* read its stderr into err */
#define H_PROC_MERGE  4		/* read its stderr into out as well */

/*
 * Start the program at path (looked up in $PATH if it has no '/') with
 * argv (argv[0] its name; NULL-terminated). input (may be NULL) is
 * written to its stdin, which is then closed unless flags has
 * H_PROC_STDIN. env (may be NULL): "NAME=VALUE" strings (NULL-terminated)
 * set in its environment. Its stderr goes to ours unless flags says
 * otherwise. 0, or -1.
 */
int  h_proc_start(struct h_proc *p, const char *path,
		  const char *const argv[], const char *input,
		  const char *const *env, int flags);
/* Write one line (a newline is added) to its stdin. 0 or -1. */
int  h_proc_send(struct h_proc *p, const char *line);
/* Read what it writes within timeout_ms (0: what is there now) and reap
 * it if it exited. 1 once it has exited (status set), else 0. */
int  h_proc_poll(struct h_proc *p, int timeout_ms);
/* Wait until out contains needle (at most timeout_ms). 0, or -1 at the
 * timeout or once its output ended without it. */
int  h_proc_expect(struct h_proc *p, const char *needle, int timeout_ms);
/* Close the stdin of each of ps[0..n) and wait, reading their outputs,
 * until all exited or deadline (mono ms); those still running then are
 * killed (SIGKILL) and keep status -1. */
void h_proc_wait_all(struct h_proc *ps, int n, uint64_t deadline);
/* h_proc_wait_all of p alone, at most timeout_ms: its exit status
 * (0-255), or -1 (killed, ended by a signal). out and err stay for the
 * caller to free. */
int  h_proc_finish(struct h_proc *p, int timeout_ms);

/*
 * Run the program at path with argv and input as h_proc_start does until
 * it exits, at most timeout_ms (then SIGKILL): its stdout into *out
 * (malloc'd, NUL-terminated; the caller frees), its stderr into *err (the
 * same) or, when err is NULL, to ours. Returns the exit status (0-255),
 * or -1 after a timeout, a signal or a failure to run (*out is then still
 * set).
 */
int h_run(const char *path, const char *const argv[], const char *input,
	  char **out, char **err, int timeout_ms);
/* h_run of prog of $CHATD_BIN_DIR (a path there, e.g. "tools/chatctl"),
 * its stderr passed on to ours. */
int h_run_bin(const char *prog, const char *const argv[], const char *input,
	      char **out, int timeout_ms);

#endif
