/*
 * chatbench_session.c — a benchmark connection's way to a session, as
 * both kinds of connection take it: the load modes' (struct bconn,
 * chatbench_load_setup.c) and the failover writer's (struct fo_conn,
 * chatbench_fo_conn.c).
 *
 * Each kind decides its own plan: which users to REGISTER, whether to
 * LOGIN or RESUME, what a failure means (give up, or look for the
 * primary). What they share is here: the requests, and the reading of
 * an answer to the set-up request in flight (cb_setup_outcome), so that
 * "is this the answer we wait for" is decided in one place.
 */
#include "chatbench.h"

uint32_t
cb_send_hello(struct conn *c, uint32_t rid)
{
	struct wire_HELLO h;

	memset(&h, 0, sizeof h);
	h.version_min = WIRE_VERSION_MIN;
	h.version_max = WIRE_VERSION_MAX;
	h.kind = 1;
	snprintf(h.software, sizeof h.software, "chatbench %s", CHATD_VERSION);
	h.nonce.ptr = (const uint8_t *)"";
	h.nonce.len = 0;
	return send_req(c, rid, WIRE_OP_HELLO, &h);
}

/* REGISTER and LOGIN carry the same fields (REGISTER's fullname stays
 * empty). */
#define ACCOUNT_FIELDS(m) do {						\
	(m).client_id = client_id;					\
	(m).seq = seq;							\
	snprintf((m).username, sizeof (m).username, "%s", user);	\
	snprintf((m).password, sizeof (m).password, "%s", password);	\
} while (0)

uint32_t
cb_send_account(struct conn *c, uint32_t rid, uint16_t op, uint64_t client_id,
		uint64_t seq, const char *user, const char *password)
{
	struct wire_REGISTER r;
	struct wire_LOGIN l;

	if (op == WIRE_OP_REGISTER) {
		memset(&r, 0, sizeof r);
		ACCOUNT_FIELDS(r);
		return send_req(c, rid, WIRE_OP_REGISTER, &r);
	}
	memset(&l, 0, sizeof l);
	ACCOUNT_FIELDS(l);
	return send_req(c, rid, WIRE_OP_LOGIN, &l);
}

uint32_t
cb_send_resume(struct conn *c, uint32_t rid, const uint8_t *token)
{
	struct wire_RESUME r;

	memset(&r, 0, sizeof r);
	r.token.ptr = token;
	r.token.len = CHAT_TOKEN_BYTES;
	return send_req(c, rid, WIRE_OP_RESUME, &r);
}

uint32_t
cb_send_status(struct conn *c, uint32_t rid)
{
	struct wire_STATUS st;

	memset(&st, 0, sizeof st);
	return send_req(c, rid, WIRE_OP_STATUS, &st);
}

/* Whether h (m) is the success that request asked hopes for. */
static int
succeeds(uint16_t asked, const struct wire_header *h, const union reply *m)
{
	switch (asked) {
	case WIRE_OP_HELLO:
		return h->opcode == WIRE_OP_HELLO;
	case WIRE_OP_REGISTER:
		return h->opcode == WIRE_OP_OK;
	case WIRE_OP_LOGIN:
	case WIRE_OP_RESUME:
		return h->opcode == WIRE_OP_SESSION &&
		    m->session.token.len == CHAT_TOKEN_BYTES;
	case WIRE_OP_FETCH:
		return h->opcode == WIRE_OP_MESSAGES;
	default:
		return 0;
	}
}

enum setup_outcome
cb_setup_outcome(uint32_t rid, uint16_t asked, const struct wire_header *h,
		 const union reply *m)
{
	if (h->request_id != rid)
		return SETUP_STRAY;
	switch (h->opcode) {
	case WIRE_OP_ERROR:
		return SETUP_ERROR;
	case WIRE_OP_REDIRECT:
	case WIRE_OP_NO_PRIMARY:
		return SETUP_MOVED;
	default:
		return succeeds(asked, h, m) ? SETUP_OK : SETUP_UNEXPECTED;
	}
}

void
cb_describe_error(char *out, size_t n, const struct wire_ERROR *e)
{
	snprintf(out, n, "%s: %s", wire_err_name(e->code), e->text);
}

void
cb_conn_drop(struct conn **cp, const char *why)
{
	if (*cp) {
		conn_set_data(*cp, NULL);
		conn_close(*cp, why, 0);
		*cp = NULL;
	}
}
