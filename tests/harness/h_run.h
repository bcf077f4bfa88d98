/*
 * h_run.h — run a program to completion: the one way the tests run a
 * program and read what it printed and how it exited (chat and chatctl
 * scripts, chatd refusing to start, --help texts, manual page linters,
 * ip, tshark).
 */
#ifndef CHATD_H_RUN_H
#define CHATD_H_RUN_H

#include <stddef.h>

/* "$CHATD_BIN_DIR/prog" (else "build/prog") into buf. Returns buf. */
char *h_bin_path(const char *prog, char *buf, size_t len);
/* The path of an executable prog in a directory of $PATH into buf, and
 * buf; NULL if none has it (the tool is not installed). */
char *h_which(const char *prog, char *buf, size_t len);

/*
 * Run the program at path (looked up in $PATH if it has no '/') with
 * argv (argv[0] its name, NULL-terminated) and input (may be NULL) on its
 * stdin; its stdout into *out (malloc'd, NUL-terminated; the caller
 * frees), its stderr into *err (the same) or, when err is NULL, to ours.
 * At most timeout_ms, then SIGKILL. Returns the exit status (0-255), or
 * -1 after a timeout, a signal or a failure to run (*out is then still
 * set).
 */
int h_run(const char *path, const char *const argv[], const char *input,
	  char **out, char **err, int timeout_ms);
/* h_run of prog of $CHATD_BIN_DIR (a path there, e.g. "tools/chatctl"),
 * its stderr passed on to ours. */
int h_run_bin(const char *prog, const char *const argv[], const char *input,
	      char **out, int timeout_ms);

#endif
