/*
 * chatbench.h — what the files of tools/chatbench share.
 *
 * chatbench is one program (tools/chatbench.c: options, usage, the mode
 * dispatch) built from these parts:
 *
 *   chatbench_util.c     random ids, progress notes, the replicas'
 *                        limits, the schedule's timerfd, JSON pieces
 *   chatbench_session.c  the client-port requests of a connection's
 *                        set-up (HELLO, REGISTER, LOGIN, RESUME, STATUS)
 *                        and what their answers mean, for both kinds of
 *                        connection below
 *   chatbench_samples.c  latency samples: radix sort, percentiles
 *
 *   closed, open and delivery modes (struct bench, struct bconn):
 *   chatbench_load_find.c    find the primary (STATUS, REDIRECT)
 *   chatbench_load_setup.c   users, connections, their set-up, losses
 *   chatbench_load_run.c     the measured run: schedule, SENDs, answers,
 *                            pushes (the hot path, in one file)
 *   chatbench_load_report.c  the result line and the JSON
 *
 *   failover, status and recount modes: chatbench_fo.h and chatbench_fo*.c
 *
 * What runs per SEND and per answer is inline below. Exported names
 * start with cb_ (fo_ in the failover files): chatbench links
 * libclient.a and libserver.a, whose names must not collide.
 * Single-threaded, on the project's poll loop (include/net.h).
 */
#ifndef CHATBENCH_H
#define CHATBENCH_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "net.h"
#include "wire.h"

#define MAX_CONNS        20000u
#define SAMPLE_CAP       (20u * 1000u * 1000u)
#define DRAIN_MS         10000u
#define PROBE_TIMEOUT_MS 15000u
#define NSEC             1000000000ull
#define DELIV_PREFIX     23	/* "t=" + 20 digits + " " */
#define NERRCODES        64

enum mode { MODE_CLOSED, MODE_OPEN, MODE_DELIVERY, MODE_FAILOVER, MODE_STATUS,
	MODE_RECOUNT };
extern const char *const cb_mode_names[];

/* A load connection's life. The set-up states name the request whose
 * answer the connection waits for (cb_setup_outcome). */
enum cstate {
	CS_CONNECTING, CS_HELLO, CS_REGISTER, CS_LOGIN, CS_WAIT_TOKEN,
	CS_RESUME, CS_READY, CS_DEAD
};

enum phase { PH_SETUP, PH_RUN, PH_DRAIN, PH_DONE };

struct slot { uint32_t rid; uint64_t t; };	/* t: start, monotonic ns */

struct bench;

/* One connection of the closed, open and delivery modes. */
struct bconn {
	struct bench *b;
	struct conn  *c;
	unsigned      idx, user, aidx;	/* aidx: index among active senders */
	int           active;		/* sends during the run */
	enum cstate   st;
	uint64_t      client_id, seq;
	uint32_t      next_rid, setup_rid;
	unsigned      inflight;
	struct slot  *ring;
	uint32_t      mask;
	uint64_t      due, issued;	/* open schedule: j due, j sent */
};

struct user {
	char     name[CHAT_MAX_USERNAME + 1];
	uint8_t  token[CHAT_TOKEN_BYTES];
	int      have_token;
	unsigned first;			/* its first connection */
	unsigned live;			/* READY connections */
};

struct samples { uint32_t *v; size_t n, cap; uint64_t dropped; };

/* The options (every mode) and the state of a closed, open or delivery
 * run. The failover modes keep theirs in struct fo (chatbench_fo.h). */
struct bench {
	/* options */
	enum mode   mode;
	const char *conf_path, *json_path;
	unsigned    nconns, nusers, window, size, npairs;
	unsigned    nload, nusers_load;	/* the first nload connections and
					 * their users; the rest are idle */
	unsigned    runs, run_no;	/* --runs; the current one, from 0 */
	uint64_t    total;		/* closed: stop after this many sends */
	double      duration, warmup, rate;
	int         quiet;
	const char *recount_user, *recount_password;
	struct config cfg;

	struct loop  *l;
	char          host[CHAT_MAX_HOST + 1];
	uint16_t      port;
	uint32_t      replica_id;
	struct bconn *conns;
	struct bconn **act;		/* active senders */
	unsigned      nact;
	struct user  *users;
	char          password[40];
	struct wire_SEND send;		/* template; body filled once */

	enum phase phase;
	unsigned   nready;
	int        setup_failed;
	char       fail_msg[600];
	uint64_t   t0, t_meas, t_end;	/* ns */
	uint64_t   k;			/* open schedule: next global send */
	int        tfd;

	/* results */
	struct samples lat, dlat;	/* ack latency, delivery latency */
	uint64_t sends_window, sent_total, acked_total;
	uint64_t errors, errcode[NERRCODES], redirects, proto_errors;
	uint64_t lost_conns, unanswered;
	uint64_t expected, received, pushes_total, echoes;
	char     first_error[300];
	char     lost_note[600];
};

/* Every frame a benchmark connection decodes: answers and pushes. */
union reply {
	struct wire_HELLO       hello;
	struct wire_ERROR       error;
	struct wire_PING        ping;
	struct wire_OK          ok;
	struct wire_SESSION     session;
	struct wire_SENT        sent;
	struct wire_MESSAGES    messages;
	struct wire_STATUS_INFO status_info;
	struct wire_REDIRECT    redirect;
	struct wire_NO_PRIMARY  no_primary;
	struct wire_PUSH_MSG    push_msg;
	struct wire_PUSH_SESSION_END session_end;
};

/* ---- inline: called for every SEND and every answer --------------------- */

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

/* Queue request op (message msg) with id rid. Returns rid. */
static inline uint32_t
send_req(struct conn *c, uint32_t rid, uint16_t op, const void *msg)
{
	wire_encode(conn_outbuf(c), op, rid, msg);
	conn_sent(c);
	return rid;
}

/* A load connection's next request id (never 0: pushes have 0). */
static inline uint32_t
next_rid(struct bconn *bc)
{
	if (bc->next_rid == 0)
		bc->next_rid = 1;
	return bc->next_rid++;
}

/* Answer a PING with its PONG. 1 if the frame was a PING or a PONG (then
 * there is nothing else to do with it), 0 otherwise. */
static inline int
answer_ping(struct conn *c, const struct wire_header *h, const union reply *m)
{
	struct wire_PONG pong;

	if (h->opcode == WIRE_OP_PING) {
		memset(&pong, 0, sizeof pong);
		pong.token = m->ping.token;
		send_req(c, h->request_id, WIRE_OP_PONG, &pong);
		return 1;
	}
	return h->opcode == WIRE_OP_PONG;
}

/* The timerfd fired: consume it. 0 if reading it failed. */
static inline int
timerfd_ack(int fd)
{
	uint64_t n;

	return read(fd, &n, sizeof n) >= 0 || errno == EAGAIN;
}

static inline void
samples_add(struct samples *s, uint64_t ns)
{
	uint64_t us = ns / 1000u;

	if (s->n == s->cap) {
		s->dropped++;
		return;
	}
	s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* ---- chatbench_util.c --------------------------------------------------- */

uint64_t cb_random_u64(void);		/* exits if there is no randomness */
uint64_t cb_random_id(void);		/* the same, never 0: a client_id */
/* "chatbench: ..." on stderr unless -q. */
void cb_note(const struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Refuse a run the replicas would refuse: conns connections, not fewer
 * than their max_clients, or a window over their max_inflight. 0 fine,
 * -1 after saying why. */
int  cb_check_limits(const struct config *cfg, unsigned conns,
	 unsigned window);
void cb_raise_nofile(unsigned want);
/* A timerfd in b->tfd, watched by b->l with fn(fd, ud). 0, or -1 after
 * saying why. */
int  cb_open_timerfd(struct bench *b, void (*fn)(int fd, void *ud), void *ud);
void cb_arm_timerfd(const struct bench *b, uint64_t at);
void cb_close_loop(struct bench *b);	/* the loop and the timerfd */

/* JSON: open path ("w" or "a"), or NULL after saying why; the opening
 * lines up to "date" (run: 0 for none); a comma-separated "CODE": count
 * for every non-zero count; close, -1 after saying the write failed. */
FILE *cb_json_open(const char *path, const char *how);
void  cb_json_head(FILE *f, const char *mode, unsigned run);
void  cb_json_str(FILE *f, const char *s);
void  cb_json_codes(FILE *f, const uint64_t count[NERRCODES]);
int   cb_json_close(FILE *f, const char *path);

/* ---- chatbench_session.c ------------------------------------------------ */

/* Set-up requests; each queues one request with id rid and returns rid,
 * the answer to wait for. cb_send_account sends op REGISTER or LOGIN. */
uint32_t cb_send_hello(struct conn *c, uint32_t rid);
uint32_t cb_send_account(struct conn *c, uint32_t rid, uint16_t op,
	     uint64_t client_id, uint64_t seq, const char *user,
	     const char *password);
uint32_t cb_send_resume(struct conn *c, uint32_t rid, const uint8_t *token);
uint32_t cb_send_status(struct conn *c, uint32_t rid);

/* What a frame h (decoded: m) means to a connection that waits for the
 * answer to its set-up request rid of opcode asked (0: none). */
enum setup_outcome {
	SETUP_STRAY,		/* another request id */
	SETUP_OK,		/* the success asked for: HELLO for HELLO,
				 * OK for REGISTER, SESSION with a whole
				 * token for LOGIN and RESUME, MESSAGES for
				 * FETCH */
	SETUP_ERROR,		/* ERROR */
	SETUP_MOVED,		/* REDIRECT or NO_PRIMARY: not served here */
	SETUP_UNEXPECTED	/* any other answer */
};
enum setup_outcome cb_setup_outcome(uint32_t rid, uint16_t asked,
		       const struct wire_header *h, const union reply *m);
/* "CODE: text" of an ERROR. */
void cb_describe_error(char *out, size_t n, const struct wire_ERROR *e);
/* Close *cp (if open) quietly, its callbacks left without their data,
 * and forget it. */
void cb_conn_drop(struct conn **cp, const char *why);

/* ---- chatbench_samples.c ------------------------------------------------ */

void     cb_samples_init(struct samples *s);
void     cb_samples_sort(struct samples *s);
uint32_t cb_pct(const struct samples *s, double p);	/* of sorted */
double   cb_mean_us(const struct samples *s);

/* ---- the closed, open and delivery modes -------------------------------- */

/* chatbench_load_find.c: b->host, port, replica_id of the primary. */
int  cb_find_primary(struct bench *b);
/* chatbench_load_setup.c */
int  cb_setup(struct bench *b);
void cb_conn_lost(struct bconn *bc, const char *why);
void cb_setup_answer(struct bconn *bc, const struct wire_header *h,
	 const union reply *m);
void cb_teardown(struct bench *b);
/* chatbench_load_run.c */
void cb_bconn_on_frame(struct conn *c, const struct wire_header *h,
	 const uint8_t *payload);
/* chatbench_load_report.c: the result line(s); 1 if the run failed. */
int  cb_report(struct bench *b);

/* The closed, open and delivery modes from the options to the exit
 * status (chatbench_load_run.c); the failover, status and recount modes
 * (chatbench_fo.c). */
int  cb_load_main(struct bench *b, unsigned window);
int  fo_main(struct bench *b, unsigned n, unsigned window, unsigned stall_ms);

#endif
