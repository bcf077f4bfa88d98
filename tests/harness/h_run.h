/*
 * h_run.h — run a program to completion, for tests that check what a
 * binary prints and how it exits (manual pages, start-up errors).
 */
#ifndef CHATD_H_RUN_H
#define CHATD_H_RUN_H

#include <stddef.h>

/* "$CHATD_BIN_DIR/prog" (else "build/prog") into buf. Returns buf. */
char *h_bin_path(const char *prog, char *buf, size_t len);

/*
 * Run argv[0] (a path) with input (may be NULL) on its stdin, its stdout
 * into *out (malloc'd, NUL-terminated; the caller frees), and its stderr
 * into *err when err is not NULL, else into *out as well. At most
 * timeout_ms, then SIGKILL. Returns the exit status (0-255), or -1 after
 * a timeout, a signal or a failure to run (*out is then still set).
 */
int h_run(char *const argv[], const char *input, char **out, char **err,
	  int timeout_ms);

#endif
