/*
 * chatbench_fo_find.c — the failover writer's finder, and the status mode.
 *
 * One probe per replica of the configuration: HELLO, STATUS, and the
 * STATUS_INFO kept (role, epoch, primary; a "what" for events, and a
 * line for the status mode). While anyone needs the primary
 * (fo_wants_probes) every replica is probed again FO_RETRY_MS after its
 * last outcome; a probe without an answer in probe_wait_ns is given up.
 * Each outcome lets fo_evaluate (chatbench_fo_conn.c) decide at once.
 */
#include <inttypes.h>
#include "chatbench_fo.h"

const char *
fo_role_name(unsigned role)
{
	static const char *const names[] = { "starting", "primary", "backup",
	    "electing", "waiting" };

	return role < 5 ? names[role] : "unknown";
}

static const struct conn_ops fo_probe_ops;

static void
fo_probe_done(struct fo_probe *p, int answered, const char *what)
{
	struct fo *f = p->f;
	uint64_t now = now_ns();
	int changed = strcmp(p->what, what) != 0;

	cb_conn_drop(&p->c, "probe done");
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

void
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
	cb_send_hello(c, 1);
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
	union reply m;
	char what[240];

	if (p == NULL)
		return;
	if (d == NULL || wire_decode(d, payload, h->length, &m, &err) < 0) {
		fo_probe_done(p, 0, "bad frame");
		return;
	}
	if (h->opcode == WIRE_OP_HELLO && h->request_id == 1) {
		cb_send_status(c, 2);
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
	} else {
		answer_ping(c, h, &m);
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
int
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

void
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

void
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

/* status: one STATUS per replica. */
int
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
