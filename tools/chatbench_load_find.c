/*
 * chatbench_load_find.c — find the primary for the closed, open and
 * delivery modes: one probe at a time, over the replicas of the
 * configuration in turn.
 *
 * A probe says HELLO, then STATUS: role 1 is the primary. A replica that
 * is not primary by its own account is asked RESUME with a zero token,
 * which only the primary answers (BAD_TOKEN) and the others REDIRECT to
 * where it is; a REDIRECT is followed (at most MAX_REDIRECTS hops) before
 * the next replica of the list. NO_PRIMARY waits its retry_ms (at most
 * 1 s); a whole round without success waits 200 ms. A replica that
 * accepts but does not answer in PROBE_ANSWER_MS (a stopped process) is
 * skipped. Gives up after PROBE_TIMEOUT_MS.
 *
 * The failover modes find the primary differently (all replicas at once,
 * again and again: chatbench_fo_find.c).
 */
#include "chatbench.h"

#define PROBE_ANSWER_MS  1000u	/* a replica that does not answer is skipped */
#define MAX_REDIRECTS    8

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
	cb_conn_drop(&p->c, "probe done");
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
	cb_send_hello(c, p->rid = 1);
}

static void
probe_on_frame(struct conn *c, const struct wire_header *h,
	       const uint8_t *payload)
{
	struct probe *p = conn_data(c);
	const struct wire_opdesc *d = wire_op(h->opcode);
	struct wire_decode_error err;
	static const uint8_t zero_token[CHAT_TOKEN_BYTES];
	union reply m;

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
		cb_send_status(c, p->rid = 2);
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
		cb_send_resume(c, p->rid = 3, zero_token);
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

int
cb_find_primary(struct bench *b)
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

