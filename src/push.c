/*
 * push.c — what a committed record means for the people online: messages
 * pushed to their recipients, read receipts to senders, and the end of
 * sessions (logout elsewhere, account deleted). Runs only after the record
 * is durable, so nobody is ever shown something that could be lost.
 *
 * Only the primary has clients logged in, so only the primary pushes.
 */
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "server.h"

/* Send one encoded push to every connection of uid except skip. */
static void
push_to_user(struct server *s, uint64_t uid, uint16_t op,
	     const struct buf *payload, const struct client *skip)
{
	struct client *c;

	for (c = online_first(s, uid); c; c = online_next(c, uid))
		if (c != skip)
			client_send_encoded(c, op, 0, buf_head(payload),
			    buf_pending(payload));
}

/* Encode msg as op's payload, once for all its receivers. */
static const struct buf *
push_encode(struct server *s, uint16_t op, const void *msg)
{
	struct buf *b = &s->scratch_push;

	buf_reset(b);
	wire_encode_payload(b, &wire_op(op)->body, msg);
	return b;
}

/* Push one message to every connection of its recipient, and to the
 * sender's other connections (the sending one has its reply), so every
 * window of a user shows the whole conversation. */
static void
push_message(struct server *s, const struct wire_item_MSG *m,
	     uint64_t sender_uid, const struct client *origin)
{
	const struct buf *b;
	struct store_user to;

	if (store_user_find(s->store, m->to, &to) != 0)
		return;
	b = push_encode(s, WIRE_OP_PUSH_MSG, m);
	push_to_user(s, to.id, WIRE_OP_PUSH_MSG, b, NULL);
	if (sender_uid != to.id)	/* else: a message to oneself, done */
		push_to_user(s, sender_uid, WIRE_OP_PUSH_MSG, b, origin);
}

static void
push_msg_add(struct server *s, const struct pending *p)
{
	struct wire_R_MSG_ADD r;
	struct wire_item_MSG m;

	if (wire_decode_struct(&wire_op(p->type)->body, buf_head(&p->payload),
	    buf_pending(&p->payload), &r, NULL) < 0)
		return;
	memset(&m, 0, sizeof m);
	m.id = r.id;
	memcpy(m.from, r.from, sizeof m.from);
	memcpy(m.to, r.to, sizeof m.to);
	m.sent_at = p->at;
	memcpy(m.body, r.body, sizeof m.body);
	push_message(s, &m, p->uid, p->client);
}

static void
push_drafts_sent(struct server *s, const struct pending *p)
{
	const struct wire_opdesc *d = wire_op(p->type);
	struct wire_R_DRAFT_SENT r;
	struct wire_list_iter it;
	struct wire_item_MSGID did;
	struct wire_item_MSG m;
	uint64_t id;

	if (wire_decode_struct(&d->body, buf_head(&p->payload),
	    buf_pending(&p->payload), &r, NULL) < 0)
		return;
	wire_list_begin(&it, d, &r.drafts);
	for (id = r.first_id; wire_list_next(&it, &did); id++)
		if (store_message(s->store, p->uid, id, &m) == 0)
			push_message(s, &m, p->uid, p->client);
}

static void
push_receipts(struct server *s, const struct pending *p)
{
	const struct wire_opdesc *d = wire_op(p->type);
	struct wire_R_MSG_READ r;
	struct wire_PUSH_RECEIPT rc;
	struct wire_list_iter it;
	struct wire_item_MSGID id;
	struct wire_item_MSG m;
	struct store_user from;

	if (wire_decode_struct(&d->body, buf_head(&p->payload),
	    buf_pending(&p->payload), &r, NULL) < 0)
		return;
	wire_list_begin(&it, d, &r.ids);
	while (wire_list_next(&it, &id)) {
		if (store_message(s->store, p->uid, id.id, &m) != 0 ||
		    store_user_find(s->store, m.from, &from) != 0)
			continue;
		memset(&rc, 0, sizeof rc);
		rc.id = m.id;
		memcpy(rc.reader, r.reader, sizeof rc.reader);
		rc.read_at = m.read_at;
		push_to_user(s, from.id, WIRE_OP_PUSH_RECEIPT,
		    push_encode(s, WIRE_OP_PUSH_RECEIPT, &rc), NULL);
	}
}

/* Every connection of uid is logged out and told why. */
static void
end_sessions(struct server *s, uint64_t uid, uint16_t code, const char *why)
{
	struct wire_PUSH_SESSION_END e;
	struct client *c;

	memset(&e, 0, sizeof e);
	e.code = code;
	snprintf(e.text, sizeof e.text, "%s", why);
	while ((c = online_first(s, uid)) != NULL) {
		client_send(c, WIRE_OP_PUSH_SESSION_END, 0, &e);
		client_logout(c);
	}
}

void
push_effects(struct server *s, const struct pending *p)
{
	switch (p->type) {
	case WIRE_OP_R_MSG_ADD:
		push_msg_add(s, p);
		break;
	case WIRE_OP_R_DRAFT_SENT:
		push_drafts_sent(s, p);
		break;
	case WIRE_OP_R_MSG_READ:
		push_receipts(s, p);
		break;
	case WIRE_OP_R_SESSION_END:
		end_sessions(s, p->uid, WIRE_E_NOT_LOGGED_IN,
		    "logged out from another connection");
		break;
	case WIRE_OP_R_USER_DEL:
		end_sessions(s, p->uid, WIRE_E_NOT_LOGGED_IN,
		    "the account was deleted");
		break;
	default:
		break;
	}
}
