/*
 * session.c — being logged in across connections: the token, RESUME on
 * each new connection, the pushes, and the catch-up after a gap.
 *
 * PROTOCOL.md §6 "After a reconnect": resume the session, re-send the
 * unanswered requests (conn.c does that when the connection becomes
 * READY), then FETCH after the largest id shown while more = 1. Pushes
 * are not stored by the server, so whatever was committed while we were
 * away is found only by that FETCH; cli_shown keeps anything from being
 * shown twice (a push can overtake the FETCH answers on the new
 * connection).
 */
#include <stdio.h>
#include <string.h>
#include "client.h"
#include "log.h"

void
cli_session_set(struct client *cl, const struct wire_SESSION *s)
{
	cl->logged_in = 1;
	memcpy(cl->token, s->token.ptr, sizeof cl->token);
	snprintf(cl->user, sizeof cl->user, "%s", s->username);
	/* What is in the view at login is for /read and /history; only
	 * what comes after it is shown as it arrives. */
	cli_shown_reset(&cl->shown, s->last_id);
	cl->catching_up = 0;
	cli_update_prompt(cl);
}

void
cli_session_clear(struct client *cl)
{
	cl->logged_in = 0;
	explicit_bzero(cl->token, sizeof cl->token);
	cl->user[0] = '\0';
	cl->catching_up = 0;
	cli_update_prompt(cl);
}

void
cli_session_lost(struct client *cl)
{
	cl->fetching = 0;	/* its request died with the connection */
	if (cl->logged_in)
		cl->catching_up = 1;
}

static void
on_resume(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	char text[CHAT_MAX_ERRTEXT * 4 + 1];

	(void)r;
	if (op == WIRE_OP_SESSION) {
		cli_notice("session of %s resumed", cl->user);
	} else if (op == WIRE_OP_ERROR &&
	    ((const struct wire_ERROR *)msg)->code == WIRE_E_BAD_TOKEN) {
		cli_notice("session expired; please /login again");
		cli_session_clear(cl);
	} else {
		const struct wire_ERROR *e = msg;
		if (op == WIRE_OP_ERROR)
			cli_fmt_error(text, sizeof text, e->code, e->text);
		else
			snprintf(text, sizeof text, "unexpected %s",
			    wire_op_name(op));
		cli_notice("session lost (%s); please /login again", text);
		cli_session_clear(cl);
	}
	cli_conn_ready(cl);
}

void
cli_session_restore(struct client *cl)
{
	struct wire_RESUME m;

	if (!cl->logged_in) {
		cli_conn_ready(cl);
		return;
	}
	memset(&m, 0, sizeof m);
	m.token.ptr = cl->token;
	m.token.len = sizeof cl->token;
	cli_req_submit(cl, cli_req_new(cl, WIRE_OP_RESUME, &m, CLI_REQ_EARLY,
	    on_resume));
}

/* ---- catch-up ----------------------------------------------------------- */

static void fetch_after(struct client *cl, uint64_t after_id);

/* Show a message that arrived by itself (push or catch-up), once. */
static void
show_new(struct client *cl, const struct wire_item_MSG *m)
{
	char line[CLI_LINE_MAX];

	if (cli_shown_seen(&cl->shown, m->id))
		return;
	cli_fmt_msg(line, sizeof line, m, cl->user, 0);
	cli_term_print(line);
	cli_shown_add(&cl->shown, m->id);
}

static void
on_fetch(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_MESSAGES *m = msg;
	struct wire_list_iter it;
	struct wire_item_MSG item;
	uint64_t last = r->arg;

	cl->fetching = 0;
	if (!cl->logged_in)
		return;
	if (op != WIRE_OP_MESSAGES) {
		const struct wire_ERROR *e = msg;
		if (op == WIRE_OP_ERROR && (e->code == WIRE_E_BAD_TOKEN ||
		    e->code == WIRE_E_NOT_LOGGED_IN)) {
			cli_notice("session expired; please /login again");
			cli_session_clear(cl);
			return;
		}
		/* Nothing better to do than to carry on without it. */
		log_info("catch-up failed: %s", wire_op_name(op));
		cl->catching_up = 0;
		return;
	}
	cli_list_begin(&it, op, &m->msgs);
	while (wire_list_next(&it, &item)) {
		show_new(cl, &item);
		if (item.id > last)
			last = item.id;
	}
	if (m->more && m->msgs.count > 0) {
		fetch_after(cl, last);
		return;
	}
	/* Everything up to now has been shown: the gap is closed. */
	cl->catching_up = 0;
	cli_shown_settle(&cl->shown, last > cl->shown.max ? last :
	    cl->shown.max);
}

static void
fetch_after(struct client *cl, uint64_t after_id)
{
	struct wire_FETCH f;
	struct cli_req *r;

	memset(&f, 0, sizeof f);
	f.after_id = after_id;
	f.max = CHAT_MAX_PAGE;
	r = cli_req_new(cl, WIRE_OP_FETCH, &f, 0, on_fetch);
	r->arg = after_id;
	cl->fetching = 1;
	cli_req_submit(cl, r);
}

void
cli_session_catch_up(struct client *cl)
{
	if (!cl->logged_in || !cl->catching_up || cl->fetching)
		return;
	fetch_after(cl, cl->shown.floor);
}

/* ---- pushes ------------------------------------------------------------- */

void
cli_show_msg(struct client *cl, const struct wire_item_MSG *m, int mark_read)
{
	char line[CLI_LINE_MAX];

	cli_fmt_msg(line, sizeof line, m, cl->user, mark_read);
	cli_term_print(line);
	cli_shown_add(&cl->shown, m->id);
}

static void
push_msg(struct client *cl, const struct wire_PUSH_MSG *p)
{
	struct wire_item_MSG m;

	if (!cl->logged_in)
		return;
	memset(&m, 0, sizeof m);
	m.id = p->id;
	memcpy(m.from, p->from, sizeof m.from);
	memcpy(m.to, p->to, sizeof m.to);
	m.sent_at = p->sent_at;
	m.read_at = p->read_at;
	memcpy(m.body, p->body, sizeof m.body);
	show_new(cl, &m);
	/* Pushes come in commit order: with no gap to fill, everything up
	 * to this one has been seen. */
	if (!cl->catching_up)
		cli_shown_settle(&cl->shown, m.id);
}

void
cli_on_push(struct client *cl, uint16_t op, const void *msg)
{
	char line[CLI_LINE_MAX];

	switch (op) {
	case WIRE_OP_PUSH_MSG:
		push_msg(cl, msg);
		break;
	case WIRE_OP_PUSH_RECEIPT: {
		const struct wire_PUSH_RECEIPT *p = msg;
		if (!cl->logged_in)
			break;
		cli_fmt_receipt(line, sizeof line, p->id, p->reader, p->read_at);
		cli_term_print(line);
		break;
	}
	case WIRE_OP_PUSH_SESSION_END: {
		const struct wire_PUSH_SESSION_END *p = msg;
		/* Our own LOGOUT/DELETE_ACCOUNT reports itself. */
		if (!cl->logged_in || cl->job.ends_session)
			break;
		cli_fmt_error(line, sizeof line, p->code, p->text);
		cli_notice("session ended (%s); please /login again", line);
		cli_session_clear(cl);
		break;
	}
	default:
		break;
	}
}
