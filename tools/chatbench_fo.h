/*
 * chatbench_fo.h — what the files of chatbench's failover, status and
 * recount modes share (see chatbench.h for the rest of the program).
 *
 * failover: -n connections (default 1) of one sender user send SEND at a
 * fixed total rate R to a second user; message k of the run (due at
 * t0 + k/R, on connection k % n) has the body "fo-<k>". A connection
 * survives a failover like a real client (PROTOCOL.md §5, §6):
 *
 *  - it gives its replica up when the connection closes, when a request
 *    gets REDIRECT, NO_PRIMARY or ERROR NOT_PRIMARY / UNAVAILABLE /
 *    INTERNAL / TOO_MANY_REQUESTS (none of which had an effect), or when
 *    nothing has come back for client_timeout_ms with requests in flight;
 *  - a silence of --stall-ms (default 100) with requests in flight is
 *    not yet a failure (a commit may be slow), but it starts the finder:
 *    if another replica then reports itself primary of a newer epoch, the
 *    silent one (a stopped process, whose sockets stay open) is left;
 *  - the finder probes every replica of the configuration (HELLO,
 *    STATUS) in parallel, each again FO_RETRY_MS after its last answer or
 *    failure, a probe without answer being given up after 250 ms. A
 *    replica that says role 1 in an answer newer than the loss, with the
 *    highest epoch any answer since then showed, is the primary. A
 *    REDIRECT is followed at once;
 *  - on the primary: HELLO, RESUME with the token of the first LOGIN
 *    (LOGIN again on BAD_TOKEN), then every unanswered SEND is sent again
 *    with its original (client_id, seq), in order, then the new ones; at
 *    most -w (default max_inflight) on the wire at a time.
 *
 * Every SENT's arrival time (monotonic) is kept; gap_ms is the longest
 * interval between two consecutive acks of the run. After the run (and a
 * drain of at most FO_DRAIN_MS for what is still unanswered), the
 * recipient logs in on the primary and FETCHes its whole view; each body
 * fo-<k> is counted: lost = acknowledged k not found, duplicated = k found
 * more than once, id_mismatch = acknowledged k found under another id than
 * its SENT said. Any of those, an unanswered or failed SEND, or a failed
 * verification exits 1.
 *
 * status: one STATUS per replica, one line each (replica=ID role=... or
 * replica=ID down: why), for scripts that must ask one replica.
 *
 * The files:
 *   chatbench_fo.c         the mode: options to exit status, set-up, the
 *                          schedule, the loop pass, events
 *   chatbench_fo_find.c    the finder (probes), and the status mode
 *   chatbench_fo_conn.c    a writer connection: its set-up, SENDs, answers,
 *                          giving a replica up (the hot path)
 *   chatbench_fo_verify.c  counting fo-<k> on the primary; recount mode
 *   chatbench_fo_report.c  the gaps, the result line, the JSON
 */
#ifndef CHATBENCH_FO_H
#define CHATBENCH_FO_H

#include "chatbench.h"

#define FO_RID_SETUP     0x80000000u	/* set-up requests: high bit set */
#define FO_RETRY_MS      10u		/* re-probe a replica this often */
#define FO_PROBE_WAIT_MS 250u		/* an unanswered probe is given up */
#define FO_STATUS_WAIT_MS 1000u		/* the same in status mode */
#define FO_DRAIN_MS      5000u
#define FO_VERIFY_MS     20000u
#define FO_MAX_MSGS      (50ull * 1000u * 1000u)
#define FO_MAX_EVENTS    400
#define FO_MAX_CYCLES    64
#define FO_MS            1000000ull	/* ns per ms */

enum { FM_NOT_DUE, FM_PENDING, FM_ACKED, FM_FAILED };

struct fo_msg {
	uint64_t seq;		/* 0 until first sent */
	uint64_t id;		/* from SENT */
	uint32_t gen;		/* connection generation it was last sent on */
	uint8_t  state;
	uint8_t  sends;		/* times sent (saturating) */
	uint8_t  count;		/* verification: copies found (saturating) */
};

enum fo_cstate {
	FC_IDLE,		/* not in use */
	FC_SEARCH,		/* needs a primary known after lost_at */
	FC_CONNECTING, FC_HELLO, FC_REGISTER_S, FC_REGISTER_R, FC_LOGIN,
	FC_RESUME, FC_READY,
	FC_FETCH,		/* verification connection */
	FC_DONE
};

/* One reconnection of one connection, for the report. */
struct fo_cycle {
	unsigned conn;
	uint32_t from_replica, to_replica;
	uint64_t to_epoch;
	uint64_t last_ack;	/* ns: this connection's last ack before */
	uint64_t stalled;	/* ns: silence noticed (0: it was not silent) */
	uint64_t lost;		/* ns: the replica given up */
	uint64_t found;		/* ns: connecting to the next primary */
	uint64_t session;	/* ns: SESSION there */
	uint64_t first_ack;	/* ns: first ack after */
	unsigned resent;	/* SENDs sent again */
	unsigned attempts;	/* connections tried */
	char     why[200];
};

struct fo;

struct fo_probe {
	struct fo   *f;
	unsigned     ri;	/* index in cfg.replicas */
	struct conn *c;
	uint64_t     started, next_at;	/* ns */
	uint64_t     at;	/* ns of the last outcome; 0 none */
	int          answered;	/* the last outcome was a STATUS_INFO */
	uint32_t     primary_id;
	uint8_t      role;
	uint64_t     epoch;
	char         what[240];	/* short, for events */
	char         line[600];	/* status mode */
};

struct fo_conn {
	struct fo     *f;
	struct conn   *c;
	unsigned       idx;
	int            verify;
	enum fo_cstate st;
	uint64_t       client_id, seq;
	uint32_t       gen, setup_rid, srid;
	unsigned       ri;		/* replica index of the connection */
	uint32_t       replica_id;
	uint64_t       epoch;		/* its epoch, as the probe said */
	int            hint;		/* replica index from a REDIRECT, or -1 */
	unsigned       inflight;
	uint64_t       lo, next_i, due_i;	/* message i: k = idx + i*n */
	uint64_t       lost_at;		/* ns */
	uint64_t       quiet_since, stall_since;	/* ns */
	uint64_t       last_ack;	/* ns */
	int            cycle;		/* open reconnection, or -1 */
	uint64_t       after_id;	/* verification: FETCH cursor */
	char           why[300];	/* verification: what went wrong */
};

struct fo_event { uint64_t t; char text[232]; };

struct fo {
	struct bench   *b;
	unsigned        n, window;
	uint64_t        stall_ns, silent_ns;
	uint64_t        total;		/* messages in the run */
	struct fo_msg  *msgs;
	uint64_t       *acks;		/* arrival times, in order */
	uint64_t        nacks;
	struct fo_conn *conns;
	struct fo_conn  vc;		/* verification */
	struct fo_probe probes[CONFIG_MAX_REPLICAS];
	uint64_t        probe_wait_ns;
	int             status_mode;

	char     sender[CHAT_MAX_USERNAME + 1], recipient[CHAT_MAX_USERNAME + 1];
	char     password[40];
	uint8_t  token[CHAT_TOKEN_BYTES];
	int      have_token;
	struct wire_SEND send;

	enum phase phase;
	uint64_t   start, t0, t_end, drain_end;	/* ns */
	uint64_t   wall_start_ms, mono_start;	/* to print wall times */
	uint64_t   k;			/* next message to come due */
	int        setup_failed;
	char       fail_msg[600];

	/* counts */
	uint64_t sent, resent, acked, failed, errors, stray, reconnects;
	uint64_t errcode[NERRCODES], retried[NERRCODES];
	uint64_t redirects, no_primary, stalls, silent_drops;
	char     first_error[300];
	uint32_t first_primary, last_primary;
	uint64_t first_epoch, last_epoch;

	struct fo_event events[FO_MAX_EVENTS];
	unsigned        nevents;
	uint64_t        events_dropped;
	struct fo_cycle cycles[FO_MAX_CYCLES];
	unsigned        ncycles;

	/* recount mode: every k found, in FETCH order */
	int       recount_mode;
	uint64_t *found;
	size_t    nfound, capfound;

	/* verification */
	int      verified;
	uint64_t fetched, foreign, lost, duplicated, mismatch, unacked_stored;
	uint32_t verify_replica;
};

/* Whether anyone needs the finder: a connection or the verification
 * looking for the primary, or a connection whose replica is silent. */
static inline int
fo_wants_probes(const struct fo *f)
{
	unsigned i;

	if (f->vc.st == FC_SEARCH)
		return 1;
	for (i = 0; i < f->n; i++)
		if (f->conns[i].st == FC_SEARCH ||
		    (f->conns[i].st == FC_READY && f->conns[i].stall_since))
			return 1;
	return 0;
}

/* The id of replica index ri. */
static inline uint32_t
fo_rid_replica(const struct fo *f, unsigned ri)
{
	return f->b->cfg.replicas[ri].id;
}

/* ---- chatbench_fo.c ----------------------------------------------------- */

/* An event: kept for the JSON (the first FO_MAX_EVENTS), and shown on
 * stderr ("chatbench: +12.3 ms HH:MM:SS.mmmZ text") unless -q. */
void   fo_event(struct fo *f, const char *fmt, ...)
	   __attribute__((format(printf, 2, 3)));
/* The first failure, for the report. */
void   fo_set_error(struct fo *f, const char *fmt, ...)
	   __attribute__((format(printf, 2, 3)));
/* "HH:MM:SS.mmmZ" of a monotonic time t; ms from t0 (before the run:
 * from the start) to t. */
void   fo_wall(const struct fo *f, uint64_t t, char *out, size_t n);
double fo_rel(const struct fo *f, uint64_t t);
/* One pass of the loop, sleeping at most max_ms: the schedule, silences,
 * the finder. */
int    fo_pass(struct fo *f, int max_ms);

/* ---- chatbench_fo_find.c ------------------------------------------------ */

const char *fo_role_name(unsigned role);
void fo_probe_start(struct fo *f, unsigned ri, uint64_t now);
/* The replica index of the primary by answers newer than since, or -1. */
int  fo_choose(const struct fo *f, uint64_t since);
/* Give up probes that wait too long; start the ones due, if wanted. */
void fo_finder_tick(struct fo *f, uint64_t now);
/* "replica ID what; ..." of every replica's last probe. */
void fo_last_probes(const struct fo *f, char *out, size_t n);
int  fo_status(struct fo *f);

/* ---- chatbench_fo_conn.c ------------------------------------------------ */

void fo_pump(struct fo_conn *fc, uint64_t now);
void fo_connect(struct fo_conn *fc, unsigned ri, uint64_t now);
/* Connections that need a primary get one; silent ones may switch. */
void fo_evaluate(struct fo *f, uint64_t now);
void fo_drop(struct fo_conn *fc, const char *why, int hint);
void fo_close_quietly(struct fo_conn *fc);

/* ---- chatbench_fo_verify.c ---------------------------------------------- */

void fo_count_page(struct fo *f, const struct wire_MESSAGES *mm);
int  fo_verify(struct fo *f);
int  fo_recount(struct fo *f, const char *user, const char *password);

/* ---- chatbench_fo_report.c ---------------------------------------------- */

/* The result line and the failures; 1 if the run failed. */
int  fo_report(struct fo *f, int verify_ok);

#endif
