/*
 * chatbench — load generator and latency benchmark for a chatd cluster.
 *
 *   tools/chatbench -c replicas.conf [options] closed|open|delivery|failover
 *   tools/chatbench -c replicas.conf status
 *
 * closed    C connections each keep W SENDs in flight; ack latency is
 *           measured from the send to its SENT.
 * open      a fixed total rate R spread over the C connections; send k of
 *           the run is due at t0 + k/R, and its latency is measured from
 *           that intended time (no coordinated omission): a schedule that
 *           falls behind still sends, and the lag counts.
 * delivery  N sender/receiver pairs (-n gives N): the senders keep W
 *           SENDs in flight (or follow a rate with -r); each body starts
 *           with "t=<monotonic ns>", and the receivers measure
 *           now - t on PUSH_MSG. Every push of a message sent in the
 *           window must arrive. (chatd also pushes each message to the
 *           sender's other connections; those copies are counted apart.)
 * failover  a steady writer (-n connections, default 1, rate -r, default
 *           500/s) that rides through a failover like a real client and
 *           reports the longest interval between two acks (the failover
 *           gap), then checks on the primary that no acknowledged message
 *           is missing and none is stored twice. See "failover mode".
 * status    one STATUS per replica of the configuration, one line each.
 * recount   count a failover run's messages again later (USER PASSWORD).
 *
 * Set-up: find the primary (STATUS role 1, else follow REDIRECT), register
 * M users bench-<hex>-<i>, LOGIN once per user on its first connection,
 * RESUME its token on the user's other connections. Connection k belongs
 * to user k % M and sends to user (k % M + 1) % M. In delivery mode the
 * connections are 2N (even ones send, odd ones receive) and M is even, so
 * senders and receivers are different users.
 *
 * Measuring: after the warm-up the window [t_meas, t_end) is D seconds.
 * "sends" counts SENT answers that arrive inside it (throughput); the
 * latency samples are the requests that started inside it (for open mode,
 * whose intended time is inside it). After t_end nothing new starts and
 * the answers still owed are drained (at most DRAIN_MS).
 *
 * Single-threaded, on the project's poll loop (include/net.h). The open
 * schedule is driven by a timerfd watched by the loop, for sub-ms wake-ups
 * without spinning. Exit: 0 clean, 1 if any request failed or a
 * connection was lost (or deliveries are missing), 2 bad usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include "buf.h"
#include "config.h"
#include "log.h"
#include "net.h"
#include "wire.h"

#define MAX_CONNS        20000u
#define SAMPLE_CAP       (20u * 1000u * 1000u)
#define DRAIN_MS         10000u
#define PROBE_TIMEOUT_MS 15000u
#define PROBE_ANSWER_MS  1000u	/* a replica that does not answer is skipped */
#define MAX_REDIRECTS    8
#define NSEC             1000000000ull
#define DELIV_PREFIX     23	/* "t=" + 20 digits + " " */
#define NERRCODES        64

enum mode { MODE_CLOSED, MODE_OPEN, MODE_DELIVERY, MODE_FAILOVER, MODE_STATUS,
	MODE_RECOUNT };
static const char *const mode_names[] = { "closed", "open", "delivery",
    "failover", "status", "recount" };

enum cstate {
	CS_CONNECTING, CS_HELLO, CS_REGISTER, CS_LOGIN, CS_WAIT_TOKEN,
	CS_RESUME, CS_READY, CS_DEAD
};

enum phase { PH_SETUP, PH_RUN, PH_DRAIN, PH_DONE };

struct slot { uint32_t rid; uint64_t t; };	/* t: start, monotonic ns */

struct bench;

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

/* ---- small helpers ------------------------------------------------------ */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static uint64_t
random_u64(void)
{
	uint64_t v = 0;
	size_t got = 0;
	ssize_t n;

	while (got < sizeof v) {
		n = getrandom((char *)&v + got, sizeof v - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "chatbench: getrandom: %s\n",
			    strerror(errno));
			exit(1);
		}
		got += (size_t)n;
	}
	return v;
}

static void
note(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
note(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (b->quiet)
		return;
	fputs("chatbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
samples_init(struct samples *s)
{
	s->cap = SAMPLE_CAP;
	/* Pages are only touched as samples arrive. */
	while ((s->v = malloc(s->cap * sizeof *s->v)) == NULL && s->cap > 1024)
		s->cap /= 2;
	if (s->v == NULL) {
		fprintf(stderr, "chatbench: out of memory\n");
		exit(1);
	}
	s->n = 0;
	s->dropped = 0;
}

static void
samples_add(struct samples *s, uint64_t ns)
{
	uint64_t us = ns / 1000u;

	if (s->n == s->cap) {
		s->dropped++;
		return;
	}
	s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* LSD radix sort, two 16-bit passes. */
static void
samples_sort(struct samples *s)
{
	uint32_t *tmp, *src = s->v, *dst;
	size_t *cnt, i, pos, sum;
	unsigned pass, shift;

	if (s->n < 2)
		return;
	tmp = malloc(s->n * sizeof *tmp);
	cnt = malloc(65536 * sizeof *cnt);
	if (tmp == NULL || cnt == NULL) {
		fprintf(stderr, "chatbench: out of memory sorting samples\n");
		exit(1);
	}
	dst = tmp;
	for (pass = 0; pass < 2; pass++) {
		shift = pass * 16;
		memset(cnt, 0, 65536 * sizeof *cnt);
		for (i = 0; i < s->n; i++)
			cnt[(src[i] >> shift) & 0xFFFF]++;
		for (sum = 0, i = 0; i < 65536; i++) {
			pos = cnt[i];
			cnt[i] = sum;
			sum += pos;
		}
		for (i = 0; i < s->n; i++)
			dst[cnt[(src[i] >> shift) & 0xFFFF]++] = src[i];
		dst = src;
		src = (pass == 0) ? tmp : s->v;
	}
	/* After two passes the sorted data is back in s->v. */
	free(tmp);
	free(cnt);
}

/* Nearest-rank percentile of sorted samples. */
static uint32_t
pct(const struct samples *s, double p)
{
	double want = p * (double)s->n;
	size_t r = (size_t)want;

	if (s->n == 0)
		return 0;
	if ((double)r < want)
		r++;
	if (r < 1)
		r = 1;
	if (r > s->n)
		r = s->n;
	return s->v[r - 1];
}

static double
mean_us(const struct samples *s)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		sum += s->v[i];
	return s->n ? sum / (double)s->n : 0;
}

static int
in_window(const struct bench *b, uint64_t t)
{
	return t >= b->t_meas && t < b->t_end;
}

/* ---- requests ----------------------------------------------------------- */

static uint32_t
next_rid(struct bconn *bc)
{
	if (bc->next_rid == 0)
		bc->next_rid = 1;
	return bc->next_rid++;
}

static uint32_t
send_req(struct conn *c, uint32_t rid, uint16_t op, const void *msg)
{
	wire_encode(conn_outbuf(c), op, rid, msg);
	conn_sent(c);
	return rid;
}

static void
send_hello(struct conn *c, uint32_t rid)
{
	struct wire_HELLO h;

	memset(&h, 0, sizeof h);
	h.version_min = WIRE_VERSION_MIN;
	h.version_max = WIRE_VERSION_MAX;
	h.kind = 1;
	snprintf(h.software, sizeof h.software, "chatbench %s", CHATD_VERSION);
	h.nonce.ptr = (const uint8_t *)"";
	h.nonce.len = 0;
	send_req(c, rid, WIRE_OP_HELLO, &h);
}

/* One SEND that started (was sent, or was due) at t. */
static void
send_one(struct bconn *bc, uint64_t t)
{
	struct bench *b = bc->b;
	struct slot *s;
	uint32_t rid = next_rid(bc);
	char digits[24];

	s = &bc->ring[rid & bc->mask];
	if (s->rid != 0) {	/* cannot happen: inflight <= ring size */
		snprintf(b->first_error, sizeof b->first_error,
		    "internal: ring slot busy on connection %u", bc->idx);
		b->proto_errors++;
		return;
	}
	s->rid = rid;
	s->t = t;
	b->send.client_id = bc->client_id;
	b->send.seq = ++bc->seq;
	snprintf(b->send.to, sizeof b->send.to, "%s",
	    b->users[(bc->user + 1) % b->nusers_load].name);
	if (b->mode == MODE_DELIVERY) {
		snprintf(digits, sizeof digits, "%020" PRIu64, t);
		memcpy(b->send.body + 2, digits, 20);
	}
	send_req(bc->c, rid, WIRE_OP_SEND, &b->send);
	bc->inflight++;
	b->sent_total++;
}

/* Start what this connection may start now. */
static void
pump(struct bconn *bc, uint64_t now)
{
	struct bench *b = bc->b;
	uint64_t t;

	if (bc->st != CS_READY || !bc->active || b->phase == PH_SETUP)
		return;
	if (b->rate > 0) {
		while (bc->issued < bc->due && bc->inflight < b->window) {
			t = b->t0 + (uint64_t)((double)(bc->aidx +
			    (uint64_t)b->nact * bc->issued) * 1e9 / b->rate);
			bc->issued++;
			send_one(bc, t);
		}
	} else {
		while (now < b->t_end && bc->inflight < b->window &&
		    (b->total == 0 || b->sent_total < b->total))
			send_one(bc, now);
	}
}

/* Open schedule: hand out every send due by now. */
static void
advance_schedule(struct bench *b, uint64_t now)
{
	uint64_t t;
	struct bconn *bc;

	if (b->rate <= 0 || b->phase == PH_SETUP)
		return;
	for (;;) {
		t = b->t0 + (uint64_t)((double)b->k * 1e9 / b->rate);
		if (t > now || t >= b->t_end)
			break;
		bc = b->act[b->k % b->nact];
		b->k++;
		if (bc->st != CS_READY)
			continue;	/* lost: already reported */
		bc->due++;
		pump(bc, now);
	}
}

static uint64_t
next_due(const struct bench *b)
{
	return b->t0 + (uint64_t)((double)b->k * 1e9 / b->rate);
}

static void
on_timerfd(int fd, void *ud)
{
	struct bench *b = ud;
	uint64_t n;

	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		return;
	advance_schedule(b, now_ns());
}

static void
arm_timerfd(struct bench *b, uint64_t at)
{
	struct itimerspec its;

	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = (time_t)(at / NSEC);
	its.it_value.tv_nsec = (long)(at % NSEC);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(b->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ---- connection events -------------------------------------------------- */

union any_msg {
	struct wire_HELLO       hello;
	struct wire_ERROR       error;
	struct wire_PING        ping;
	struct wire_OK          ok;
	struct wire_SESSION     session;
	struct wire_SENT        sent;
	struct wire_REDIRECT    redirect;
	struct wire_NO_PRIMARY  no_primary;
	struct wire_STATUS_INFO status_info;
	struct wire_PUSH_MSG    push_msg;
	struct wire_PUSH_SESSION_END session_end;
};

static void
setup_fail(struct bench *b, struct bconn *bc, const char *what)
{
	if (b->setup_failed)
		return;
	b->setup_failed = 1;
	snprintf(b->fail_msg, sizeof b->fail_msg, "set-up failed on connection "
	    "%u (user %s): %s", bc->idx, b->users[bc->user].name, what);
}

static void
set_first_error(struct bench *b, const char *s)
{
	if (b->first_error[0] == '\0')
		snprintf(b->first_error, sizeof b->first_error, "%s", s);
}

/* The connection is unusable: close it and count it. */
static void
conn_lost(struct bconn *bc, const char *why)
{
	struct bench *b = bc->b;

	if (bc->st == CS_DEAD)
		return;
	if (b->phase == PH_SETUP) {
		setup_fail(b, bc, why);
	} else {
		if (++b->lost_conns <= 10)
			fprintf(stderr, "chatbench: connection %u (user %s) "
			    "lost: %s\n", bc->idx, b->users[bc->user].name, why);
		b->unanswered += bc->inflight;
		if (b->rate > 0)
			b->unanswered += bc->due - bc->issued;
		if (b->lost_note[0] == '\0')
			snprintf(b->lost_note, sizeof b->lost_note,
			    "connection %u (user %s) lost: %s", bc->idx,
			    b->users[bc->user].name, why);
	}
	if (bc->st == CS_READY && b->users[bc->user].live > 0)
		b->users[bc->user].live--;
	bc->st = CS_DEAD;
	bc->inflight = 0;
	if (bc->c) {
		conn_set_data(bc->c, NULL);
		conn_close(bc->c, why, 0);
		bc->c = NULL;
	}
}

static void
become_ready(struct bconn *bc)
{
	bc->st = CS_READY;
	bc->b->nready++;
	bc->b->users[bc->user].live++;
}

static void
send_resume(struct bconn *bc)
{
	struct wire_RESUME r;

	memset(&r, 0, sizeof r);
	r.token.ptr = bc->b->users[bc->user].token;
	r.token.len = CHAT_TOKEN_BYTES;
	bc->setup_rid = send_req(bc->c, next_rid(bc), WIRE_OP_RESUME, &r);
	bc->st = CS_RESUME;
}

static void
send_login(struct bconn *bc)
{
	struct wire_LOGIN m;

	memset(&m, 0, sizeof m);
	m.client_id = bc->client_id;
	m.seq = ++bc->seq;
	snprintf(m.username, sizeof m.username, "%s", bc->b->users[bc->user].name);
	snprintf(m.password, sizeof m.password, "%s", bc->b->password);
	bc->setup_rid = send_req(bc->c, next_rid(bc), WIRE_OP_LOGIN, &m);
	bc->st = CS_LOGIN;
}

static void
after_hello(struct bconn *bc)
{
	struct bench *b = bc->b;
	struct wire_REGISTER m;

	if (bc->idx == b->users[bc->user].first) {
		memset(&m, 0, sizeof m);
		m.client_id = bc->client_id;
		m.seq = ++bc->seq;
		snprintf(m.username, sizeof m.username, "%s",
		    b->users[bc->user].name);
		snprintf(m.password, sizeof m.password, "%s", b->password);
		bc->setup_rid = send_req(bc->c, next_rid(bc),
		    WIRE_OP_REGISTER, &m);
		bc->st = CS_REGISTER;
	} else if (b->users[bc->user].have_token) {
		send_resume(bc);
	} else {
		bc->st = CS_WAIT_TOKEN;
	}
}

static void
describe_error(char *out, size_t n, const struct wire_ERROR *e)
{
	snprintf(out, n, "%s: %s", wire_err_name(e->code), e->text);
}

static void
setup_answer(struct bconn *bc, const struct wire_header *h,
	     const union any_msg *m)
{
	struct bench *b = bc->b;
	struct user *u = &b->users[bc->user];
	char why[300];
	unsigned i;

	if (h->request_id != bc->setup_rid) {
		snprintf(why, sizeof why, "%s answers unknown request id %u",
		    wire_op_name(h->opcode), (unsigned)h->request_id);
		conn_lost(bc, why);
		return;
	}
	if (h->opcode == WIRE_OP_ERROR) {
		describe_error(why, sizeof why, &m->error);
		conn_lost(bc, why);
		return;
	}
	if (h->opcode == WIRE_OP_REDIRECT || h->opcode == WIRE_OP_NO_PRIMARY) {
		conn_lost(bc, "the primary changed during set-up");
		return;
	}
	switch (bc->st) {
	case CS_HELLO:
		if (h->opcode != WIRE_OP_HELLO)
			break;
		after_hello(bc);
		return;
	case CS_REGISTER:
		if (h->opcode != WIRE_OP_OK)
			break;
		send_login(bc);
		return;
	case CS_LOGIN:
	case CS_RESUME:
		if (h->opcode != WIRE_OP_SESSION ||
		    m->session.token.len != CHAT_TOKEN_BYTES)
			break;
		if (bc->st == CS_LOGIN) {
			memcpy(u->token, m->session.token.ptr, CHAT_TOKEN_BYTES);
			u->have_token = 1;
			/* Attach the user's other connections. */
			for (i = bc->idx + 1; i < b->nconns; i++)
				if (b->conns[i].user == bc->user &&
				    b->conns[i].st == CS_WAIT_TOKEN)
					send_resume(&b->conns[i]);
		}
		become_ready(bc);
		return;
	default:
		break;
	}
	snprintf(why, sizeof why, "unexpected %s during set-up",
	    wire_op_name(h->opcode));
	conn_lost(bc, why);
}

/* An answer during the run. */
static void
run_answer(struct bconn *bc, const struct wire_header *h,
	   const union any_msg *m, uint64_t now)
{
	struct bench *b = bc->b;
	struct slot *s = &bc->ring[h->request_id & bc->mask];
	char why[300];
	uint64_t start;
	unsigned code;

	if (s->rid != h->request_id || s->rid == 0) {
		b->proto_errors++;
		snprintf(why, sizeof why, "%s answers unknown request id %u",
		    wire_op_name(h->opcode), (unsigned)h->request_id);
		set_first_error(b, why);
		return;
	}
	start = s->t;
	s->rid = 0;
	bc->inflight--;
	switch (h->opcode) {
	case WIRE_OP_SENT:
		b->acked_total++;
		if (now >= b->t_meas && now < b->t_end)
			b->sends_window++;
		if (in_window(b, start)) {
			samples_add(&b->lat, now - start);
			if (b->mode == MODE_DELIVERY)
				b->expected += b->users[(bc->user + 1) %
				    b->nusers_load].live;
		}
		break;
	case WIRE_OP_ERROR:
		b->errors++;
		code = m->error.code < NERRCODES ? m->error.code : 0;
		b->errcode[code]++;
		describe_error(why, sizeof why, &m->error);
		set_first_error(b, why);
		break;
	case WIRE_OP_REDIRECT:
	case WIRE_OP_NO_PRIMARY:
		b->errors++;
		b->redirects++;
		set_first_error(b, h->opcode == WIRE_OP_REDIRECT ?
		    "REDIRECT: the replica is no longer the primary" :
		    "NO_PRIMARY: the replica is no longer the primary");
		break;
	default:
		b->proto_errors++;
		snprintf(why, sizeof why, "unexpected %s answering SEND",
		    wire_op_name(h->opcode));
		set_first_error(b, why);
		break;
	}
	pump(bc, now);
}

static void
on_push_msg(struct bconn *bc, const struct wire_PUSH_MSG *pm, uint64_t now)
{
	struct bench *b = bc->b;
	char *end;
	uint64_t t;

	b->pushes_total++;
	/* chatd also pushes a message to the sender's other connections
	 * (their copy of what was sent): only the recipient's count. */
	if (strcmp(pm->to, b->users[bc->user].name) != 0) {
		b->echoes++;
		return;
	}
	if (strncmp(pm->body, "t=", 2) != 0)
		goto bad;
	errno = 0;
	t = strtoull(pm->body + 2, &end, 10);
	if (errno != 0 || end == pm->body + 2 || t > now)
		goto bad;
	if (in_window(b, t)) {
		b->received++;
		samples_add(&b->dlat, now - t);
	}
	return;
bad:
	b->proto_errors++;
	set_first_error(b, "PUSH_MSG without a valid t= timestamp");
}

static void
bc_on_connect(struct conn *c, int err)
{
	struct bconn *bc = conn_data(c);

	if (bc == NULL || err != 0)
		return;		/* on_close follows a failure */
	bc->setup_rid = next_rid(bc);
	send_hello(c, bc->setup_rid);
	bc->st = CS_HELLO;
}

static void
bc_on_frame(struct conn *c, const struct wire_header *h,
	    const uint8_t *payload)
{
	struct bconn *bc = conn_data(c);
	const struct wire_opdesc *d;
	struct wire_decode_error err;
	struct wire_PONG pong;
	union any_msg m;
	char why[300];
	uint64_t now = now_ns();

	if (bc == NULL || bc->st == CS_DEAD)
		return;
	d = wire_op(h->opcode);
	if (d == NULL || d->port == WIRE_PORT_INTERNAL ||
	    d->port == WIRE_PORT_RECORD ||
	    (d->dir == WIRE_DIR_REQUEST && h->opcode != WIRE_OP_PING)) {
		snprintf(why, sizeof why, "unexpected opcode %s from server",
		    wire_op_name(h->opcode));
		bc->b->proto_errors++;
		conn_lost(bc, why);
		return;
	}
	/* Pushes of closed/open runs are not looked at: cheap. */
	if (h->opcode == WIRE_OP_PUSH_MSG && bc->b->mode != MODE_DELIVERY) {
		bc->b->pushes_total++;
		return;
	}
	if (h->opcode == WIRE_OP_PUSH_RECEIPT)
		return;
	if (wire_decode(d, payload, h->length, &m, &err) < 0) {
		snprintf(why, sizeof why, "bad %s from server: %s", d->name,
		    err.text);
		bc->b->proto_errors++;
		conn_lost(bc, why);
		return;
	}
	if (h->opcode == WIRE_OP_PING) {
		memset(&pong, 0, sizeof pong);
		pong.token = m.ping.token;
		send_req(c, h->request_id, WIRE_OP_PONG, &pong);
		return;
	}
	if (h->opcode == WIRE_OP_PONG)
		return;
	if (h->request_id == 0) {
		if (h->opcode == WIRE_OP_PUSH_MSG) {
			on_push_msg(bc, &m.push_msg, now);
		} else if (h->opcode == WIRE_OP_PUSH_SESSION_END) {
			conn_lost(bc, "the session ended (PUSH_SESSION_END)");
		} else if (h->opcode == WIRE_OP_ERROR) {
			describe_error(why, sizeof why, &m.error);
			conn_lost(bc, why);
		}
		return;
	}
	if (bc->st != CS_READY)
		setup_answer(bc, h, &m);
	else
		run_answer(bc, h, &m, now);
}

static void
bc_on_close(struct conn *c, const char *reason)
{
	struct bconn *bc = conn_data(c);

	if (bc == NULL)
		return;
	bc->c = NULL;		/* being freed */
	conn_lost(bc, reason);
}

static const struct conn_ops bc_ops = {
	.on_connect = bc_on_connect,
	.on_frame = bc_on_frame,
	.on_close = bc_on_close,
};

/* ---- finding the primary ------------------------------------------------ */

struct probe {
	struct bench *b;
	struct conn  *c;
	unsigned      idx, tried, hops;
	int           found, have_redirect;
	char          host[CHAT_MAX_HOST + 1], redir_host[CHAT_MAX_HOST + 1];
	uint16_t      port, redir_port;
	uint32_t      rid, replica_id;
	uint64_t      retry_at;	/* ms */
	uint64_t      started;	/* ms: the current target's connect */
	char          last[600];
};

static const struct conn_ops probe_ops;

static void
probe_drop(struct probe *p)
{
	if (p->c) {
		conn_set_data(p->c, NULL);
		conn_close(p->c, "probe done", 0);
		p->c = NULL;
	}
}

/* Give up on the current target; try the next after delay_ms. */
static void
probe_next(struct probe *p, unsigned delay_ms)
{
	probe_drop(p);
	if (p->have_redirect && p->hops < MAX_REDIRECTS) {
		p->hops++;
	} else {
		p->have_redirect = 0;
		p->idx = (p->idx + 1) % p->b->cfg.nreplicas;
		if (++p->tried % p->b->cfg.nreplicas == 0 && delay_ms < 200)
			delay_ms = 200;
	}
	p->retry_at = mono_ms() + delay_ms;
}

static void
probe_start(struct probe *p)
{
	const struct replica_addr *r;
	char err[300];

	if (p->have_redirect) {
		snprintf(p->host, sizeof p->host, "%s", p->redir_host);
		p->port = p->redir_port;
		p->have_redirect = 0;
	} else {
		r = &p->b->cfg.replicas[p->idx];
		snprintf(p->host, sizeof p->host, "%s", r->host);
		p->port = r->client_port;
		p->replica_id = r->id;
	}
	p->started = mono_ms();
	p->c = loop_connect(p->b->l, p->host, p->port, &probe_ops, p,
	    WIRE_MAX_PAYLOAD_CLIENT, err, sizeof err);
	if (p->c == NULL) {
		snprintf(p->last, sizeof p->last, "%s", err);
		probe_next(p, 0);
	}
}

static void
probe_on_connect(struct conn *c, int err)
{
	struct probe *p = conn_data(c);

	if (p == NULL || err != 0)
		return;
	send_hello(c, p->rid = 1);
}

static void
probe_on_frame(struct conn *c, const struct wire_header *h,
	       const uint8_t *payload)
{
	struct probe *p = conn_data(c);
	const struct wire_opdesc *d = wire_op(h->opcode);
	struct wire_decode_error err;
	struct wire_STATUS st;
	struct wire_RESUME rs;
	static const uint8_t zero_token[CHAT_TOKEN_BYTES];
	union any_msg m;

	if (p == NULL || p->found)
		return;
	if (d == NULL || wire_decode(d, payload, h->length, &m, &err) < 0) {
		snprintf(p->last, sizeof p->last, "%s:%u: bad frame",
		    p->host, (unsigned)p->port);
		probe_next(p, 0);
		return;
	}
	if (h->request_id == 0 || h->request_id != p->rid)
		return;		/* pushes, stray answers */
	switch (h->opcode) {
	case WIRE_OP_HELLO:
		memset(&st, 0, sizeof st);
		send_req(c, p->rid = 2, WIRE_OP_STATUS, &st);
		return;
	case WIRE_OP_STATUS_INFO:
		p->replica_id = m.status_info.replica_id;
		if (m.status_info.role == 1) {
			p->found = 1;
			return;
		}
		/* Not the primary by its own account: a request that only
		 * the primary answers tells where it is (REDIRECT). A zero
		 * token changes nothing anywhere: the primary says
		 * BAD_TOKEN. */
		memset(&rs, 0, sizeof rs);
		rs.token.ptr = zero_token;
		rs.token.len = CHAT_TOKEN_BYTES;
		send_req(c, p->rid = 3, WIRE_OP_RESUME, &rs);
		return;
	case WIRE_OP_REDIRECT:
		snprintf(p->redir_host, sizeof p->redir_host, "%s",
		    m.redirect.host);
		p->redir_port = m.redirect.port;
		p->have_redirect = 1;
		snprintf(p->last, sizeof p->last, "%s:%u redirects to %s:%u",
		    p->host, (unsigned)p->port, m.redirect.host,
		    (unsigned)m.redirect.port);
		probe_next(p, 0);
		return;
	case WIRE_OP_NO_PRIMARY:
		snprintf(p->last, sizeof p->last, "%s:%u: no primary (%s)",
		    p->host, (unsigned)p->port, m.no_primary.reason);
		probe_next(p, m.no_primary.retry_ms > 1000 ? 1000 :
		    (unsigned)m.no_primary.retry_ms);
		return;
	case WIRE_OP_ERROR:
		if (p->rid == 3 && m.error.code == WIRE_E_BAD_TOKEN) {
			p->found = 1;	/* got past the primary check */
			return;
		}
		snprintf(p->last, sizeof p->last, "%s:%u: %s: %s", p->host,
		    (unsigned)p->port, wire_err_name(m.error.code),
		    m.error.text);
		probe_next(p, 0);
		return;
	default:
		return;
	}
}

static void
probe_on_close(struct conn *c, const char *reason)
{
	struct probe *p = conn_data(c);

	if (p == NULL)
		return;
	p->c = NULL;
	snprintf(p->last, sizeof p->last, "%s:%u: %s", p->host,
	    (unsigned)p->port, reason);
	if (!p->found)
		probe_next(p, 0);
}

static const struct conn_ops probe_ops = {
	.on_connect = probe_on_connect,
	.on_frame = probe_on_frame,
	.on_close = probe_on_close,
};

static int
find_primary(struct bench *b)
{
	struct probe p;
	uint64_t deadline = mono_ms() + PROBE_TIMEOUT_MS;

	memset(&p, 0, sizeof p);
	p.b = b;
	probe_start(&p);
	while (!p.found && mono_ms() < deadline) {
		if (p.c == NULL && mono_ms() >= p.retry_at)
			probe_start(&p);
		/* A stopped (SIGSTOP) replica's kernel still accepts. */
		if (p.c != NULL && mono_ms() - p.started > PROBE_ANSWER_MS) {
			snprintf(p.last, sizeof p.last, "%s:%u: no answer in "
			    "%u ms", p.host, (unsigned)p.port, PROBE_ANSWER_MS);
			probe_next(&p, 0);
		}
		if (loop_run_once(b->l, 20) < 0)
			break;
	}
	if (!p.found) {
		fprintf(stderr, "chatbench: no primary found in %u s%s%s\n",
		    PROBE_TIMEOUT_MS / 1000, p.last[0] ? "; last: " : "",
		    p.last);
		probe_drop(&p);
		return -1;
	}
	snprintf(b->host, sizeof b->host, "%s", p.host);
	b->port = p.port;
	b->replica_id = p.replica_id;
	probe_drop(&p);
	return 0;
}

/* ---- set-up and run ----------------------------------------------------- */

static void
raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int
setup(struct bench *b)
{
	uint64_t tag = random_u64(), pw = random_u64(), start = mono_ms();
	uint64_t deadline = start + 30000u + (uint64_t)b->nusers * 500u;
	uint32_t ring;
	unsigned i;
	char err[300];

	snprintf(b->password, sizeof b->password, "pw-%016" PRIx64, pw);
	b->users = calloc(b->nusers, sizeof *b->users);
	b->conns = calloc(b->nconns, sizeof *b->conns);
	b->act = calloc(b->nconns, sizeof *b->act);
	if (!b->users || !b->conns || !b->act) {
		fprintf(stderr, "chatbench: out of memory\n");
		return -1;
	}
	for (i = 0; i < b->nusers; i++) {
		snprintf(b->users[i].name, sizeof b->users[i].name,
		    "bench-%06" PRIx64 "-%u", tag & 0xFFFFFF, i);
		b->users[i].first = b->nconns;
	}
	for (ring = 1; ring < b->window; ring <<= 1)
		;
	raise_nofile(b->nconns + 64);
	note(b, "primary: replica %u at %s:%u; %u connections, %u users",
	    (unsigned)b->replica_id, b->host, (unsigned)b->port, b->nconns,
	    b->nusers);
	if (b->nconns > b->nload)
		note(b, "%u of them idle (users %u-%u, whom nobody writes to)",
		    b->nconns - b->nload, b->nusers_load, b->nusers - 1);
	for (i = 0; i < b->nconns; i++) {
		struct bconn *bc = &b->conns[i];

		bc->b = b;
		bc->idx = i;
		/* Idle connections have users of their own, so that no
		 * push reaches them. */
		if (i < b->nload)
			bc->user = i % b->nusers_load;
		else
			bc->user = b->nusers_load + (i - b->nload) %
			    (b->nusers - b->nusers_load);
		if (b->users[bc->user].first == b->nconns)
			b->users[bc->user].first = i;
		bc->active = i < b->nload &&
		    (b->mode != MODE_DELIVERY || i % 2 == 0);
		if (bc->active) {
			bc->aidx = b->nact;
			b->act[b->nact++] = bc;
		}
		do
			bc->client_id = random_u64();
		while (bc->client_id == 0);
		bc->mask = ring - 1;
		bc->ring = calloc(ring, sizeof *bc->ring);
		if (bc->ring == NULL) {
			fprintf(stderr, "chatbench: out of memory\n");
			return -1;
		}
		bc->st = CS_CONNECTING;
		bc->c = loop_connect(b->l, b->host, b->port, &bc_ops, bc,
		    WIRE_MAX_PAYLOAD_CLIENT, err, sizeof err);
		if (bc->c == NULL) {
			setup_fail(b, bc, err);
			break;
		}
	}
	while (!b->setup_failed && b->nready < b->nconns) {
		if (mono_ms() >= deadline) {
			snprintf(b->fail_msg, sizeof b->fail_msg,
			    "set-up timed out: %u of %u connections logged in",
			    b->nready, b->nconns);
			b->setup_failed = 1;
			break;
		}
		if (loop_run_once(b->l, 100) < 0)
			break;
	}
	if (b->setup_failed || b->nready < b->nconns) {
		fprintf(stderr, "chatbench: %s\n", b->fail_msg[0] ? b->fail_msg :
		    "set-up failed");
		return -1;
	}
	note(b, "set-up done in %.1f s (REGISTER+LOGIN x %u, RESUME x %u)",
	    (double)(mono_ms() - start) / 1000.0, b->nusers,
	    b->nconns - b->nusers);
	return 0;
}

static int
drained(const struct bench *b)
{
	unsigned i;

	for (i = 0; i < b->nconns; i++) {
		const struct bconn *bc = &b->conns[i];

		if (bc->st != CS_READY)
			continue;
		if (bc->inflight > 0 || (b->rate > 0 && bc->issued < bc->due))
			return 0;
	}
	if (b->rate > 0 && next_due(b) < b->t_end)
		return 0;
	return b->mode != MODE_DELIVERY || b->received >= b->expected;
}

static void
run(struct bench *b)
{
	uint64_t now, wake, drain_end = 0;
	unsigned i;
	int ms;

	memset(b->send.body, 'x', b->size);
	b->send.body[b->size] = '\0';
	if (b->mode == MODE_DELIVERY)
		memcpy(b->send.body, "t=00000000000000000000 ", DELIV_PREFIX);
	b->t0 = now_ns();
	b->t_meas = b->t0 + (uint64_t)(b->warmup * 1e9);
	b->t_end = b->t_meas + (uint64_t)(b->duration * 1e9);
	b->phase = PH_RUN;
	if (b->total)
		note(b, "running %s until %" PRIu64 " sends are answered",
		    mode_names[b->mode], b->total);
	else
		note(b, "running %s for %.1f s after %.1f s warm-up",
		    mode_names[b->mode], b->duration, b->warmup);
	for (i = 0; i < b->nconns; i++)
		pump(&b->conns[i], b->t0);
	while (b->phase != PH_DONE) {
		now = now_ns();
		advance_schedule(b, now);
		if (b->phase == PH_RUN && b->total != 0 &&
		    b->sent_total >= b->total && drained(b)) {
			b->t_end = now;	/* all sent and answered */
			b->duration = (double)(now - b->t_meas) / 1e9;
		}
		if (b->phase == PH_RUN && now >= b->t_end) {
			b->phase = PH_DRAIN;
			drain_end = now + (uint64_t)DRAIN_MS * 1000000u;
		}
		if (b->phase == PH_DRAIN && (drained(b) || now >= drain_end)) {
			b->phase = PH_DONE;
			break;
		}
		wake = b->phase == PH_RUN ? b->t_end : drain_end;
		if (b->rate > 0 && next_due(b) < b->t_end) {
			if (next_due(b) <= now)
				continue;
			arm_timerfd(b, next_due(b));
		}
		ms = wake > now ? (int)((wake - now + 999999u) / 1000000u) : 0;
		if (ms > 100)
			ms = 100;
		if (loop_run_once(b->l, ms) < 0)
			break;
	}
	/* Whatever is still owed now is lost. */
	for (i = 0; i < b->nconns; i++) {
		struct bconn *bc = &b->conns[i];

		if (bc->st != CS_READY)
			continue;
		b->unanswered += bc->inflight;
		if (b->rate > 0)
			b->unanswered += bc->due - bc->issued;
	}
}

/* Forget one run's results before the next (--runs); the connections and
 * sessions stay. */
static void
reset_results(struct bench *b)
{
	unsigned i;

	b->lat.n = b->dlat.n = 0;
	b->lat.dropped = b->dlat.dropped = 0;
	b->sends_window = b->sent_total = b->acked_total = 0;
	b->errors = b->redirects = b->proto_errors = 0;
	b->lost_conns = b->unanswered = 0;
	b->expected = b->received = b->pushes_total = b->echoes = 0;
	memset(b->errcode, 0, sizeof b->errcode);
	b->first_error[0] = b->lost_note[0] = '\0';
	b->k = 0;
	for (i = 0; i < b->nconns; i++)
		b->conns[i].due = b->conns[i].issued = 0;
}

/* ---- report ------------------------------------------------------------- */

static void
git_commit(char *out, size_t n)
{
	FILE *f = popen("git rev-parse --short HEAD 2>/dev/null", "r");
	size_t i;

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, (int)n, f) == NULL)
		out[0] = '\0';
	pclose(f);
	for (i = 0; out[i]; i++)
		if (!((out[i] >= '0' && out[i] <= '9') ||
		    (out[i] >= 'a' && out[i] <= 'f')))
			break;
	out[i] = '\0';
}

/* A JSON string (the host may come from a REDIRECT). */
static void
json_str(FILE *f, const char *p)
{
	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			fprintf(f, "\\u%04x", (unsigned)(unsigned char)*p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
json_lat(FILE *f, const char *name, const struct samples *s)
{
	fprintf(f, "  \"%s\": {\"samples\": %zu, \"dropped\": %" PRIu64
	    ", \"mean\": %.1f, \"p50\": %u, \"p90\": %u, \"p99\": %u, "
	    "\"p999\": %u, \"max\": %u}", name, s->n, s->dropped, mean_us(s),
	    pct(s, 0.5), pct(s, 0.9), pct(s, 0.99), pct(s, 0.999),
	    pct(s, 1.0));
}

static int
write_json(const struct bench *b, double tput)
{
	/* Several runs: a JSON array of one object per run. */
	FILE *f = fopen(b->json_path, b->run_no == 0 ? "w" : "a");
	char commit[64], date[32];
	time_t t = time(NULL);
	struct tm tm;
	unsigned i;
	int first = 1;

	if (f == NULL) {
		fprintf(stderr, "chatbench: %s: %s\n", b->json_path,
		    strerror(errno));
		return -1;
	}
	git_commit(commit, sizeof commit);
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (b->runs > 1)
		fputs(b->run_no == 0 ? "[\n" : ",\n", f);
	fprintf(f, "{\n  \"tool\": \"chatbench\",\n  \"mode\": \"%s\",\n",
	    mode_names[b->mode]);
	if (b->runs > 1)
		fprintf(f, "  \"run\": %u,\n", b->run_no + 1);
	if (commit[0])
		fprintf(f, "  \"commit\": \"%s\",\n", commit);
	fprintf(f, "  \"date\": \"%s\",\n  \"primary\": {\"replica\": %u, "
	    "\"host\": ", date, (unsigned)b->replica_id);
	json_str(f, b->host);
	fprintf(f, ", \"port\": %u},\n", (unsigned)b->port);
	fprintf(f, "  \"params\": {\"connections\": %u, \"pairs\": %u, "
	    "\"users\": %u, \"window\": %u, \"rate\": %.1f, \"duration_s\": "
	    "%.3f, \"warmup_s\": %.3f, \"size\": %u, \"sync_full\": %u},\n",
	    b->nconns, b->npairs, b->nusers, b->window, b->rate, b->duration,
	    b->warmup, b->size, b->cfg.sync_full);
	fprintf(f, "  \"counts\": {\"sends\": %" PRIu64 ", \"sent_total\": %"
	    PRIu64 ", \"acked_total\": %" PRIu64 ", \"errors\": %" PRIu64
	    ", \"redirects\": %" PRIu64 ", \"protocol_errors\": %" PRIu64
	    ", \"lost_connections\": %" PRIu64 ", \"unanswered\": %" PRIu64,
	    b->sends_window, b->sent_total, b->acked_total, b->errors,
	    b->redirects, b->proto_errors, b->lost_conns, b->unanswered);
	if (b->mode == MODE_DELIVERY)
		fprintf(f, ", \"received\": %" PRIu64 ", \"expected\": %"
		    PRIu64 ", \"sender_copies\": %" PRIu64, b->received,
		    b->expected, b->echoes);
	fprintf(f, ", \"error_codes\": {");
	for (i = 0; i < NERRCODES; i++) {
		if (b->errcode[i] == 0)
			continue;
		fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
		    wire_err_name((uint16_t)i), b->errcode[i]);
		first = 0;
	}
	fprintf(f, "}},\n  \"throughput_per_s\": %.1f,\n", tput);
	if (b->mode == MODE_DELIVERY) {
		json_lat(f, "delivery_latency_us", &b->dlat);
		fputs(",\n", f);
	}
	json_lat(f, "ack_latency_us", &b->lat);
	fputs("\n}", f);
	fputs(b->runs > 1 && b->run_no + 1 < b->runs ? "" :
	    b->runs > 1 ? "\n]\n" : "\n", f);
	if (fclose(f) != 0) {
		fprintf(stderr, "chatbench: %s: write failed\n", b->json_path);
		return -1;
	}
	return 0;
}

static int
report(struct bench *b)
{
	double tput = (double)b->sends_window / b->duration;
	const struct samples *s = b->mode == MODE_DELIVERY ? &b->dlat : &b->lat;
	char par[32];
	int failed = 0;
	unsigned i;

	samples_sort(&b->lat);
	samples_sort(&b->dlat);
	if (b->mode == MODE_OPEN)
		snprintf(par, sizeof par, "%.0f/s", b->rate);
	else if (b->mode == MODE_DELIVERY && b->rate > 0)
		snprintf(par, sizeof par, "%.0f/s", b->rate);
	else
		snprintf(par, sizeof par, "%u", b->window);
	if (b->run_no == 0)	/* one header for all runs */
		printf("%-9s%-7s%-7s%-10s%-10s%-10s%-10s%-9s%-9s%-10s%-9s%s\n",
		    "mode", b->mode == MODE_DELIVERY ? "pairs" : "conns",
		    "users", b->mode == MODE_CLOSED || (b->mode ==
		    MODE_DELIVERY && b->rate <= 0) ? "window" : "rate",
		    "duration", "sends", "sends/s", "p50_us", "p99_us",
		    "p99.9_us", "max_us", "errors");
	printf("%-9s%-7u%-7u%-10s%-10.1f%-10" PRIu64 "%-10.0f%-9u%-9u%-10u"
	    "%-9u%" PRIu64 "\n", mode_names[b->mode],
	    b->mode == MODE_DELIVERY ? b->npairs : b->nconns, b->nusers, par,
	    b->duration, b->sends_window, tput, pct(s, 0.5), pct(s, 0.99),
	    pct(s, 0.999), pct(s, 1.0),
	    b->errors + b->proto_errors + b->lost_conns + b->unanswered);
	if (b->mode == MODE_DELIVERY) {
		printf("delivery: received %" PRIu64 " of %" PRIu64
		    " expected pushes (+%" PRIu64 " copies to senders' other "
		    "connections); ack latency p50 %u us, p99 %u us, max %u us\n",
		    b->received, b->expected, b->echoes, pct(&b->lat, 0.5),
		    pct(&b->lat, 0.99), pct(&b->lat, 1.0));
		if (b->received != b->expected) {
			fprintf(stderr, "chatbench: received %" PRIu64 " pushes "
			    "in the window, expected %" PRIu64 "\n",
			    b->received, b->expected);
			failed = 1;
		}
	}
	if (s->dropped)
		fprintf(stderr, "chatbench: sample cap reached: %" PRIu64
		    " samples not kept (percentiles are of the first %zu)\n",
		    s->dropped, s->n);
	if (b->errors) {
		fprintf(stderr, "chatbench: %" PRIu64 " requests failed:",
		    b->errors);
		for (i = 0; i < NERRCODES; i++)
			if (b->errcode[i])
				fprintf(stderr, " %s x%" PRIu64,
				    wire_err_name((uint16_t)i), b->errcode[i]);
		if (b->redirects)
			fprintf(stderr, " REDIRECT/NO_PRIMARY x%" PRIu64,
			    b->redirects);
		fprintf(stderr, "; first: %s\n", b->first_error);
		failed = 1;
	}
	if (b->proto_errors) {
		fprintf(stderr, "chatbench: %" PRIu64 " protocol errors; "
		    "first: %s\n", b->proto_errors, b->first_error);
		failed = 1;
	}
	if (b->lost_conns) {
		fprintf(stderr, "chatbench: %" PRIu64 " connections lost; "
		    "first: %s\n", b->lost_conns, b->lost_note);
		failed = 1;
	}
	if (b->unanswered) {
		fprintf(stderr, "chatbench: %" PRIu64 " requests unanswered "
		    "(lost with a connection, or after the %u s drain)\n",
		    b->unanswered, DRAIN_MS / 1000);
		failed = 1;
	}
	if (b->json_path && write_json(b, tput) < 0)
		failed = 1;
	return failed;
}

/* ---- failover mode ------------------------------------------------------ */
/*
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
 */

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

static struct fo the_fo;	/* large: keep it off the stack */

union fo_msgs {
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
	struct wire_PUSH_SESSION_END session_end;
};

static const char *
fo_role_name(unsigned role)
{
	static const char *const names[] = { "starting", "primary", "backup",
	    "electing", "waiting" };

	return role < 5 ? names[role] : "unknown";
}

/* "HH:MM:SS.mmmZ" of a monotonic time, the way chatd's logs show it. */
static void
fo_wall(const struct fo *f, uint64_t t, char *out, size_t n)
{
	uint64_t ms = f->wall_start_ms + (t - f->mono_start) / FO_MS;
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, n, "%02d:%02d:%02d.%03uZ", tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (unsigned)(ms % 1000));
}

/* ms since t0 (before the run: since the start), signed. */
static double
fo_rel(const struct fo *f, uint64_t t)
{
	uint64_t base = f->t0 ? f->t0 : f->start;

	return t >= base ? (double)(t - base) / 1e6 :
	    -(double)(base - t) / 1e6;
}

static void
fo_event(struct fo *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
fo_event(struct fo *f, const char *fmt, ...)
{
	uint64_t t = now_ns();
	char text[232], w[24];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (f->nevents < FO_MAX_EVENTS) {
		f->events[f->nevents].t = t;
		snprintf(f->events[f->nevents].text,
		    sizeof f->events[f->nevents].text, "%s", text);
		f->nevents++;
	} else {
		f->events_dropped++;
	}
	if (f->b->quiet || f->status_mode)
		return;
	fo_wall(f, t, w, sizeof w);
	fprintf(stderr, "chatbench: %+9.1f ms %s %s\n", fo_rel(f, t), w, text);
}

static void
fo_set_error(struct fo *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
fo_set_error(struct fo *f, const char *fmt, ...)
{
	va_list ap;

	if (f->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->first_error, sizeof f->first_error, fmt, ap);
	va_end(ap);
}

static uint32_t
fo_setup_id(struct fo_conn *fc)
{
	fc->srid = (fc->srid + 1) & 0x7FFFFFFFu;
	if (fc->srid == 0)
		fc->srid = 1;
	return FO_RID_SETUP | fc->srid;
}

static uint32_t
fo_rid_replica(const struct fo *f, unsigned ri)
{
	return f->b->cfg.replicas[ri].id;
}

static void fo_evaluate(struct fo *f, uint64_t now);
static void fo_connect(struct fo_conn *fc, unsigned ri, uint64_t now);

/* ---- the finder ---------------------------------------------------------- */

static const struct conn_ops fo_probe_ops;

static void
fo_probe_done(struct fo_probe *p, int answered, const char *what)
{
	struct fo *f = p->f;
	uint64_t now = now_ns();
	int changed = strcmp(p->what, what) != 0;

	if (p->c) {
		conn_set_data(p->c, NULL);
		conn_close(p->c, "probe done", 0);
		p->c = NULL;
	}
	p->at = now;
	p->answered = answered;
	if (!answered) {
		p->role = 255;
		p->line[0] = '\0';
	}
	snprintf(p->what, sizeof p->what, "%s", what);
	p->next_at = now + FO_RETRY_MS * FO_MS;
	if (changed && !f->status_mode)
		fo_event(f, "probe: replica %u %s (%.1f ms)",
		    (unsigned)fo_rid_replica(f, p->ri), what,
		    (double)(now - p->started) / 1e6);
	fo_evaluate(f, now);
}

static void
fo_probe_start(struct fo *f, unsigned ri, uint64_t now)
{
	struct fo_probe *p = &f->probes[ri];
	const struct replica_addr *r = &f->b->cfg.replicas[ri];
	char err[300];

	p->started = now;
	p->c = loop_connect(f->b->l, r->host, r->client_port, &fo_probe_ops,
	    p, WIRE_MAX_PAYLOAD_CLIENT, err, sizeof err);
	if (p->c == NULL)
		fo_probe_done(p, 0, err);
}

static void
fo_probe_on_connect(struct conn *c, int err)
{
	struct fo_probe *p = conn_data(c);

	if (p == NULL || err != 0)
		return;
	send_hello(c, 1);
}

static void
fo_format_status(struct fo_probe *p, const struct wire_STATUS_INFO *si)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_STATUS_INFO);
	struct wire_list_iter it;
	struct wire_item_MEMBER mb;
	size_t len;
	int first = 1;

	len = (size_t)snprintf(p->line, sizeof p->line, "replica=%u role=%s "
	    "primary=%u epoch=%" PRIu64 " lsn=%" PRIu64 " commit=%" PRIu64
	    " clients=%u", (unsigned)si->replica_id, fo_role_name(si->role),
	    (unsigned)si->primary_id, si->epoch, si->last_lsn, si->commit_lsn,
	    (unsigned)si->clients);
	if (si->waiting_for && len < sizeof p->line)
		len += (size_t)snprintf(p->line + len, sizeof p->line - len,
		    " waiting_for=%u", (unsigned)si->waiting_for);
	if (len < sizeof p->line)
		len += (size_t)snprintf(p->line + len, sizeof p->line - len,
		    " last_epoch=%" PRIu64 " isr=", si->last_epoch);
	wire_list_begin(&it, d, &si->isr);
	while (wire_list_next(&it, &mb) && len < sizeof p->line) {
		len += (size_t)snprintf(p->line + len, sizeof p->line - len,
		    "%s%u", first ? "" : ",", (unsigned)mb.id);
		first = 0;
	}
	if (len < sizeof p->line)
		snprintf(p->line + len, sizeof p->line - len, " uptime_ms=%"
		    PRIu64 " note=\"%s\"", si->uptime_ms, si->note);
}

static void
fo_probe_on_frame(struct conn *c, const struct wire_header *h,
		  const uint8_t *payload)
{
	struct fo_probe *p = conn_data(c);
	const struct wire_opdesc *d = wire_op(h->opcode);
	struct wire_decode_error err;
	struct wire_STATUS st;
	union fo_msgs m;
	char what[240];

	if (p == NULL)
		return;
	if (d == NULL || wire_decode(d, payload, h->length, &m, &err) < 0) {
		fo_probe_done(p, 0, "bad frame");
		return;
	}
	if (h->opcode == WIRE_OP_HELLO && h->request_id == 1) {
		memset(&st, 0, sizeof st);
		send_req(c, 2, WIRE_OP_STATUS, &st);
	} else if (h->opcode == WIRE_OP_STATUS_INFO && h->request_id == 2) {
		p->role = m.status_info.role;
		p->epoch = m.status_info.epoch;
		p->primary_id = m.status_info.primary_id;
		fo_format_status(p, &m.status_info);
		if (m.status_info.role == 1)
			snprintf(what, sizeof what, "is primary of epoch %"
			    PRIu64, m.status_info.epoch);
		else if (m.status_info.primary_id)
			snprintf(what, sizeof what, "is %s, primary %u, "
			    "epoch %" PRIu64, fo_role_name(m.status_info.role),
			    (unsigned)m.status_info.primary_id,
			    m.status_info.epoch);
		else
			snprintf(what, sizeof what, "is %s, epoch %" PRIu64
			    ": %.150s", fo_role_name(m.status_info.role),
			    m.status_info.epoch, m.status_info.note);
		fo_probe_done(p, 1, what);
	} else if (h->opcode == WIRE_OP_ERROR) {
		snprintf(what, sizeof what, "ERROR %s: %.150s",
		    wire_err_name(m.error.code), m.error.text);
		fo_probe_done(p, 0, what);
	} else if (h->opcode == WIRE_OP_PING) {
		struct wire_PONG pong = { 0, m.ping.token };
		send_req(c, h->request_id, WIRE_OP_PONG, &pong);
	}
}

static void
fo_probe_on_close(struct conn *c, const char *reason)
{
	struct fo_probe *p = conn_data(c);

	if (p == NULL)
		return;
	p->c = NULL;
	fo_probe_done(p, 0, reason);
}

static const struct conn_ops fo_probe_ops = {
	.on_connect = fo_probe_on_connect,
	.on_frame = fo_probe_on_frame,
	.on_close = fo_probe_on_close,
};

/*
 * The primary by answers newer than since: a replica that says role 1,
 * with the highest epoch any of those answers showed. -1 if none.
 */
static int
fo_choose(const struct fo *f, uint64_t since)
{
	uint64_t maxep = 0;
	unsigned i;
	int best = -1;

	for (i = 0; i < f->b->cfg.nreplicas; i++) {
		const struct fo_probe *p = &f->probes[i];

		if (p->at > since && p->answered && p->epoch > maxep)
			maxep = p->epoch;
	}
	for (i = 0; i < f->b->cfg.nreplicas; i++) {
		const struct fo_probe *p = &f->probes[i];

		if (p->at > since && p->answered && p->role == 1 &&
		    p->epoch >= maxep &&
		    (best < 0 || p->epoch > f->probes[best].epoch))
			best = (int)i;
	}
	return best;
}

static int
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

static void
fo_finder_tick(struct fo *f, uint64_t now)
{
	int want = fo_wants_probes(f);
	unsigned i;
	char what[64];

	for (i = 0; i < f->b->cfg.nreplicas; i++) {
		struct fo_probe *p = &f->probes[i];

		if (p->c && now - p->started > f->probe_wait_ns) {
			snprintf(what, sizeof what, "no answer in %u ms",
			    (unsigned)(f->probe_wait_ns / FO_MS));
			fo_probe_done(p, 0, what);
		}
		if (want && p->c == NULL && now >= p->next_at)
			fo_probe_start(f, i, now);
	}
}

/* ---- the sending connections ---------------------------------------------- */

static const struct conn_ops fo_conn_ops;

static struct fo_cycle *
fo_cycle_of(struct fo_conn *fc)
{
	return fc->cycle >= 0 ? &fc->f->cycles[fc->cycle] : NULL;
}

static void
fo_send_msg(struct fo_conn *fc, uint64_t k, uint64_t now)
{
	struct fo *f = fc->f;
	struct fo_msg *m = &f->msgs[k];
	struct fo_cycle *cy = fo_cycle_of(fc);

	if (m->seq == 0)
		m->seq = ++fc->seq;
	if (m->sends > 0) {
		f->resent++;
		if (cy)
			cy->resent++;
	}
	if (m->sends < 255)
		m->sends++;
	m->gen = fc->gen;
	f->send.client_id = fc->client_id;
	f->send.seq = m->seq;
	snprintf(f->send.body, sizeof f->send.body, "fo-%" PRIu64, k);
	if (fc->inflight == 0 && now > fc->quiet_since)
		fc->quiet_since = now;
	send_req(fc->c, (uint32_t)(k + 1), WIRE_OP_SEND, &f->send);
	fc->inflight++;
	f->sent++;
}

static void
fo_advance_lo(struct fo_conn *fc)
{
	struct fo *f = fc->f;

	while (fc->lo < fc->due_i) {
		uint8_t s = f->msgs[fc->idx + fc->lo * f->n].state;

		if (s != FM_ACKED && s != FM_FAILED)
			break;
		fc->lo++;
	}
}

static void
fo_pump(struct fo_conn *fc, uint64_t now)
{
	struct fo *f = fc->f;

	if (fc->st != FC_READY || fc->verify)
		return;
	while (fc->inflight < f->window && fc->next_i < fc->due_i) {
		uint64_t k = fc->idx + fc->next_i * f->n;

		fc->next_i++;
		if (f->msgs[k].state != FM_PENDING || f->msgs[k].gen == fc->gen)
			continue;
		fo_send_msg(fc, k, now);
	}
}

/*
 * Give the replica up: close, and look for the primary anew (or go to
 * hint, a replica index from a REDIRECT, or -1). Whatever was in flight
 * is sent again on the next connection.
 */
static void
fo_drop(struct fo_conn *fc, const char *why, int hint)
{
	struct fo *f = fc->f;
	uint64_t now = now_ns();
	int was_ready = fc->st == FC_READY;
	struct fo_cycle *cy;

	if (fc->c) {
		conn_set_data(fc->c, NULL);
		conn_close(fc->c, why, 0);
		fc->c = NULL;
	}
	if (fc->st == FC_IDLE || fc->st == FC_DONE)
		return;
	if (f->phase == PH_SETUP && !fc->verify) {
		if (!f->setup_failed)
			snprintf(f->fail_msg, sizeof f->fail_msg, "set-up failed "
			    "on connection %u (replica %u): %s", fc->idx,
			    (unsigned)fc->replica_id, why);
		f->setup_failed = 1;
		fc->st = FC_IDLE;
		return;
	}
	fo_event(f, "%s %u: %s; looking for the primary", fc->verify ?
	    "verification connection" : "connection", fc->idx, why);
	if (was_ready && !fc->verify) {
		f->reconnects++;
		if (fc->cycle < 0 && f->ncycles < FO_MAX_CYCLES) {
			fc->cycle = (int)f->ncycles++;
			cy = &f->cycles[fc->cycle];
			memset(cy, 0, sizeof *cy);
			cy->conn = fc->idx;
			cy->from_replica = fc->replica_id;
			cy->last_ack = fc->last_ack;
			cy->stalled = fc->stall_since;
			cy->lost = now;
			snprintf(cy->why, sizeof cy->why, "%s", why);
		}
	}
	fc->inflight = 0;
	fc->stall_since = 0;
	fc->st = FC_SEARCH;
	fc->lost_at = now;
	fc->hint = hint;
	fo_evaluate(f, now);
}

static void
fo_connect(struct fo_conn *fc, unsigned ri, uint64_t now)
{
	struct fo *f = fc->f;
	const struct replica_addr *r = &f->b->cfg.replicas[ri];
	const struct fo_probe *p = &f->probes[ri];
	struct fo_cycle *cy = fo_cycle_of(fc);
	char err[300];

	fc->gen++;
	fc->ri = ri;
	fc->replica_id = r->id;
	fc->epoch = p->answered && p->role == 1 ? p->epoch : 0;
	fc->inflight = 0;
	fc->next_i = fc->lo;
	fc->stall_since = 0;
	fc->hint = -1;
	fc->st = FC_CONNECTING;
	if (cy) {
		cy->found = now;
		cy->to_replica = r->id;
		cy->to_epoch = fc->epoch;
		cy->attempts++;
	}
	if (f->phase != PH_SETUP || fc->verify)
		fo_event(f, "%s %u: connecting to replica %u (%s)",
		    fc->verify ? "verification connection" : "connection",
		    fc->idx, (unsigned)r->id, p->what[0] ? p->what : "?");
	fc->c = loop_connect(f->b->l, r->host, r->client_port, &fo_conn_ops,
	    fc, WIRE_MAX_PAYLOAD_CLIENT, err, sizeof err);
	if (fc->c == NULL) {
		fc->st = FC_SEARCH;
		fc->lost_at = now;
	}
}

/* Connections that need a primary get one; silent ones may switch. */
static void
fo_evaluate(struct fo *f, uint64_t now)
{
	unsigned i;
	int best;

	for (i = 0; i <= f->n; i++) {
		struct fo_conn *fc = i < f->n ? &f->conns[i] : &f->vc;

		if (fc->st == FC_SEARCH) {
			if (fc->hint >= 0) {
				fo_connect(fc, (unsigned)fc->hint, now);
				continue;
			}
			best = fo_choose(f, fc->lost_at);
			if (best >= 0)
				fo_connect(fc, (unsigned)best, now);
		} else if (fc->st == FC_READY && fc->stall_since) {
			const struct fo_probe *own = &f->probes[fc->ri];
			char why[200];

			best = fo_choose(f, fc->stall_since);
			if (best >= 0 && (unsigned)best != fc->ri &&
			    f->probes[best].epoch > fc->epoch) {
				snprintf(why, sizeof why, "replica %u silent "
				    "for %.1f ms with %u in flight; replica %u "
				    "is primary of epoch %" PRIu64,
				    (unsigned)fc->replica_id,
				    (double)(now - fc->quiet_since) / 1e6,
				    fc->inflight,
				    (unsigned)fo_rid_replica(f, (unsigned)best),
				    f->probes[best].epoch);
				fo_drop(fc, why, best);
			} else if (own->at > fc->stall_since && own->answered &&
			    own->role == 1 && own->epoch >= fc->epoch) {
				/* It answers STATUS as primary: only slow. */
				fc->stall_since = 0;
				fc->quiet_since = now;
			}
		}
	}
}

static void
fo_send_login(struct fo_conn *fc, const char *user)
{
	struct wire_LOGIN m;

	memset(&m, 0, sizeof m);
	m.client_id = fc->client_id;
	m.seq = ++fc->seq;
	snprintf(m.username, sizeof m.username, "%s", user);
	snprintf(m.password, sizeof m.password, "%s", fc->f->password);
	fc->setup_rid = send_req(fc->c, fo_setup_id(fc), WIRE_OP_LOGIN, &m);
	fc->st = FC_LOGIN;
}

static void
fo_send_register(struct fo_conn *fc, const char *user, enum fo_cstate st)
{
	struct wire_REGISTER m;

	memset(&m, 0, sizeof m);
	m.client_id = fc->client_id;
	m.seq = ++fc->seq;
	snprintf(m.username, sizeof m.username, "%s", user);
	snprintf(m.password, sizeof m.password, "%s", fc->f->password);
	fc->setup_rid = send_req(fc->c, fo_setup_id(fc), WIRE_OP_REGISTER, &m);
	fc->st = st;
}

static void
fo_send_resume(struct fo_conn *fc)
{
	struct wire_RESUME r;

	memset(&r, 0, sizeof r);
	r.token.ptr = fc->f->token;
	r.token.len = CHAT_TOKEN_BYTES;
	fc->setup_rid = send_req(fc->c, fo_setup_id(fc), WIRE_OP_RESUME, &r);
	fc->st = FC_RESUME;
}

static void
fo_send_fetch(struct fo_conn *fc)
{
	struct wire_FETCH m;

	memset(&m, 0, sizeof m);
	m.after_id = fc->after_id;
	m.max = CHAT_MAX_PAGE;
	fc->setup_rid = send_req(fc->c, fo_setup_id(fc), WIRE_OP_FETCH, &m);
	fc->st = FC_FETCH;
}

static void
fo_ready(struct fo_conn *fc, uint64_t now)
{
	struct fo *f = fc->f;
	struct fo_cycle *cy = fo_cycle_of(fc);
	unsigned i;

	fc->st = FC_READY;
	fc->quiet_since = now;
	if (f->phase == PH_SETUP) {
		if (fc->idx == 0) {
			f->first_primary = fc->replica_id;
			f->first_epoch = fc->epoch;
			for (i = 1; i < f->n; i++)
				fo_connect(&f->conns[i], fc->ri, now);
		}
		return;
	}
	if (cy)
		cy->session = now;
	{
		uint64_t j, waiting = 0, before = 0;

		for (j = fc->lo; j < fc->due_i; j++) {
			const struct fo_msg *m = &f->msgs[fc->idx + j * f->n];

			if (m->state != FM_PENDING)
				continue;
			waiting++;
			before += m->sends > 0;
		}
		fo_event(f, "connection %u: session on replica %u; %" PRIu64
		    " SENDs unanswered, %" PRIu64 " of them sent before",
		    fc->idx, (unsigned)fc->replica_id, waiting, before);
	}
	fo_pump(fc, now);
}

/* A MESSAGES page for the verification. */
static void
fo_count_page(struct fo *f, const struct wire_MESSAGES *mm)
{
	struct wire_list_iter it;
	struct wire_item_MSG msg;
	uint64_t k;
	char *end;

	wire_list_begin(&it, wire_op(WIRE_OP_MESSAGES), &mm->msgs);
	while (wire_list_next(&it, &msg)) {
		f->fetched++;
		if (msg.id > f->vc.after_id)
			f->vc.after_id = msg.id;
		if (f->recount_mode) {
			if (strcmp(msg.to, f->recipient) != 0 ||
			    strncmp(msg.body, "fo-", 3) != 0 ||
			    msg.body[3] < '0' || msg.body[3] > '9') {
				f->foreign++;
				continue;
			}
			errno = 0;
			k = strtoull(msg.body + 3, &end, 10);
			if (errno || *end) {
				f->foreign++;
				continue;
			}
			if (f->nfound == f->capfound) {
				size_t cap = f->capfound ? f->capfound * 2 : 4096;
				uint64_t *nv = realloc(f->found, cap * sizeof *nv);

				if (nv == NULL) {
					fprintf(stderr, "chatbench: out of memory\n");
					exit(1);
				}
				f->found = nv;
				f->capfound = cap;
			}
			f->found[f->nfound++] = k;
			continue;
		}
		if (strcmp(msg.from, f->sender) != 0 ||
		    strcmp(msg.to, f->recipient) != 0 ||
		    strncmp(msg.body, "fo-", 3) != 0 ||
		    msg.body[3] < '0' || msg.body[3] > '9') {
			f->foreign++;
			continue;
		}
		errno = 0;
		k = strtoull(msg.body + 3, &end, 10);
		if (errno || *end || k >= f->total) {
			f->foreign++;
			continue;
		}
		if (f->msgs[k].count < 255)
			f->msgs[k].count++;
		if (f->msgs[k].state == FM_ACKED && f->msgs[k].id != msg.id)
			f->mismatch++;
	}
}

static void
fo_setup_answer(struct fo_conn *fc, const struct wire_header *h,
		const union fo_msgs *m, uint64_t now)
{
	struct fo *f = fc->f;
	char why[300];

	if (h->request_id != fc->setup_rid) {
		f->stray++;
		return;
	}
	if (h->opcode == WIRE_OP_REDIRECT) {
		unsigned i;
		int hint = -1;

		f->redirects++;
		for (i = 0; i < f->b->cfg.nreplicas; i++)
			if (f->b->cfg.replicas[i].client_port == m->redirect.port &&
			    strcmp(f->b->cfg.replicas[i].host,
			    m->redirect.host) == 0)
				hint = (int)i;
		snprintf(why, sizeof why, "%s answered REDIRECT to replica %u",
		    wire_op_name(h->opcode), (unsigned)m->redirect.primary_id);
		fo_drop(fc, why, hint);
		return;
	}
	if (h->opcode == WIRE_OP_NO_PRIMARY) {
		f->no_primary++;
		snprintf(why, sizeof why, "NO_PRIMARY: %.200s",
		    m->no_primary.reason);
		fo_drop(fc, why, -1);
		return;
	}
	if (h->opcode == WIRE_OP_ERROR) {
		unsigned code = m->error.code < NERRCODES ? m->error.code : 0;

		if (fc->st == FC_RESUME && m->error.code == WIRE_E_BAD_TOKEN) {
			fo_event(f, "connection %u: RESUME says BAD_TOKEN; "
			    "LOGIN again", fc->idx);
			f->have_token = 0;
			fo_send_login(fc, f->sender);
			return;
		}
		f->retried[code]++;
		snprintf(why, sizeof why, "set-up request answered %s: %.150s",
		    wire_err_name(m->error.code), m->error.text);
		fo_drop(fc, why, -1);
		return;
	}
	switch (fc->st) {
	case FC_HELLO:
		if (h->opcode != WIRE_OP_HELLO)
			break;
		if (fc->verify)
			fo_send_login(fc, f->recipient);
		else if (f->phase == PH_SETUP && fc->idx == 0)
			fo_send_register(fc, f->sender, FC_REGISTER_S);
		else if (f->have_token)
			fo_send_resume(fc);
		else
			fo_send_login(fc, f->sender);
		return;
	case FC_REGISTER_S:
		if (h->opcode != WIRE_OP_OK)
			break;
		fo_send_register(fc, f->recipient, FC_REGISTER_R);
		return;
	case FC_REGISTER_R:
		if (h->opcode != WIRE_OP_OK)
			break;
		fo_send_login(fc, f->sender);
		return;
	case FC_LOGIN:
	case FC_RESUME:
		if (h->opcode != WIRE_OP_SESSION ||
		    m->session.token.len != CHAT_TOKEN_BYTES)
			break;
		if (fc->verify) {
			f->verify_replica = fc->replica_id;
			fo_send_fetch(fc);
			return;
		}
		if (fc->st == FC_LOGIN) {
			memcpy(f->token, m->session.token.ptr, CHAT_TOKEN_BYTES);
			f->have_token = 1;
		}
		fo_ready(fc, now);
		return;
	case FC_FETCH:
		if (h->opcode != WIRE_OP_MESSAGES)
			break;
		fo_count_page(f, &m->messages);
		if (m->messages.more)
			fo_send_fetch(fc);
		else
			fc->st = FC_DONE;
		return;
	default:
		break;
	}
	snprintf(why, sizeof why, "unexpected %s during set-up",
	    wire_op_name(h->opcode));
	f->stray++;
	fo_drop(fc, why, -1);
}

static void
fo_send_answer(struct fo_conn *fc, const struct wire_header *h,
	       const union fo_msgs *m, uint64_t now)
{
	struct fo *f = fc->f;
	uint64_t k = (uint64_t)h->request_id - 1;
	struct fo_msg *msg;
	struct fo_cycle *cy;
	char why[300];
	unsigned code;

	if (k >= f->total || k % f->n != fc->idx ||
	    f->msgs[k].gen != fc->gen || f->msgs[k].state != FM_PENDING) {
		f->stray++;
		return;
	}
	msg = &f->msgs[k];
	switch (h->opcode) {
	case WIRE_OP_SENT:
		msg->state = FM_ACKED;
		msg->id = m->sent.id;
		f->acks[f->nacks++] = now;
		f->acked++;
		fc->inflight--;
		fc->last_ack = now;
		cy = fo_cycle_of(fc);
		if (cy && cy->first_ack == 0 && cy->session) {
			cy->first_ack = now;
			fo_event(f, "connection %u: first ack after the failover"
			    " (fo-%" PRIu64 "), %.1f ms after its last ack",
			    fc->idx, k, (double)(now - cy->last_ack) / 1e6);
			fc->cycle = -1;
		}
		fo_advance_lo(fc);
		fo_pump(fc, now);
		return;
	case WIRE_OP_REDIRECT:
	case WIRE_OP_NO_PRIMARY:
		fo_setup_answer(fc, &(struct wire_header){ .opcode = h->opcode,
		    .request_id = fc->setup_rid, .length = h->length }, m, now);
		return;
	case WIRE_OP_ERROR:
		code = m->error.code < NERRCODES ? m->error.code : 0;
		switch (m->error.code) {
		case WIRE_E_NOT_PRIMARY:
		case WIRE_E_UNAVAILABLE:
		case WIRE_E_INTERNAL:
		case WIRE_E_TOO_MANY_REQUESTS:
		case WIRE_E_BAD_TOKEN:
		case WIRE_E_NOT_LOGGED_IN:
			/* No effect: the same (client_id, seq) goes again. */
			f->retried[code]++;
			if (m->error.code == WIRE_E_BAD_TOKEN)
				f->have_token = 0;
			snprintf(why, sizeof why, "SEND fo-%" PRIu64 " answered "
			    "%s: %.150s", k, wire_err_name(m->error.code),
			    m->error.text);
			fo_drop(fc, why, -1);
			return;
		default:
			break;
		}
		msg->state = FM_FAILED;
		f->failed++;
		f->errors++;
		f->errcode[code]++;
		fo_set_error(f, "SEND fo-%" PRIu64 ": %s: %s", k,
		    wire_err_name(m->error.code), m->error.text);
		fc->inflight--;
		fo_advance_lo(fc);
		fo_pump(fc, now);
		return;
	default:
		f->stray++;
		fo_set_error(f, "unexpected %s answering SEND fo-%" PRIu64,
		    wire_op_name(h->opcode), k);
		return;
	}
}

static void
fo_on_connect(struct conn *c, int err)
{
	struct fo_conn *fc = conn_data(c);

	if (fc == NULL || err != 0)
		return;		/* on_close follows a failure */
	fc->setup_rid = fo_setup_id(fc);
	send_hello(c, fc->setup_rid);
	fc->st = FC_HELLO;
}

static void
fo_on_frame(struct conn *c, const struct wire_header *h,
	    const uint8_t *payload)
{
	struct fo_conn *fc = conn_data(c);
	const struct wire_opdesc *d;
	struct wire_decode_error err;
	union fo_msgs m;
	char why[300];
	uint64_t now = now_ns();

	if (fc == NULL)
		return;
	fc->quiet_since = now;
	if (fc->stall_since) {
		fo_event(fc->f, "connection %u: replica %u answers again after "
		    "%.1f ms", fc->idx, (unsigned)fc->replica_id,
		    (double)(now - fc->stall_since) / 1e6);
		fc->stall_since = 0;
	}
	if (h->opcode == WIRE_OP_PUSH_MSG || h->opcode == WIRE_OP_PUSH_RECEIPT)
		return;
	d = wire_op(h->opcode);
	if (d == NULL || wire_decode(d, payload, h->length, &m, &err) < 0) {
		snprintf(why, sizeof why, "bad %s from server: %s",
		    wire_op_name(h->opcode), d ? err.text : "unknown opcode");
		fc->f->stray++;
		fo_set_error(fc->f, "%s", why);
		fo_drop(fc, why, -1);
		return;
	}
	if (h->opcode == WIRE_OP_PING) {
		struct wire_PONG pong = { 0, m.ping.token };
		send_req(c, h->request_id, WIRE_OP_PONG, &pong);
		return;
	}
	if (h->opcode == WIRE_OP_PONG)
		return;
	if (h->request_id == 0) {
		if (h->opcode == WIRE_OP_PUSH_SESSION_END) {
			fc->f->have_token = 0;
			fo_drop(fc, "the session ended (PUSH_SESSION_END)", -1);
		} else if (h->opcode == WIRE_OP_ERROR) {
			snprintf(why, sizeof why, "ERROR %s: %s",
			    wire_err_name(m.error.code), m.error.text);
			fo_drop(fc, why, -1);
		}
		return;
	}
	if (h->request_id & FO_RID_SETUP)
		fo_setup_answer(fc, h, &m, now);
	else if (fc->st == FC_READY)
		fo_send_answer(fc, h, &m, now);
	else
		fc->f->stray++;
}

static void
fo_on_close(struct conn *c, const char *reason)
{
	struct fo_conn *fc = conn_data(c);
	char why[300];

	if (fc == NULL)
		return;
	fc->c = NULL;
	snprintf(why, sizeof why, "replica %u: %s", (unsigned)fc->replica_id,
	    reason);
	fo_drop(fc, why, -1);
}

static const struct conn_ops fo_conn_ops = {
	.on_connect = fo_on_connect,
	.on_frame = fo_on_frame,
	.on_close = fo_on_close,
};

/* ---- the run ---------------------------------------------------------------- */

static uint64_t
fo_due(const struct fo *f, uint64_t k)
{
	return f->t0 + (uint64_t)((double)k * 1e9 / f->b->rate);
}

static void
fo_advance(struct fo *f, uint64_t now)
{
	unsigned i;
	int any = 0;

	if (f->phase != PH_RUN && f->phase != PH_DRAIN)
		return;
	while (f->k < f->total && fo_due(f, f->k) <= now) {
		struct fo_conn *fc = &f->conns[f->k % f->n];

		f->msgs[f->k].state = FM_PENDING;
		fc->due_i = f->k / f->n + 1;
		f->k++;
		any = 1;
	}
	if (any)
		for (i = 0; i < f->n; i++)
			fo_pump(&f->conns[i], now);
}

static void
fo_on_timerfd(int fd, void *ud)
{
	struct fo *f = ud;
	uint64_t n;

	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		return;
	fo_advance(f, now_ns());
}

static void
fo_tick(struct fo *f, uint64_t now)
{
	unsigned i;

	for (i = 0; i < f->n; i++) {
		struct fo_conn *fc = &f->conns[i];

		if (fc->st != FC_READY || fc->inflight == 0)
			continue;
		if (fc->stall_since == 0 && now - fc->quiet_since > f->stall_ns) {
			fc->stall_since = now;
			f->stalls++;
			fo_event(f, "connection %u: nothing from replica %u for "
			    "%.1f ms with %u SENDs in flight; probing the "
			    "replicas", fc->idx, (unsigned)fc->replica_id,
			    (double)(now - fc->quiet_since) / 1e6, fc->inflight);
		}
		if (now - fc->quiet_since > f->silent_ns) {
			char why[200];

			f->silent_drops++;
			snprintf(why, sizeof why, "replica %u silent for %.0f ms "
			    "(client_timeout_ms)", (unsigned)fc->replica_id,
			    (double)(now - fc->quiet_since) / 1e6);
			fo_drop(fc, why, -1);
		}
	}
	fo_finder_tick(f, now);
	fo_evaluate(f, now);
}

static int
fo_all_answered(const struct fo *f)
{
	return f->k == f->total && f->acked + f->failed == f->total;
}

/* One pass of the loop, sleeping at most max_ms. */
static int
fo_pass(struct fo *f, int max_ms)
{
	uint64_t now = now_ns();
	int ms = max_ms;

	fo_advance(f, now);
	fo_tick(f, now);
	if (fo_wants_probes(f) && ms > 1)
		ms = 1;
	if ((f->phase == PH_RUN || f->phase == PH_DRAIN) && f->k < f->total &&
	    f->b->tfd >= 0)
		arm_timerfd(f->b, fo_due(f, f->k));
	return loop_run_once(f->b->l, ms);
}

static int
fo_init(struct fo *f, struct bench *b, unsigned n, unsigned window,
	unsigned stall_ms)
{
	uint64_t tag = random_u64(), pw = random_u64();
	double want = b->rate * b->duration;
	unsigned i;

	f->b = b;
	f->n = f->status_mode ? 0 : n;
	f->window = window;
	f->stall_ns = (uint64_t)stall_ms * FO_MS;
	f->silent_ns = (uint64_t)b->cfg.client_timeout_ms * FO_MS;
	f->probe_wait_ns = (uint64_t)FO_PROBE_WAIT_MS * FO_MS;
	f->mono_start = f->start = now_ns();
	f->wall_start_ms = wall_ms();
	for (i = 0; i < b->cfg.nreplicas; i++) {
		f->probes[i].f = f;
		f->probes[i].ri = i;
	}
	f->vc.f = f;
	f->vc.verify = 1;
	f->vc.cycle = f->vc.hint = -1;
	f->vc.st = FC_IDLE;
	do
		f->vc.client_id = random_u64();
	while (f->vc.client_id == 0);
	if (f->status_mode)
		return 0;
	if (want < 1 || want > (double)FO_MAX_MSGS) {
		fprintf(stderr, "chatbench: rate x duration = %.0f messages; "
		    "1 to %llu are possible\n", want,
		    (unsigned long long)FO_MAX_MSGS);
		return -1;
	}
	f->total = (uint64_t)want;
	f->msgs = calloc(f->total, sizeof *f->msgs);
	f->acks = calloc(f->total, sizeof *f->acks);
	f->conns = calloc(n, sizeof *f->conns);
	if (!f->msgs || !f->acks || !f->conns) {
		fprintf(stderr, "chatbench: out of memory\n");
		return -1;
	}
	snprintf(f->sender, sizeof f->sender, "fo-%06" PRIx64 "-s",
	    tag & 0xFFFFFF);
	snprintf(f->recipient, sizeof f->recipient, "fo-%06" PRIx64 "-r",
	    tag & 0xFFFFFF);
	snprintf(f->password, sizeof f->password, "pw-%016" PRIx64, pw);
	snprintf(f->send.to, sizeof f->send.to, "%s", f->recipient);
	for (i = 0; i < n; i++) {
		struct fo_conn *fc = &f->conns[i];

		fc->f = f;
		fc->idx = i;
		fc->st = FC_IDLE;
		fc->cycle = fc->hint = -1;
		do
			fc->client_id = random_u64();
		while (fc->client_id == 0);
	}
	return 0;
}

static void
fo_close_quietly(struct fo_conn *fc)
{
	if (fc->c) {
		conn_set_data(fc->c, NULL);
		conn_close(fc->c, "done", 0);
		fc->c = NULL;
	}
	fc->st = FC_DONE;
}

static void
fo_last_probes(const struct fo *f, char *out, size_t n)
{
	size_t len = 0;
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < f->b->cfg.nreplicas && len < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%sreplica %u %s",
		    i ? "; " : "", (unsigned)f->b->cfg.replicas[i].id,
		    f->probes[i].what[0] ? f->probes[i].what : "not probed");
}

static int
fo_setup(struct fo *f)
{
	uint64_t start = now_ns();
	uint64_t find_by = start + (uint64_t)PROBE_TIMEOUT_MS * FO_MS;
	uint64_t deadline = find_by + 30000ull * FO_MS;
	unsigned i, ready;
	char last[700];

	f->phase = PH_SETUP;
	f->conns[0].st = FC_SEARCH;
	f->conns[0].lost_at = 0;
	for (;;) {
		uint64_t now = now_ns();

		for (ready = 0, i = 0; i < f->n; i++)
			ready += f->conns[i].st == FC_READY;
		if (ready == f->n || f->setup_failed)
			break;
		if (f->conns[0].st == FC_SEARCH && now >= find_by) {
			fo_last_probes(f, last, sizeof last);
			snprintf(f->fail_msg, sizeof f->fail_msg, "no primary "
			    "found in %u s; %.500s", PROBE_TIMEOUT_MS / 1000,
			    last);
			f->setup_failed = 1;
			break;
		}
		if (now >= deadline) {
			snprintf(f->fail_msg, sizeof f->fail_msg, "set-up timed "
			    "out: %u of %u connections logged in", ready, f->n);
			f->setup_failed = 1;
			break;
		}
		if (fo_pass(f, 20) < 0)
			break;
	}
	if (f->setup_failed) {
		fprintf(stderr, "chatbench: %s\n", f->fail_msg);
		return -1;
	}
	note(f->b, "primary: replica %u (epoch %" PRIu64 "); %u connection%s "
	    "of user %s sending to %s; set-up took %.1f s",
	    (unsigned)f->first_primary, f->first_epoch, f->n,
	    f->n == 1 ? "" : "s", f->sender, f->recipient,
	    (double)(now_ns() - start) / 1e9);
	return 0;
}

static void
fo_run(struct fo *f)
{
	unsigned i;

	f->t0 = now_ns();
	f->t_end = f->t0 + (uint64_t)(f->b->duration * 1e9);
	f->phase = PH_RUN;
	fo_event(f, "running: %" PRIu64 " SENDs at %.0f/s for %.1f s over %u "
	    "connection%s", f->total, f->b->rate, f->b->duration, f->n,
	    f->n == 1 ? "" : "s");
	for (;;) {
		uint64_t now = now_ns();

		if (f->phase == PH_RUN && now >= f->t_end) {
			f->phase = PH_DRAIN;
			f->drain_end = now + (uint64_t)FO_DRAIN_MS * FO_MS;
		}
		if (f->phase == PH_DRAIN && (fo_all_answered(f) ||
		    now >= f->drain_end))
			break;
		if (fo_pass(f, 5) < 0)
			break;
	}
	for (i = 0; i < f->n; i++)
		fo_close_quietly(&f->conns[i]);
	f->last_primary = f->conns[0].replica_id;
	f->last_epoch = f->conns[0].epoch;
	f->phase = PH_DONE;
}

/* Log in as the recipient on the primary and count every fo-<k>. */
static int
fo_verify(struct fo *f)
{
	uint64_t deadline = now_ns() + (uint64_t)FO_VERIFY_MS * FO_MS;
	char last[700];
	uint64_t k;

	f->vc.st = FC_SEARCH;
	f->vc.lost_at = now_ns();
	while (f->vc.st != FC_DONE && now_ns() < deadline)
		if (fo_pass(f, 20) < 0)
			break;
	if (f->vc.st != FC_DONE) {
		fo_last_probes(f, last, sizeof last);
		fprintf(stderr, "chatbench: verification failed: no complete "
		    "FETCH within %u s (state %d); %s\n", FO_VERIFY_MS / 1000,
		    (int)f->vc.st, last);
		fo_close_quietly(&f->vc);
		return -1;
	}
	fo_close_quietly(&f->vc);
	f->verified = 1;
	for (k = 0; k < f->total; k++) {
		const struct fo_msg *m = &f->msgs[k];

		if (m->state == FM_ACKED && m->count == 0)
			f->lost++;
		if (m->count > 1)
			f->duplicated++;
		if (m->state != FM_ACKED && m->count > 0)
			f->unacked_stored++;
	}
	return 0;
}

struct fo_gap { uint64_t len, from, to; };

/* The three longest intervals between consecutive acks. */
static void
fo_gaps(const struct fo *f, struct fo_gap top[3])
{
	uint64_t i;
	int j;

	memset(top, 0, 3 * sizeof *top);
	for (i = 1; i < f->nacks; i++) {
		struct fo_gap g = { f->acks[i] - f->acks[i - 1], f->acks[i - 1],
		    f->acks[i] };

		for (j = 0; j < 3; j++) {
			if (g.len > top[j].len) {
				struct fo_gap t = top[j];
				top[j] = g;
				g = t;
			}
		}
	}
}

static double
fo_ms_since(uint64_t from, uint64_t to)
{
	if (from == 0 || to == 0)
		return -1;
	return to >= from ? (double)(to - from) / 1e6 :
	    -(double)(from - to) / 1e6;
}

static void
fo_json_num(FILE *f, const char *name, double v)
{
	if (v < 0)
		fprintf(f, "\"%s\": null", name);
	else
		fprintf(f, "\"%s\": %.3f", name, v);
}

static int
fo_write_json(const struct fo *f, const struct fo_gap top[3], int failed)
{
	const struct bench *b = f->b;
	FILE *out = fopen(b->json_path, "w");
	char commit[64], date[32], w[24];
	time_t t = time(NULL);
	struct tm tm;
	unsigned i;
	int first;

	if (out == NULL) {
		fprintf(stderr, "chatbench: %s: %s\n", b->json_path,
		    strerror(errno));
		return -1;
	}
	git_commit(commit, sizeof commit);
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(out, "{\n  \"tool\": \"chatbench\",\n  \"mode\": \"failover\",\n");
	if (commit[0])
		fprintf(out, "  \"commit\": \"%s\",\n", commit);
	fprintf(out, "  \"date\": \"%s\",\n", date);
	fprintf(out, "  \"params\": {\"connections\": %u, \"rate\": %.1f, "
	    "\"duration_s\": %.3f, \"window\": %u, \"stall_ms\": %.0f, "
	    "\"retry_ms\": %u, \"client_timeout_ms\": %u, \"heartbeat_ms\": %u, "
	    "\"election_timeout_ms\": %u},\n", f->n, b->rate, b->duration,
	    f->window, (double)f->stall_ns / 1e6, FO_RETRY_MS,
	    b->cfg.client_timeout_ms, b->cfg.heartbeat_ms,
	    b->cfg.election_timeout_ms);
	fprintf(out, "  \"primary_first\": {\"replica\": %u, \"epoch\": %" PRIu64
	    "},\n  \"primary_last\": {\"replica\": %u, \"epoch\": %" PRIu64
	    "},\n", (unsigned)f->first_primary, f->first_epoch,
	    (unsigned)f->last_primary, f->last_epoch);
	fprintf(out, "  \"sender\": \"%s\",\n  \"recipient\": \"%s\",\n"
	    "  \"recipient_password\": \"%s\",\n", f->sender, f->recipient,
	    f->password);
	fprintf(out, "  \"t0_wall_ms\": %" PRIu64 ",\n", (uint64_t)
	    (f->wall_start_ms + (f->t0 - f->mono_start) / FO_MS));
	fprintf(out, "  \"messages\": %" PRIu64 ",\n  \"sent\": %" PRIu64
	    ",\n  \"resent\": %" PRIu64 ",\n  \"acked\": %" PRIu64
	    ",\n  \"failed\": %" PRIu64 ",\n  \"unacked\": %" PRIu64
	    ",\n  \"reconnects\": %" PRIu64 ",\n  \"redirects\": %" PRIu64
	    ",\n  \"no_primary\": %" PRIu64 ",\n  \"stalls\": %" PRIu64
	    ",\n  \"silent_drops\": %" PRIu64 ",\n  \"stray\": %" PRIu64 ",\n",
	    f->total, f->sent, f->resent, f->acked, f->failed,
	    f->total - f->acked - f->failed, f->reconnects, f->redirects,
	    f->no_primary, f->stalls, f->silent_drops, f->stray);
	fprintf(out, "  \"gap_ms\": %.3f,\n  \"gap_start_ms\": %.3f,\n"
	    "  \"gap_end_ms\": %.3f,\n", (double)top[0].len / 1e6,
	    top[0].len ? fo_rel(f, top[0].from) : 0.0,
	    top[0].len ? fo_rel(f, top[0].to) : 0.0);
	fprintf(out, "  \"next_gaps_ms\": [%.3f, %.3f],\n",
	    (double)top[1].len / 1e6, (double)top[2].len / 1e6);
	fprintf(out, "  \"verified\": %s,\n  \"verify_replica\": %u,\n"
	    "  \"fetched\": %" PRIu64 ",\n  \"foreign\": %" PRIu64 ",\n"
	    "  \"lost\": %" PRIu64 ",\n  \"duplicated\": %" PRIu64 ",\n"
	    "  \"id_mismatch\": %" PRIu64 ",\n  \"unacked_stored\": %" PRIu64
	    ",\n", f->verified ? "true" : "false", (unsigned)f->verify_replica,
	    f->fetched, f->foreign, f->lost, f->duplicated, f->mismatch,
	    f->unacked_stored);
	fprintf(out, "  \"errors\": %" PRIu64 ",\n  \"error_codes\": {",
	    f->errors);
	for (first = 1, i = 0; i < NERRCODES; i++) {
		if (f->errcode[i] == 0)
			continue;
		fprintf(out, "%s\"%s\": %" PRIu64, first ? "" : ", ",
		    wire_err_name((uint16_t)i), f->errcode[i]);
		first = 0;
	}
	fprintf(out, "},\n  \"retried_codes\": {");
	for (first = 1, i = 0; i < NERRCODES; i++) {
		if (f->retried[i] == 0)
			continue;
		fprintf(out, "%s\"%s\": %" PRIu64, first ? "" : ", ",
		    wire_err_name((uint16_t)i), f->retried[i]);
		first = 0;
	}
	fprintf(out, "},\n  \"first_error\": ");
	json_str(out, f->first_error);
	fprintf(out, ",\n  \"failovers\": [");
	for (i = 0; i < f->ncycles; i++) {
		const struct fo_cycle *c = &f->cycles[i];

		fprintf(out, "%s\n    {\"connection\": %u, \"from_replica\": %u, "
		    "\"to_replica\": %u, \"to_epoch\": %" PRIu64 ", ",
		    i ? "," : "", c->conn, (unsigned)c->from_replica,
		    (unsigned)c->to_replica, c->to_epoch);
		fo_json_num(out, "last_ack_ms", c->last_ack ?
		    fo_rel(f, c->last_ack) : -1);
		fputs(", ", out);
		fo_json_num(out, "stalled_after_ms", fo_ms_since(c->last_ack,
		    c->stalled));
		fputs(", ", out);
		fo_json_num(out, "lost_after_ms", fo_ms_since(c->last_ack,
		    c->lost));
		fputs(", ", out);
		fo_json_num(out, "found_after_ms", fo_ms_since(c->last_ack,
		    c->found));
		fputs(", ", out);
		fo_json_num(out, "session_after_ms", fo_ms_since(c->last_ack,
		    c->session));
		fputs(", ", out);
		fo_json_num(out, "first_ack_after_ms", fo_ms_since(c->last_ack,
		    c->first_ack));
		fprintf(out, ", \"resent\": %u, \"attempts\": %u, \"why\": ",
		    c->resent, c->attempts);
		json_str(out, c->why);
		fputc('}', out);
	}
	fprintf(out, "%s],\n  \"events\": [", f->ncycles ? "\n  " : "");
	for (i = 0; i < f->nevents; i++) {
		fo_wall(f, f->events[i].t, w, sizeof w);
		fprintf(out, "%s\n    {\"t_ms\": %.3f, \"wall\": \"%s\", "
		    "\"what\": ", i ? "," : "", fo_rel(f, f->events[i].t), w);
		json_str(out, f->events[i].text);
		fputc('}', out);
	}
	fprintf(out, "%s],\n  \"events_dropped\": %" PRIu64 ",\n  \"ok\": %s\n}\n",
	    f->nevents ? "\n  " : "", f->events_dropped,
	    failed ? "false" : "true");
	if (fclose(out) != 0) {
		fprintf(stderr, "chatbench: %s: write failed\n", b->json_path);
		return -1;
	}
	return 0;
}

static int
fo_report(struct fo *f, int verify_ok)
{
	struct fo_gap top[3];
	uint64_t unacked = f->total - f->acked - f->failed;
	char rate[32], lost[24] = "?", dup[24] = "?";
	unsigned i;
	int failed = 0;

	fo_gaps(f, top);
	snprintf(rate, sizeof rate, "%.0f/s", f->b->rate);
	printf("%-9s%-7s%-8s%-10s%-8s%-8s%-8s%-11s%-10s%-6s%-12s%-9s%s\n",
	    "mode", "conns", "rate", "duration", "sent", "acked", "resent",
	    "reconnects", "gap_ms", "lost", "duplicated", "unacked", "errors");
	if (f->verified) {
		snprintf(lost, sizeof lost, "%" PRIu64, f->lost);
		snprintf(dup, sizeof dup, "%" PRIu64, f->duplicated);
	}
	printf("%-9s%-7u%-8s%-10.1f%-8" PRIu64 "%-8" PRIu64 "%-8" PRIu64
	    "%-11" PRIu64 "%-10.1f%-6s%-12s%-9" PRIu64 "%" PRIu64 "\n",
	    "failover", f->n, rate, f->b->duration, f->sent, f->acked,
	    f->resent, f->reconnects, (double)top[0].len / 1e6, lost, dup,
	    unacked, f->errors);
	fflush(stdout);
	for (i = 0; i < f->ncycles; i++) {
		const struct fo_cycle *c = &f->cycles[i];
		char steps[400];
		size_t len = 0;

		steps[0] = '\0';
		if (c->stalled)
			len += (size_t)snprintf(steps + len, sizeof steps - len,
			    "silence noticed %+.1f, ",
			    fo_ms_since(c->last_ack, c->stalled));
		if (len < sizeof steps)
			len += (size_t)snprintf(steps + len, sizeof steps - len,
			    "given up %+.1f", fo_ms_since(c->last_ack, c->lost));
		if (c->found && len < sizeof steps)
			len += (size_t)snprintf(steps + len, sizeof steps - len,
			    ", primary found %+.1f",
			    fo_ms_since(c->last_ack, c->found));
		if (c->session && len < sizeof steps)
			len += (size_t)snprintf(steps + len, sizeof steps - len,
			    ", session %+.1f",
			    fo_ms_since(c->last_ack, c->session));
		if (c->first_ack && len < sizeof steps)
			snprintf(steps + len, sizeof steps - len,
			    ", first ack %+.1f",
			    fo_ms_since(c->last_ack, c->first_ack));
		fprintf(stderr, "chatbench: failover %u (connection %u): replica "
		    "%u -> %u (epoch %" PRIu64 "); ms after the last ack (at "
		    "%+.1f ms): %s; %u SENDs sent again, %u connection "
		    "attempt%s; cause: %s\n", i + 1, c->conn,
		    (unsigned)c->from_replica, (unsigned)c->to_replica,
		    c->to_epoch, c->last_ack ? fo_rel(f, c->last_ack) : 0.0,
		    steps, c->resent, c->attempts, c->attempts == 1 ? "" : "s",
		    c->why);
	}
	if (top[0].len)
		fprintf(stderr, "chatbench: longest gap %.1f ms (%+.1f to %+.1f "
		    "ms); next longest %.1f, %.1f ms\n", (double)top[0].len / 1e6,
		    fo_rel(f, top[0].from), fo_rel(f, top[0].to),
		    (double)top[1].len / 1e6, (double)top[2].len / 1e6);
	if (f->verified)
		fprintf(stderr, "chatbench: verified on replica %u: %" PRIu64
		    " messages fetched (%" PRIu64 " not of this run); lost %"
		    PRIu64 ", duplicated %" PRIu64 ", id mismatch %" PRIu64
		    ", unacknowledged but stored %" PRIu64 "\n",
		    (unsigned)f->verify_replica, f->fetched, f->foreign, f->lost,
		    f->duplicated, f->mismatch, f->unacked_stored);
	if (!verify_ok)
		failed = 1;
	if (f->lost || f->duplicated || f->mismatch) {
		fprintf(stderr, "chatbench: FAILED: %" PRIu64 " acknowledged "
		    "messages lost, %" PRIu64 " duplicated, %" PRIu64 " stored "
		    "under another id than acknowledged\n", f->lost,
		    f->duplicated, f->mismatch);
		failed = 1;
	}
	if (unacked) {
		fprintf(stderr, "chatbench: %" PRIu64 " SENDs never answered "
		    "(within the run and a %u s drain)\n", unacked,
		    FO_DRAIN_MS / 1000);
		failed = 1;
	}
	if (f->errors) {
		fprintf(stderr, "chatbench: %" PRIu64 " SENDs failed; first: %s\n",
		    f->errors, f->first_error);
		failed = 1;
	}
	if (f->b->json_path && fo_write_json(f, top, failed) < 0)
		failed = 1;
	return failed;
}

/* status: one STATUS per replica. */
static int
fo_status(struct fo *f)
{
	uint64_t start = now_ns(), deadline;
	unsigned i, done;

	f->probe_wait_ns = (uint64_t)FO_STATUS_WAIT_MS * FO_MS;
	deadline = start + f->probe_wait_ns + 500 * FO_MS;
	for (i = 0; i < f->b->cfg.nreplicas; i++)
		fo_probe_start(f, i, now_ns());
	for (;;) {
		for (done = 0, i = 0; i < f->b->cfg.nreplicas; i++)
			done += f->probes[i].at > start;
		if (done == f->b->cfg.nreplicas || now_ns() >= deadline)
			break;
		fo_finder_tick(f, now_ns());
		if (loop_run_once(f->b->l, 10) < 0)
			break;
	}
	for (i = 0; i < f->b->cfg.nreplicas; i++) {
		const struct fo_probe *p = &f->probes[i];

		if (p->at > start && p->answered)
			printf("%s\n", p->line);
		else
			printf("replica=%u down: %s\n",
			    (unsigned)f->b->cfg.replicas[i].id,
			    p->at > start ? p->what : "no answer");
	}
	return 0;
}

static int
fo_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * recount USER PASSWORD: log in as USER on the primary and count the
 * bodies fo-<k> of the messages to USER, as a failover run left them (its
 * JSON names the recipient and its password). Every replica that says it
 * is primary is asked (after a split brain there may be two); one line
 * each:
 *   replica=ID epoch=E fetched=N fo=F distinct=D duplicated=U max_k=K
 * (duplicated: how many k were found more than once). Exit 1 if no
 * replica said it is primary, or a count failed.
 */
static int
fo_recount_one(struct fo *f, unsigned ri)
{
	uint64_t deadline = now_ns() + (uint64_t)FO_VERIFY_MS * FO_MS;
	uint64_t distinct = 0, dup = 0, maxk = 0;
	size_t i;

	f->nfound = 0;
	f->fetched = f->foreign = 0;
	f->vc.after_id = 0;
	f->vc.hint = (int)ri;
	f->vc.st = FC_SEARCH;
	f->vc.lost_at = now_ns();
	f->verify_replica = 0;
	while (f->vc.st != FC_DONE && now_ns() < deadline)
		if (fo_pass(f, 20) < 0)
			break;
	if (f->vc.st != FC_DONE || f->verify_replica != fo_rid_replica(f, ri)) {
		printf("replica=%u recount failed (%s)\n",
		    (unsigned)fo_rid_replica(f, ri), f->vc.st == FC_DONE ?
		    "answered by another replica" : "no complete FETCH in time");
		fo_close_quietly(&f->vc);
		return 1;
	}
	fo_close_quietly(&f->vc);
	if (f->nfound)
		qsort(f->found, f->nfound, sizeof *f->found, fo_cmp_u64);
	for (i = 0; i < f->nfound; i++) {
		if (i == 0 || f->found[i] != f->found[i - 1])
			distinct++;
		else if (i < 2 || f->found[i - 1] != f->found[i - 2])
			dup++;	/* each duplicated k once */
		if (f->found[i] > maxk)
			maxk = f->found[i];
	}
	printf("replica=%u epoch=%" PRIu64 " fetched=%" PRIu64 " fo=%zu "
	    "distinct=%" PRIu64 " duplicated=%" PRIu64 " max_k=%" PRIu64 "\n",
	    (unsigned)f->verify_replica, f->probes[ri].epoch, f->fetched,
	    f->nfound, distinct, dup, maxk);
	return 0;
}

static int
fo_recount(struct fo *f, const char *user, const char *password)
{
	uint64_t start = now_ns(), deadline;
	unsigned i, done, primaries = 0;
	int rc = 0;

	snprintf(f->recipient, sizeof f->recipient, "%s", user);
	snprintf(f->password, sizeof f->password, "%s", password);
	/* Who says it is primary: one STATUS each, retried for a while. */
	f->probe_wait_ns = (uint64_t)FO_STATUS_WAIT_MS * FO_MS;
	deadline = start + (uint64_t)PROBE_TIMEOUT_MS * FO_MS;
	for (;;) {
		uint64_t now = now_ns();

		for (done = 0, primaries = 0, i = 0; i < f->b->cfg.nreplicas;
		    i++) {
			done += f->probes[i].at > start;
			primaries += f->probes[i].at > start &&
			    f->probes[i].answered && f->probes[i].role == 1;
		}
		if ((done == f->b->cfg.nreplicas && primaries > 0) ||
		    now >= deadline)
			break;
		for (i = 0; i < f->b->cfg.nreplicas; i++)
			if (f->probes[i].c == NULL && now >= f->probes[i].next_at)
				fo_probe_start(f, i, now);
		fo_finder_tick(f, now);
		if (loop_run_once(f->b->l, 10) < 0)
			break;
	}
	if (primaries == 0) {
		char last[700];

		fo_last_probes(f, last, sizeof last);
		fprintf(stderr, "chatbench: recount: no replica says it is "
		    "primary; %s\n", last);
		return 1;
	}
	for (i = 0; i < f->b->cfg.nreplicas; i++)
		if (f->probes[i].at > start && f->probes[i].answered &&
		    f->probes[i].role == 1 && fo_recount_one(f, i) != 0)
			rc = 1;
	return rc;
}

static int
fo_main(struct bench *b, unsigned n, unsigned window, unsigned stall_ms)
{
	struct fo *f = &the_fo;
	int rc = 1, verify_ok;
	unsigned i;

	f->status_mode = b->mode == MODE_STATUS || b->mode == MODE_RECOUNT;
	f->recount_mode = b->mode == MODE_RECOUNT;
	if (!f->status_mode) {
		if (b->rate <= 0)
			b->rate = 500;
		if (n >= b->cfg.max_clients) {
			fprintf(stderr, "chatbench: %u connections: the replicas' "
			    "max_clients is %u\n", n, b->cfg.max_clients);
			return 2;
		}
		if (window > b->cfg.max_inflight) {
			fprintf(stderr, "chatbench: window %u is over the "
			    "replicas' max_inflight %u\n", window,
			    b->cfg.max_inflight);
			return 2;
		}
		if (window == 0)
			window = b->cfg.max_inflight;
	}
	log_init("bench", LOG_ERROR);
	b->l = loop_new();
	if (fo_init(f, b, n, window, stall_ms) < 0)
		goto out;
	if (f->recount_mode) {
		rc = fo_recount(f, b->recount_user, b->recount_password);
		goto out;
	}
	if (f->status_mode) {
		rc = fo_status(f);
		goto out;
	}
	b->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (b->tfd < 0 || loop_watch(b->l, b->tfd, fo_on_timerfd, f) == NULL) {
		fprintf(stderr, "chatbench: timerfd: %s\n", strerror(errno));
		goto out;
	}
	if (fo_setup(f) < 0)
		goto out;
	fo_run(f);
	verify_ok = fo_verify(f) == 0;
	rc = fo_report(f, verify_ok);
out:
	for (i = 0; i < b->cfg.nreplicas; i++)
		if (f->probes[i].c)
			conn_set_data(f->probes[i].c, NULL);
	for (i = 0; f->conns && i < f->n; i++)
		if (f->conns[i].c)
			conn_set_data(f->conns[i].c, NULL);
	if (f->vc.c)
		conn_set_data(f->vc.c, NULL);
	loop_free(b->l);
	if (b->tfd >= 0)
		close(b->tfd);
	free(f->msgs);
	free(f->acks);
	free(f->conns);
	free(f->found);
	return rc;
}


/* ---- main --------------------------------------------------------------- */

/* Close everything quietly (no "lost" reports) and free it. */
static void
teardown(struct bench *b)
{
	unsigned i;

	for (i = 0; b->conns && i < b->nconns; i++) {
		if (b->conns[i].c)
			conn_set_data(b->conns[i].c, NULL);
		free(b->conns[i].ring);
	}
	loop_free(b->l);
	if (b->tfd >= 0)
		close(b->tfd);
	free(b->conns);
	free(b->act);
	free(b->users);
	free(b->lat.v);
	free(b->dlat.v);
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: chatbench -c replicas.conf [options] closed|open|delivery|failover\n"
"       chatbench -c replicas.conf status\n"
"       chatbench -c replicas.conf recount USER PASSWORD\n"
"\n"
"  closed    each connection keeps W SENDs in flight; ack latency from\n"
"            send to SENT\n"
"  open      fixed total rate R over all connections; latency from each\n"
"            send's intended time (t0 + k/R) to its SENT\n"
"  delivery  N sender/receiver pairs (-n N); push latency from the send\n"
"            timestamp in the body to PUSH_MSG at the receiver\n"
"  failover  -n connections (default 1) send at rate R (default 500/s);\n"
"            they survive failovers (find the primary, RESUME, re-send the\n"
"            unanswered SENDs with their (client_id, seq)); reports the\n"
"            longest interval between acks, then FETCHes every message on\n"
"            the primary: lost (acked, missing) and duplicated must be 0\n"
"  status    one STATUS line per replica (replica=ID role=... or down)\n"
"  recount   log in as USER on the primary and count its fo-<k> messages\n"
"            (the recipient of a failover run; its JSON has the password)\n"
"\n"
"  -c FILE              replicas.conf (required)\n"
"  -n, --connections C  connections (delivery: pairs), default 16\n"
"  -u, --users M        users, default min(connections, 16); even in\n"
"                       delivery mode\n"
"  -d, --duration S     measured seconds, default 5\n"
"      --warmup S       seconds before measuring, default 1\n"
"  -r, --rate R         sends per second (open; optional for delivery;\n"
"                       failover: default 500)\n"
"  -w, --window W       requests in flight per connection, default 1\n"
"                       (open: at most this many, default max_inflight)\n"
"  -s, --size BYTES     message body size, 1-4096, default 64 (delivery:\n"
"                       at least 23, for the timestamp)\n"
"      --stall-ms MS    failover: silence with requests in flight that\n"
"                       starts probing for a new primary, default 100\n"
"      --runs N         closed/open/delivery: N measured runs (each\n"
"                       warm-up + duration) on the same connections, one\n"
"                       line each; --json then writes an array\n"
"      --total N        closed: stop after N sends, end when all are\n"
"                       answered (no warm-up; fills a store)\n"
"      --idle K         K more connections, logged in as users of their\n"
"                       own, that send nothing and receive nothing\n"
"      --json FILE      also write the results as JSON\n"
"  -q                   no progress messages\n"
"  -h, --help           this help\n"
"\n"
"Exit status: 0 ok, 1 a request failed, a connection was lost or a push\n"
"is missing (failover: a message lost, duplicated or never answered),\n"
"2 bad usage.\n");
}

static int
parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

/* what, then arg (may be ""), then the usage. */
static int
bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "chatbench: %s%s\n", what, arg);
	usage(stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connections", required_argument, NULL, 'n' },
		{ "users",       required_argument, NULL, 'u' },
		{ "duration",    required_argument, NULL, 'd' },
		{ "warmup",      required_argument, NULL, 'W' },
		{ "rate",        required_argument, NULL, 'r' },
		{ "window",      required_argument, NULL, 'w' },
		{ "size",        required_argument, NULL, 's' },
		{ "json",        required_argument, NULL, 'J' },
		{ "stall-ms",    required_argument, NULL, 'S' },
		{ "runs",        required_argument, NULL, 'R' },
		{ "total",       required_argument, NULL, 'T' },
		{ "idle",        required_argument, NULL, 'I' },
		{ "help",        no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bench bench;	/* large: keep it off the stack */
	struct bench *b = &bench;
	unsigned n = 16, users = 0, window = 0, stall_ms = 100, idle = 0;
	unsigned total = 0;
	int n_given = 0;
	char err[512];
	int ch, rc;

	b->duration = 5;
	b->warmup = 1;
	b->size = 64;
	b->runs = 1;
	b->tfd = -1;
	while ((ch = getopt_long(argc, argv, "c:n:u:d:r:w:s:qh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': b->conf_path = optarg; break;
		case 'n':
			if (parse_uint(optarg, 1, MAX_CONNS, &n) < 0)
				return bad_usage("bad connection count: ",
				    optarg);
			n_given = 1;
			break;
		case 'u':
			if (parse_uint(optarg, 1, MAX_CONNS, &users) < 0)
				return bad_usage("bad user count: ", optarg);
			break;
		case 'd':
			if (parse_double(optarg, 0.1, 86400, &b->duration) < 0)
				return bad_usage("bad duration: ", optarg);
			break;
		case 'W':
			if (parse_double(optarg, 0, 3600, &b->warmup) < 0)
				return bad_usage("bad warm-up: ", optarg);
			break;
		case 'r':
			if (parse_double(optarg, 0.1, 10000000, &b->rate) < 0)
				return bad_usage("bad rate: ", optarg);
			break;
		case 'w':
			if (parse_uint(optarg, 1, 65535, &window) < 0)
				return bad_usage("bad window: ", optarg);
			break;
		case 's':
			if (parse_uint(optarg, 1, CHAT_MAX_BODY, &b->size) < 0)
				return bad_usage("bad size (1-4096): ", optarg);
			break;
		case 'J': b->json_path = optarg; break;
		case 'S':
			if (parse_uint(optarg, 1, 600000, &stall_ms) < 0)
				return bad_usage("bad --stall-ms: ", optarg);
			break;
		case 'R':
			if (parse_uint(optarg, 1, 1000, &b->runs) < 0)
				return bad_usage("bad --runs (1-1000): ", optarg);
			break;
		case 'T':
			if (parse_uint(optarg, 1, 100000000, &total) < 0)
				return bad_usage("bad --total: ", optarg);
			break;
		case 'I':
			if (parse_uint(optarg, 1, MAX_CONNS, &idle) < 0)
				return bad_usage("bad --idle: ", optarg);
			break;
		case 'q': b->quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 3 == argc && strcmp(argv[optind], "recount") == 0) {
		b->recount_user = argv[optind + 1];
		b->recount_password = argv[optind + 2];
		if (strlen(b->recount_user) > CHAT_MAX_USERNAME ||
		    strlen(b->recount_password) >= 40)
			return bad_usage("recount: user or password too long", "");
		argc = optind + 1;
	}
	if (optind != argc - 1)
		return bad_usage("need one mode: closed, open, delivery, "
		    "failover, status or recount", "");
	if (strcmp(argv[optind], "closed") == 0)
		b->mode = MODE_CLOSED;
	else if (strcmp(argv[optind], "open") == 0)
		b->mode = MODE_OPEN;
	else if (strcmp(argv[optind], "delivery") == 0)
		b->mode = MODE_DELIVERY;
	else if (strcmp(argv[optind], "failover") == 0)
		b->mode = MODE_FAILOVER;
	else if (strcmp(argv[optind], "status") == 0)
		b->mode = MODE_STATUS;
	else if (strcmp(argv[optind], "recount") == 0 && b->recount_user)
		b->mode = MODE_RECOUNT;
	else
		return bad_usage("unknown mode: ", argv[optind]);
	if (b->conf_path == NULL)
		return bad_usage("-c replicas.conf is required", "");
	if (b->mode == MODE_OPEN && b->rate <= 0)
		return bad_usage("open mode needs -r RATE", "");
	if (b->mode == MODE_CLOSED && b->rate > 0)
		return bad_usage("-r is for open and delivery modes", "");
	if (b->mode == MODE_DELIVERY) {
		if (n > MAX_CONNS / 2)
			return bad_usage("too many pairs", "");
		b->npairs = n;
		n *= 2;
		if (users != 0 && users % 2 != 0)
			return bad_usage("delivery needs an even user count",
			    "");
		if (b->size < DELIV_PREFIX)
			b->size = DELIV_PREFIX;
	}
	if (total != 0 && (b->mode != MODE_CLOSED || b->runs > 1))
		return bad_usage("--total is for one closed run", "");
	if (total != 0) {
		b->total = total;
		b->warmup = 0;		/* every send counts */
		b->duration = 86400;	/* the run ends when all are acked */
	}
	if (n + idle > MAX_CONNS)
		return bad_usage("too many connections with --idle", "");
	b->nload = n;
	b->nusers_load = users ? users : (n < 16 ? n : 16);
	if (b->nusers_load > b->nload)
		return bad_usage("more users than connections", "");
	b->nconns = n + idle;
	b->nusers = b->nusers_load + (idle < 16 ? idle : 16);
	if (config_load(&b->cfg, b->conf_path, err, sizeof err) < 0) {
		fprintf(stderr, "chatbench: %s\n", err);
		return 1;
	}
	if (b->cfg.nreplicas == 0) {
		fprintf(stderr, "chatbench: %s: no replicas\n", b->conf_path);
		return 1;
	}
	if ((b->mode == MODE_FAILOVER || b->mode == MODE_STATUS ||
	    b->mode == MODE_RECOUNT) && (b->runs > 1 || idle))
		return bad_usage("--runs and --idle are for closed, open and "
		    "delivery", "");
	if (b->mode == MODE_FAILOVER || b->mode == MODE_STATUS ||
	    b->mode == MODE_RECOUNT)
		return fo_main(b, n_given ? n : 1, window, stall_ms);
	if (b->nconns >= b->cfg.max_clients) {
		fprintf(stderr, "chatbench: %u connections: the replicas' "
		    "max_clients is %u\n", b->nconns, b->cfg.max_clients);
		return 2;
	}
	if (window > b->cfg.max_inflight) {
		fprintf(stderr, "chatbench: window %u is over the replicas' "
		    "max_inflight %u\n", window, b->cfg.max_inflight);
		return 2;
	}
	b->window = window ? window : (b->rate > 0 ? b->cfg.max_inflight : 1);
	log_init("bench", LOG_ERROR);
	b->l = loop_new();
	samples_init(&b->lat);
	if (b->mode == MODE_DELIVERY)
		samples_init(&b->dlat);
	if (b->rate > 0) {
		b->tfd = timerfd_create(CLOCK_MONOTONIC,
		    TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->tfd < 0 || loop_watch(b->l, b->tfd, on_timerfd, b) == NULL) {
			fprintf(stderr, "chatbench: timerfd: %s\n",
			    strerror(errno));
			return 1;
		}
	}
	if (find_primary(b) < 0 || setup(b) < 0) {
		teardown(b);
		return 1;
	}
	rc = 0;
	for (b->run_no = 0; b->run_no < b->runs; b->run_no++) {
		if (b->run_no > 0)
			reset_results(b);
		run(b);
		rc |= report(b);
		fflush(stdout);
	}
	teardown(b);
	return rc;
}
