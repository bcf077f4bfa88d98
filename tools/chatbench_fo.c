/*
 * chatbench_fo.c — the failover, status and recount modes, from the
 * options to the exit status (fo_main), and the failover run: its set-up,
 * the schedule of the messages, the loop pass that watches for silence,
 * and the events it reports. See chatbench_fo.h for what a run does.
 */
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include "chatbench_fo.h"
#include "log.h"

static struct fo the_fo;	/* large: keep it off the stack */

/* ---- events ------------------------------------------------------------- */

/* "HH:MM:SS.mmmZ" of a monotonic time, the way chatd's logs show it. */
void
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
double
fo_rel(const struct fo *f, uint64_t t)
{
	uint64_t base = f->t0 ? f->t0 : f->start;

	return t >= base ? (double)(t - base) / 1e6 :
	    -(double)(base - t) / 1e6;
}

void
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

void
fo_set_error(struct fo *f, const char *fmt, ...)
{
	va_list ap;

	if (f->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->first_error, sizeof f->first_error, fmt, ap);
	va_end(ap);
}

/* ---- the run ------------------------------------------------------------ */

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
	if (timerfd_ack(fd))
		fo_advance(ud, now_ns());
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

int
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
		cb_arm_timerfd(f->b, fo_due(f, f->k));
	return loop_run_once(f->b->l, ms);
}

/* ---- the mode ----------------------------------------------------------- */

static int
fo_init(struct fo *f, struct bench *b, unsigned n, unsigned window,
	unsigned stall_ms)
{
	uint64_t tag = cb_random_u64(), pw = cb_random_u64();
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
	f->vc.client_id = cb_random_id();
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
		fc->client_id = cb_random_id();
	}
	return 0;
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
	cb_note(f->b, "primary: replica %u (epoch %" PRIu64 "); %u "
	    "connection%s of user %s sending to %s; set-up took %.1f s",
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

int
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
		if (cb_check_limits(&b->cfg, n, window) < 0)
			return 2;
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
	if (cb_open_timerfd(b, fo_on_timerfd, f) < 0)
		goto out;
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
	cb_close_loop(b);
	free(f->msgs);
	free(f->acks);
	free(f->conns);
	free(f->found);
	return rc;
}
