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
#include "h_run.h"

#define H_MAX_REPLICAS 5

struct h_replica {
	uint32_t id;
	uint16_t client_port, internal_port;
	pid_t    pid;			/* 0 when not running */
	int      paused;		/* stopped by h_replica_pause() */
	/* Across hosts (h_cluster_create_hosts): its address ("" means
	 * 127.0.0.1), a command line its chatd is started under (e.g.
	 * "ip netns exec NS"; "" for none), and whether a test cut it off
	 * the network: a cut replica is skipped by the waits and the
	 * sender like a paused one. */
	char     host[64];
	char     exec_prefix[160];
	int      cut;
	char     data_dir[512];
	char     log_path[512];
};

struct h_cluster {
	char             dir[256];
	char             conf_path[512];
	int              n;
	struct h_replica r[H_MAX_REPLICAS];
	/* The test prunes logs (a small log_keep): replicas prune at
	 * different moments, so h_finish compares the state the logs made,
	 * not the logs themselves. */
	int              logs_pruned;
};

/* Make the directory and config for n replicas. extra: more config lines
 * (may be NULL). Returns 0 or -1. */
int  h_cluster_create(struct h_cluster *c, int n, const char *extra);
/* The same for replicas on other hosts: replica i listens on hosts[i]
 * (an IPv4 address the test process can reach), on the same two ports
 * as every other replica. Set r[i].exec_prefix before starting it. */
int  h_cluster_create_hosts(struct h_cluster *c, int n,
			    const char *const *hosts, uint16_t client_port,
			    uint16_t internal_port, const char *extra);
/* Stop every running replica (SIGKILL) and remove the directory. */
void h_cluster_destroy(struct h_cluster *c);

/* Start replica i (0-based) and wait until its client port accepts
 * connections (at most 10 s). Returns 0, or -1 (its log is printed). */
int  h_replica_start(struct h_cluster *c, int i);
/* The same with more arguments for chatd (a NULL-terminated list, at most
 * 9; NULL for none), e.g. { "--join", "127.0.0.1:7001", NULL }. */
int  h_replica_start_args(struct h_cluster *c, int i,
			  const char *const *extra);
/* Send sig to replica i and wait for it to exit (at most 10 s; then
 * SIGKILL). A paused replica is continued after sig is sent. Returns its
 * wait status, or -1. Replicas are started with PR_SET_PDEATHSIG: they
 * die with the test process even when a failed check skips the cleanup. */
int  h_replica_stop(struct h_cluster *c, int i, int sig);
/* Print the last lines of replica i's log to stderr (for failures). */
void h_replica_dump_log(const struct h_cluster *c, int i);

/* Run "chat -c CONF" with script on stdin until it exits (at most
 * timeout_ms). Its stdout goes to *out (malloc'd, NUL-terminated; the
 * caller frees), its stderr to ours. Returns the exit status (0-255), or
 * -1 on timeout or failure to run (h_run). */
int  h_chat_run(const struct h_cluster *c, const char *script, char **out,
		int timeout_ms);
/* The same for "PROG -c CONF args..." (prog: its path in $CHATD_BIN_DIR,
 * e.g. "tools/chatctl"; args NULL-terminated, at most H_CHAT_MAX_ARGS;
 * NULL for none), with input (may be NULL) on its stdin. */
int  h_cluster_run(const struct h_cluster *c, const char *prog,
		   const char *const *args, const char *input, char **out,
		   int timeout_ms);

/* A chat client kept running ("chat -c CONF"), for live tests (pushes
 * between two users): h_proc_send it lines, h_proc_expect what it
 * prints, h_proc_finish it. 0 or -1. */
int  h_chat_spawn(const struct h_cluster *c, struct h_proc *ch);
/* The same with more arguments after "-c CONF" (NULL-terminated, at
 * most H_CHAT_MAX_ARGS). */
#define H_CHAT_MAX_ARGS 16
int  h_chat_spawn_args(const struct h_cluster *c, struct h_proc *ch,
		       const char *const *args);

/* Raw protocol access, for tests below the client. Blocking socket. */
struct buf;
struct wire_header;
/* Connect to a client port and do the HELLO exchange. fd or -1.
 * flags: H_RAW_HELLO (do the HELLO exchange), H_RAW_SMALL_RCVBUF (a 4 KiB
 * receive buffer, set before connecting: a reader that is slow at once). */
#define H_RAW_HELLO        1
#define H_RAW_SMALL_RCVBUF 2
int  h_raw_connect(uint16_t port, int flags);
/* The same to replica i of c, at its host (h_cluster_create_hosts). */
int  h_raw_connect_replica(const struct h_cluster *c, int i, int flags);
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

/* ---- replication ---------------------------------------------------------
 * Helpers for tests/cluster/check_failover.c: a replica's view through
 * STATUS, waits on cluster states, pausing, quiescent stops, store dumps
 * and a raw client that retries the way a real one does. */

#define H_ROLE_STARTING 0
#define H_ROLE_PRIMARY  1
#define H_ROLE_BACKUP   2
#define H_ROLE_ELECTING 3
#define H_ROLE_WAITING  4
#define H_MAX_ISR       16

/* STATUS_INFO, copied out of the frame (the ISR ids included). */
struct h_status {
	uint32_t replica_id;
	int      role;			/* H_ROLE_* */
	uint64_t epoch;
	uint32_t primary_id;
	uint64_t last_epoch, last_lsn, commit_lsn;
	uint32_t clients, waiting_for;
	uint64_t uptime_ms;
	char     note[201];
	unsigned nisr;
	uint32_t isr[H_MAX_ISR];
};

/* Index of the replica with this id, or -1. */
int  h_index_of(const struct h_cluster *c, uint32_t id);
/* A replica that runs, is not paused and is not cut off. */
int  h_running(const struct h_cluster *c, int i);
/* Raw STATUS on replica i's client port (fresh connection; at most
 * timeout_ms for connect + HELLO + STATUS). 0, or -1. */
int  h_status(const struct h_cluster *c, int i, struct h_status *out,
	      int timeout_ms);
int  h_status_isr_has(const struct h_status *st, uint32_t id);
/* One line describing every replica's STATUS (for failure messages). */
void h_cluster_describe(const struct h_cluster *c, char *buf, size_t len);
/* Poll STATUS (every 20 ms) until exactly one running replica is primary
 * and every other running replica is its backup. Its index, or -1. */
int  h_wait_primary(struct h_cluster *c, int timeout_ms);
/* Poll until replica `primary` (still primary) has want_n ISR members.
 * 0, or -1. */
int  h_wait_isr(struct h_cluster *c, int primary, int want_n, int timeout_ms);
/* Poll until every running replica's log ends where the primary's does,
 * the primary's commit_lsn is its last lsn and its ISR has want_isr
 * members. 0, or -1. */
int  h_wait_converged(struct h_cluster *c, int primary, int want_isr,
		      int timeout_ms);

/* SIGSTOP / SIGCONT replica i and wait until the kernel says it stopped
 * or continued. 0 or -1. Paused replicas are skipped by the waits above. */
int  h_replica_pause(struct h_cluster *c, int i);
int  h_replica_resume(struct h_cluster *c, int i);
/* Signal every running replica first, then wait for each to exit. */
void h_cluster_stop_all(struct h_cluster *c, int sig);
/* Stop a converged cluster without letting anyone react to the others
 * going: pause every running replica, then stop them one at a time with
 * sig, `first` (the primary) first, each continued only once signalled.
 * 0, or -1 if one did not exit cleanly. */
int  h_cluster_stop_quiescent(struct h_cluster *c, int first, int sig);
/* Print the last max_lines lines of replica i's log that are not DEBUG
 * (elections, ISR changes, links, snapshots), to stderr. */
void h_replica_dump_events(const struct h_cluster *c, int i, int max_lines);
/* Everything one needs to see why a test of c failed, to stderr: one
 * line of every replica's STATUS, each replica's recent events (60 lines)
 * and log tail, and the test directory. */
void h_cluster_report(const struct h_cluster *c);
/* 1 if replica i's log contains needle. */
int  h_log_contains(const struct h_cluster *c, int i, const char *needle);

/* With replica i stopped: store_dump(with_log = 1) of its data directory
 * into *out (malloc'd; the caller frees). 0, or -1. */
int  h_store_dump(const struct h_cluster *c, int i, char **out);
/* The same, choosing whether the log itself is part of the dump (logs
 * pruned at different moments differ; the state they made must not). */
int  h_store_dump_ex(const struct h_cluster *c, int i, int with_log,
		     char **out);
/* Count the messages "<prefix><k>" (1 <= k <= n) in a dump: count[k]
 * occurrences, ids[k] the id of the last (both arrays n + 1 long,
 * zeroed by the caller). */
void h_dump_count_messages(const char *dump, const char *prefix, int n,
			   int *count, uint64_t *ids);
/* 0 if equal; else prints the first differing line of each to stderr
 * (labelled) and returns -1. */
int  h_dump_compare(const char *a, const char *la, const char *b,
		    const char *lb);

/* A raw client sending numbered messages "<prefix><k>" (k from 1) from
 * one user to another with a fixed client_id and increasing seq, up to
 * `window` requests in flight. On a closed connection, REDIRECT,
 * NO_PRIMARY, UNAVAILABLE, a lost session or silence for
 * H_CLIENT_TIMEOUT_MS with requests in flight, it finds the primary again
 * (STATUS), resumes its session (RESUME, else LOGIN) and re-sends every
 * unanswered request with its original (client_id, seq), in order — what
 * a real client does (PROTOCOL.md §5-6). */
#define H_CLIENT_TIMEOUT_MS 1500
enum { H_MSG_QUEUED, H_MSG_SENT, H_MSG_ACKED };
struct h_msg {
	uint64_t seq;
	uint64_t id;		/* from SENT */
	int      state;
	unsigned gen;		/* connection it was last sent on */
	int      sends;		/* times transmitted */
	int      acked_by;	/* index of the replica that answered */
	uint64_t acked_at;	/* mono ms of the answer */
};
struct h_sender {
	struct h_cluster *c;
	uint64_t client_id, seq;
	char     user[33], pw[64], to[33], prefix[16];
	uint8_t  token[32];
	int      have_token;
	int      fd, at;	/* connection and replica index, or -1 */
	unsigned gen;
	uint64_t last_rx;	/* mono ms of the last frame received */
	struct h_msg *m;	/* m[1..n] */
	int      n, cap;
	int      window, first_unacked, tx_next, inflight, nacked;
	int      reconnects, resent, retried_acks;
	char     err[300];
};
/* Set up (no connection yet). */
void h_sender_init(struct h_sender *s, struct h_cluster *c,
		   uint64_t client_id, const char *user, const char *pw,
		   const char *to, const char *prefix, int window);
void h_sender_free(struct h_sender *s);
/* Register an account (its own (client_id, seq), retried like the
 * messages). 0, or -1 with s->err. */
int  h_sender_register(struct h_sender *s, const char *user, const char *pw,
		       int timeout_ms);
/* Queue n more messages. */
void h_sender_queue(struct h_sender *s, int n);
/* Send what the window allows and handle answers until at least
 * want_acked messages in all are acknowledged. want_acked <= s->nacked:
 * send and return at once. 0, or -1 (deadline or a real error: s->err). */
int  h_sender_pump(struct h_sender *s, int want_acked, int timeout_ms);
/* Lose the connection as a crash of the client's link would: close it
 * without reading what the server sent. */
void h_sender_drop(struct h_sender *s);

/* ---- shared scenarios (scenario.c) -----------------------------------------
 * The building blocks and scenarios of check_failover.c (on loopback) and
 * check_netns.c (across network namespaces). They fail the test with
 * CHECK (h_check.h): the binary's h_on_fail() hook shows the cluster
 * first. The bounds are generous for ASan (~3x slower). */

#define H_PHASE_MS    60000	/* one batch of messages acknowledged */
#define H_ELECT_MS    15000	/* a primary, and every running replica its
				   backup */
#define H_REJOIN_MS   15000	/* a restarted replica back in the ISR */
#define H_CONVERGE_MS 15000	/* every log where the primary's ends */

/* The first replica of c that is neither a nor b (either may be -1), or
 * -1. */
int  h_other_than(const struct h_cluster *c, int a, int b);
/* A primary every running replica follows, within H_ELECT_MS: its index. */
int  h_expect_primary(struct h_cluster *c);
/* Rule 1 (DESIGN.md §6): no two running replicas say they are primary of
 * the same epoch. One STATUS of each. */
void h_check_rule1(struct h_cluster *c);
/* Replica p (still primary) has n ISR members within H_REJOIN_MS. */
void h_expect_isr(struct h_cluster *c, int p, int n);
/* h_expect_primary, then h_expect_isr with every replica of c. */
int  h_expect_full_isr(struct h_cluster *c);
/* Start every replica of c, then h_expect_full_isr. */
int  h_start_all(struct h_cluster *c);
/* h_sender_init for alice sending bob the messages "<prefix><k>", with
 * both accounts registered through the sender itself (H_PHASE_MS). */
void h_sender_start(struct h_sender *s, struct h_cluster *c,
		    uint64_t client_id, const char *prefix, int window);
/* Queue n more messages and wait until all queued so far are answered
 * (H_PHASE_MS). */
void h_send_all(struct h_sender *s, int n);
/* Queue n more and return once ack_first of them are answered: the rest
 * are in flight or queued when the caller injects a failure. */
void h_send_some(struct h_sender *s, int n, int ack_first);

/* The six orders of two failures (B1 then B2, ..., B2 then P). */
#define H_NORDERS 6
const char *h_order_name(int k);
/* On cluster c of three, primary p, all in its ISR: a sender (client_id,
 * alice to bob, "m-<k>", window 4) sends 30 messages, order k's first
 * victim is killed with some in flight, 30 more, the second victim, 30
 * with the lone survivor, both restart and rejoin, 30 more; each step's
 * outcome is checked (who leads, the ISR), then h_finish. */
void h_two_failures(struct h_cluster *c, int p, int k, uint64_t client_id);
/* The line client across a failover, on cluster c with primary p: bob
 * and alice register and log in with two live clients, alice sends bob
 * a message, p is killed (-9); bob's client must say it lost the
 * connection and reconnected to a primary, alice's sends again, and bob
 * sees each message once; both exit 0. */
void h_client_failover(struct h_cluster *c, int p);
/* Every message s had acknowledged is in the dump exactly once, with the
 * id its acknowledgement carried, and none twice — except messages k with
 * lost[k] set (lost may be NULL), which must be absent. Offenders are
 * listed on stderr. */
void h_check_messages(const char *dump, const char *who,
		      const struct h_sender *s, const char *lost);
/* The end of a scenario: wait until every log ends where the primary's
 * does with all of c in its ISR, stop all without letting any react to
 * the others going (h_cluster_stop_quiescent, SIGTERM), dump each store
 * (log included), require them identical, and h_check_messages each
 * sender (lost[i] for senders[i]; lost may be NULL). dumps (optional, c->n
 * entries) gets the dumps; the caller frees them. */
void h_finish(struct h_cluster *c, int primary, struct h_sender **senders,
	      int nsenders, const char *const *lost, char **dumps);

/* ---- membership ------------------------------------------------------------
 * A replica that is not in the generated replicas.conf (it joins a running
 * cluster): the next free slot gets id n+1, fresh ports and a data
 * directory, and c->n grows by one. Start it with h_replica_start_args.
 * Its index, or -1. */
int  h_replica_add(struct h_cluster *c);
/* The cluster key the replicas created (DATA_DIR/cluster.key). 0 or -1. */
int  h_cluster_key(const struct h_cluster *c, uint8_t key[32]);

#endif
