/*
 * chatbench — load generator and latency benchmark for a chatd cluster.
 *
 *   tools/chatbench -c replicas.conf [options] closed|open|delivery
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
#define MAX_REDIRECTS    8
#define NSEC             1000000000ull
#define DELIV_PREFIX     23	/* "t=" + 20 digits + " " */
#define NERRCODES        64

enum mode { MODE_CLOSED, MODE_OPEN, MODE_DELIVERY };
static const char *const mode_names[] = { "closed", "open", "delivery" };

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
	unsigned live;			/* READY connections */
};

struct samples { uint32_t *v; size_t n, cap; uint64_t dropped; };

struct bench {
	/* options */
	enum mode   mode;
	const char *conf_path, *json_path;
	unsigned    nconns, nusers, window, size, npairs;
	double      duration, warmup, rate;
	int         quiet;
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
	    b->users[(bc->user + 1) % b->nusers].name);
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
		while (now < b->t_end && bc->inflight < b->window)
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

	if (bc->idx < b->nusers) {	/* first connection of its user */
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
			for (i = bc->idx + b->nusers; i < b->nconns;
			    i += b->nusers)
				if (b->conns[i].st == CS_WAIT_TOKEN)
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
				    b->nusers].live;
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
	for (i = 0; i < b->nusers; i++)
		snprintf(b->users[i].name, sizeof b->users[i].name,
		    "bench-%06" PRIx64 "-%u", tag & 0xFFFFFF, i);
	for (ring = 1; ring < b->window; ring <<= 1)
		;
	raise_nofile(b->nconns + 64);
	note(b, "primary: replica %u at %s:%u; %u connections, %u users",
	    (unsigned)b->replica_id, b->host, (unsigned)b->port, b->nconns,
	    b->nusers);
	for (i = 0; i < b->nconns; i++) {
		struct bconn *bc = &b->conns[i];

		bc->b = b;
		bc->idx = i;
		bc->user = i % b->nusers;
		bc->active = b->mode != MODE_DELIVERY || i % 2 == 0;
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
	note(b, "running %s for %.1f s after %.1f s warm-up",
	    mode_names[b->mode], b->duration, b->warmup);
	for (i = 0; i < b->nconns; i++)
		pump(&b->conns[i], b->t0);
	while (b->phase != PH_DONE) {
		now = now_ns();
		advance_schedule(b, now);
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
	FILE *f = fopen(b->json_path, "w");
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
	fprintf(f, "{\n  \"tool\": \"chatbench\",\n  \"mode\": \"%s\",\n",
	    mode_names[b->mode]);
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
	fputs("\n}\n", f);
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
	printf("%-9s%-7s%-7s%-10s%-10s%-10s%-10s%-9s%-9s%-10s%-9s%s\n",
	    "mode", b->mode == MODE_DELIVERY ? "pairs" : "conns", "users",
	    b->mode == MODE_CLOSED || (b->mode == MODE_DELIVERY && b->rate <= 0)
	    ? "window" : "rate", "duration", "sends", "sends/s", "p50_us",
	    "p99_us", "p99.9_us", "max_us", "errors");
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
"usage: chatbench -c replicas.conf [options] closed|open|delivery\n"
"\n"
"  closed    each connection keeps W SENDs in flight; ack latency from\n"
"            send to SENT\n"
"  open      fixed total rate R over all connections; latency from each\n"
"            send's intended time (t0 + k/R) to its SENT\n"
"  delivery  N sender/receiver pairs (-n N); push latency from the send\n"
"            timestamp in the body to PUSH_MSG at the receiver\n"
"\n"
"  -c FILE              replicas.conf (required)\n"
"  -n, --connections C  connections (delivery: pairs), default 16\n"
"  -u, --users M        users, default min(connections, 16); even in\n"
"                       delivery mode\n"
"  -d, --duration S     measured seconds, default 5\n"
"      --warmup S       seconds before measuring, default 1\n"
"  -r, --rate R         sends per second (open; optional for delivery)\n"
"  -w, --window W       requests in flight per connection, default 1\n"
"                       (open: at most this many, default max_inflight)\n"
"  -s, --size BYTES     message body size, 1-4096, default 64 (delivery:\n"
"                       at least 23, for the timestamp)\n"
"      --json FILE      also write the results as JSON\n"
"  -q                   no progress messages\n"
"  -h, --help           this help\n"
"\n"
"Exit status: 0 ok, 1 a request failed, a connection was lost or a push\n"
"is missing, 2 bad usage.\n");
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
		{ "help",        no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bench bench;	/* large: keep it off the stack */
	struct bench *b = &bench;
	unsigned n = 16, users = 0, window = 0;
	char err[512];
	int ch, rc;

	b->duration = 5;
	b->warmup = 1;
	b->size = 64;
	b->tfd = -1;
	while ((ch = getopt_long(argc, argv, "c:n:u:d:r:w:s:qh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': b->conf_path = optarg; break;
		case 'n':
			if (parse_uint(optarg, 1, MAX_CONNS, &n) < 0)
				return bad_usage("bad connection count: ",
				    optarg);
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
		case 'q': b->quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1)
		return bad_usage("need one mode: closed, open or delivery", "");
	if (strcmp(argv[optind], "closed") == 0)
		b->mode = MODE_CLOSED;
	else if (strcmp(argv[optind], "open") == 0)
		b->mode = MODE_OPEN;
	else if (strcmp(argv[optind], "delivery") == 0)
		b->mode = MODE_DELIVERY;
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
	b->nconns = n;
	b->nusers = users ? users : (n < 16 ? n : 16);
	if (b->nusers > b->nconns)
		return bad_usage("more users than connections", "");
	if (config_load(&b->cfg, b->conf_path, err, sizeof err) < 0) {
		fprintf(stderr, "chatbench: %s\n", err);
		return 1;
	}
	if (b->cfg.nreplicas == 0) {
		fprintf(stderr, "chatbench: %s: no replicas\n", b->conf_path);
		return 1;
	}
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
	run(b);
	rc = report(b);
	teardown(b);
	return rc;
}
