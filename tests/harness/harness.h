/*
 * harness.h — run real chatd replicas and chat clients on loopback for the
 * integration tests (tests/cluster/).
 *
 * Everything lives in a fresh temporary directory: the generated
 * replicas.conf, each replica's data directory and log. Ports are free
 * loopback ports found by binding port 0. Processes are started with
 * fork/exec and stopped by pid, never by name; cluster_destroy() stops
 * whatever is still running and removes the directory.
 *
 * Waiting is always on observable state with a deadline: a port that
 * accepts, a line that appears in a client's output, a process that
 * exits. No test sleeps to synchronise.
 *
 * Binaries come from $CHATD_BIN_DIR (set by tests/run-all), else "build".
 */
#ifndef CHATD_HARNESS_H
#define CHATD_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define H_MAX_REPLICAS 5

struct h_replica {
	uint32_t id;
	uint16_t client_port, internal_port;
	pid_t    pid;			/* 0 when not running */
	char     data_dir[512];
	char     log_path[512];
};

struct h_cluster {
	char             dir[256];
	char             conf_path[512];
	int              n;
	struct h_replica r[H_MAX_REPLICAS];
};

/* Make the directory and config for n replicas. extra: more config lines
 * (may be NULL). Returns 0 or -1. */
int  h_cluster_create(struct h_cluster *c, int n, const char *extra);
/* Stop every running replica (SIGKILL) and remove the directory. */
void h_cluster_destroy(struct h_cluster *c);

/* Start replica i (0-based) and wait until its client port accepts
 * connections (at most 10 s). Returns 0, or -1 (its log is printed). */
int  h_replica_start(struct h_cluster *c, int i);
/* Send sig to replica i and wait for it to exit (at most 10 s; then
 * SIGKILL). Returns its wait status, or -1. */
int  h_replica_stop(struct h_cluster *c, int i, int sig);
/* Print the last lines of replica i's log to stderr (for failures). */
void h_replica_dump_log(const struct h_cluster *c, int i);

/* Run "chat -c CONF" with script on stdin until it exits (at most
 * timeout_ms). Its stdout goes to *out (malloc'd, NUL-terminated; the
 * caller frees). Returns the exit status (0-255), or -1 on timeout or
 * failure to run. */
int  h_chat_run(const struct h_cluster *c, const char *script, char **out,
		int timeout_ms);

/* A chat client kept running, for live tests (pushes between two users). */
struct h_chat {
	pid_t pid;
	int   in_fd;		/* its stdin */
	int   out_fd;		/* its stdout */
	char *out;		/* everything read so far */
	size_t len, cap;
};
int  h_chat_spawn(const struct h_cluster *c, struct h_chat *ch);
/* Send one command line (a newline is added). */
int  h_chat_send(struct h_chat *ch, const char *line);
/* Wait until the output contains needle (at most timeout_ms). 0 or -1. */
int  h_chat_wait(struct h_chat *ch, const char *needle, int timeout_ms);
/* Close stdin, wait for exit (bounded); returns the exit status or -1. */
int  h_chat_finish(struct h_chat *ch, int timeout_ms);

/* Raw protocol access, for tests below the client. Blocking socket. */
struct buf;
struct wire_header;
/* Connect to a client port and do the HELLO exchange. fd or -1.
 * flags: H_RAW_HELLO (do the HELLO exchange), H_RAW_SMALL_RCVBUF (a 4 KiB
 * receive buffer, set before connecting: a reader that is slow at once). */
#define H_RAW_HELLO        1
#define H_RAW_SMALL_RCVBUF 2
int  h_raw_connect(uint16_t port, int flags);
/* Send one frame (msg: the struct of op). 0 or -1. */
int  h_raw_send(int fd, uint16_t op, uint32_t request_id, const void *msg);
/* Send raw bytes. */
int  h_raw_write(int fd, const void *p, size_t n);
/* Receive one frame within timeout_ms: the header in *h, the payload in
 * *payload (reset first). 0, or -1 on timeout, EOF or a framing error. */
int  h_raw_recv(int fd, struct wire_header *h, struct buf *payload,
		int timeout_ms);
/* 1 if the peer closed the connection within timeout_ms. */
int  h_raw_closed(int fd, int timeout_ms);

/* Count occurrences of needle in hay. */
int  h_count(const char *hay, const char *needle);

#endif
