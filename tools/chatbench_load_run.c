/*
 * chatbench_load_run.c — the measured run of the closed, open and
 * delivery modes: the schedule, the SENDs, their answers and the pushes.
 * Everything done per SEND and per answer is in this file (and inline in
 * chatbench.h), so that the compiler sees the whole path.
 *
 * closed    each active connection keeps W SENDs in flight until t_end.
 * open      a fixed total rate R: send k of the run is due at t0 + k/R,
 *           on active connection k % n, and its latency is measured from
 *           that intended time (no coordinated omission): a schedule that
 *           falls behind still sends, and the lag counts. A timerfd wakes
 *           the loop for the next due send, for sub-ms wake-ups without
 *           spinning; at most W of a connection's sends are in flight.
 * delivery  the senders work as in closed mode (or open, with -r); each
 *           body starts with "t=<monotonic ns>", and the receivers measure
 *           now - t on PUSH_MSG. Every push of a message sent in the
 *           window must arrive. (chatd also pushes each message to the
 *           sender's other connections; those copies are counted apart.)
 *
 * Measuring: after the warm-up the window [t_meas, t_end) is D seconds.
 * "sends" counts SENT answers that arrive inside it (throughput); the
 * latency samples are the requests that started inside it (for open mode,
 * whose intended time is inside it). After t_end nothing new starts and
 * the answers still owed are drained (at most DRAIN_MS). Each connection
 * keeps its requests in flight in a ring indexed by request id.
 */
#include <inttypes.h>
#include <stdlib.h>
#include "chatbench.h"
#include "log.h"

static int
in_window(const struct bench *b, uint64_t t)
{
	return t >= b->t_meas && t < b->t_end;
}

static void
set_first_error(struct bench *b, const char *s)
{
	if (b->first_error[0] == '\0')
		snprintf(b->first_error, sizeof b->first_error, "%s", s);
}

/* ---- sending ------------------------------------------------------------ */

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
	if (timerfd_ack(fd))
		advance_schedule(ud, now_ns());
}

/* ---- answers and pushes ------------------------------------------------- */

/* An answer during the run. */
static void
run_answer(struct bconn *bc, const struct wire_header *h,
	   const union reply *m, uint64_t now)
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
		cb_describe_error(why, sizeof why, &m->error);
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

/* Every frame of a load connection: set-up answers go to
 * chatbench_load_setup.c, the rest is handled here. */
void
cb_bconn_on_frame(struct conn *c, const struct wire_header *h,
		  const uint8_t *payload)
{
	struct bconn *bc = conn_data(c);
	const struct wire_opdesc *d;
	struct wire_decode_error err;
	union reply m;
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
		cb_conn_lost(bc, why);
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
		cb_conn_lost(bc, why);
		return;
	}
	if (answer_ping(c, h, &m))
		return;
	if (h->request_id == 0) {
		if (h->opcode == WIRE_OP_PUSH_MSG) {
			on_push_msg(bc, &m.push_msg, now);
		} else if (h->opcode == WIRE_OP_PUSH_SESSION_END) {
			cb_conn_lost(bc,
			    "the session ended (PUSH_SESSION_END)");
		} else if (h->opcode == WIRE_OP_ERROR) {
			cb_describe_error(why, sizeof why, &m.error);
			cb_conn_lost(bc, why);
		}
		return;
	}
	if (bc->st != CS_READY)
		cb_setup_answer(bc, h, &m);
	else
		run_answer(bc, h, &m, now);
}

/* ---- the run ------------------------------------------------------------ */

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
		cb_note(b, "running %s until %" PRIu64 " sends are answered",
		    cb_mode_names[b->mode], b->total);
	else
		cb_note(b, "running %s for %.1f s after %.1f s warm-up",
		    cb_mode_names[b->mode], b->duration, b->warmup);
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
			cb_arm_timerfd(b, next_due(b));
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

int
cb_load_main(struct bench *b, unsigned window)
{
	int rc = 0;

	if (cb_check_limits(&b->cfg, b->nconns, window) < 0)
		return 2;
	b->window = window ? window : (b->rate > 0 ? b->cfg.max_inflight : 1);
	log_init("bench", LOG_ERROR);
	b->l = loop_new();
	cb_samples_init(&b->lat);
	if (b->mode == MODE_DELIVERY)
		cb_samples_init(&b->dlat);
	if (b->rate > 0 && cb_open_timerfd(b, on_timerfd, b) < 0)
		return 1;
	if (cb_find_primary(b) < 0 || cb_setup(b) < 0) {
		cb_teardown(b);
		return 1;
	}
	for (b->run_no = 0; b->run_no < b->runs; b->run_no++) {
		if (b->run_no > 0)
			reset_results(b);
		run(b);
		rc |= cb_report(b);
		fflush(stdout);
	}
	cb_teardown(b);
	return rc;
}
