/*
 * handle_draft.c — DRAFT_SAVE, DRAFTS, DRAFT_SEND, DRAFT_DROP.
 *
 * A user keeps at most CHAT_MAX_PAGE drafts, so DRAFTS always fits in one
 * frame. Sending drafts is one R_DRAFT_SENT record: its apply() turns the
 * i-th listed draft into message first_id + i, so the ids are fixed when the
 * record is made and every replica assigns the same ones.
 */
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "server.h"

struct draft_set {
	uint32_t              n;
	struct wire_item_DRAFT d[CHAT_MAX_PAGE];
};

static int
collect_draft(void *ud, const struct wire_item_DRAFT *d)
{
	struct draft_set *set = ud;

	if (set->n == CHAT_MAX_PAGE)
		return 1;
	set->d[set->n++] = *d;
	return 0;
}

/* The recipient, by name: 0 found, 1 not (answered), -1 storage (answered). */
static int
find_recipient(struct client *c, uint32_t rid, uint16_t op, const char *name,
	       struct store_user *u)
{
	int rc = 1;

	if (username_valid(name))
		rc = store_user_find(c->srv->store, name, u);
	if (rc < 0)
		client_error(c, rid, WIRE_E_INTERNAL, op, "storage error");
	else if (rc > 0)
		client_error(c, rid, WIRE_E_NO_SUCH_USER, op,
		    "no such user '%s'", name);
	return rc;
}

void
handle_DRAFT_SAVE(struct client *c, uint32_t rid,
		  const struct wire_DRAFT_SAVE *req)
{
	struct server *s = c->srv;
	struct mut m = { req->client_id, req->seq };
	static struct draft_set set;	/* 420 KiB: not on the stack */
	struct wire_item_DRAFT old;
	struct wire_R_DRAFT_PUT rec;
	struct store_user to;
	struct wire_OK ok;
	int rc;

	if (find_recipient(c, rid, WIRE_OP_DRAFT_SAVE, req->to, &to) != 0)
		return;
	memset(&rec, 0, sizeof rec);
	if (req->draft_id) {
		rc = store_draft(s->store, c->uid, req->draft_id, &old);
		if (rc != 0) {
			client_error(c, rid, rc < 0 ? WIRE_E_INTERNAL :
			    WIRE_E_NO_SUCH_DRAFT, WIRE_OP_DRAFT_SAVE,
			    "no draft #%llu", (unsigned long long)req->draft_id);
			return;
		}
		rec.id = req->draft_id;
	} else {
		set.n = 0;
		if (store_drafts(s->store, c->uid, collect_draft, &set) < 0) {
			client_error(c, rid, WIRE_E_INTERNAL,
			    WIRE_OP_DRAFT_SAVE, "storage error");
			return;
		}
		if (set.n >= CHAT_MAX_PAGE) {
			client_error(c, rid, WIRE_E_TOO_LONG, WIRE_OP_DRAFT_SAVE,
			    "at most %d drafts; send or drop some",
			    CHAT_MAX_PAGE);
			return;
		}
		rec.id = s->last_draft_id + 1;
	}
	snprintf(rec.owner, sizeof rec.owner, "%s", c->username);
	snprintf(rec.to, sizeof rec.to, "%s", to.name);
	memcpy(rec.body, req->body, sizeof rec.body);
	memset(&ok, 0, sizeof ok);
	ok.value = rec.id;
	if (server_write(c, rid, &m, c->uid, WIRE_OP_R_DRAFT_PUT, &rec,
	    WIRE_OP_OK, &ok) == 0 && rec.id > s->last_draft_id)
		s->last_draft_id = rec.id;
}

void
handle_DRAFTS(struct client *c, uint32_t rid, const struct wire_DRAFTS *req)
{
	struct server *s = c->srv;
	static struct draft_set set;
	struct wire_DRAFT_LIST list;
	struct wire_enc e;
	uint32_t i;

	(void)req;
	set.n = 0;
	if (store_drafts(s->store, c->uid, collect_draft, &set) < 0) {
		client_error(c, rid, WIRE_E_INTERNAL, WIRE_OP_DRAFTS,
		    "storage error");
		return;
	}
	memset(&list, 0, sizeof list);
	buf_reset(&s->scratch_reply);
	wire_payload_begin(&e, &s->scratch_reply,
	    &wire_op(WIRE_OP_DRAFT_LIST)->body, &list);
	for (i = 0; i < set.n; i++)
		wire_encode_item(&e, &set.d[i]);
	wire_encode_end(&e);
	client_send_encoded(c, WIRE_OP_DRAFT_LIST, rid,
	    buf_head(&s->scratch_reply), buf_pending(&s->scratch_reply));
}

void
handle_DRAFT_SEND(struct client *c, uint32_t rid,
		  const struct wire_DRAFT_SEND *req)
{
	struct server *s = c->srv;
	struct mut m = { req->client_id, req->seq };
	static struct draft_set set;
	struct wire_R_DRAFT_SENT rec;
	struct wire_MESSAGES msgs;
	struct wire_item_MSGID did;
	struct wire_item_MSG msg;
	struct wire_enc rec_enc, reply_enc;
	struct store_user to;
	uint32_t i, n = 0;
	int rc;

	set.n = 0;
	if (req->draft_id) {
		rc = store_draft(s->store, c->uid, req->draft_id, &set.d[0]);
		if (rc == 0)
			set.n = 1;
	} else {
		rc = store_drafts(s->store, c->uid, collect_draft, &set);
	}
	if (rc < 0) {
		client_error(c, rid, WIRE_E_INTERNAL, WIRE_OP_DRAFT_SEND,
		    "storage error");
		return;
	}
	if (set.n == 0) {
		client_error(c, rid, WIRE_E_NO_SUCH_DRAFT, WIRE_OP_DRAFT_SEND,
		    req->draft_id ? "no such draft" : "no drafts to send");
		return;
	}
	memset(&rec, 0, sizeof rec);
	snprintf(rec.owner, sizeof rec.owner, "%s", c->username);
	rec.first_id = s->last_msg_id + 1;
	memset(&msgs, 0, sizeof msgs);
	buf_reset(&s->scratch);
	buf_reset(&s->scratch_reply);
	wire_payload_begin(&rec_enc, &s->scratch,
	    &wire_op(WIRE_OP_R_DRAFT_SENT)->body, &rec);
	wire_payload_begin(&reply_enc, &s->scratch_reply,
	    &wire_op(WIRE_OP_MESSAGES)->body, &msgs);
	for (i = 0; i < set.n; i++) {
		/* A draft to an account deleted since stays a draft. */
		if (store_user_find(s->store, set.d[i].to, &to) != 0)
			continue;
		did.id = set.d[i].id;
		wire_encode_item(&rec_enc, &did);
		memset(&msg, 0, sizeof msg);
		msg.id = rec.first_id + n;
		snprintf(msg.from, sizeof msg.from, "%s", c->username);
		snprintf(msg.to, sizeof msg.to, "%s", to.name);
		msg.sent_at = server_now(s);
		memcpy(msg.body, set.d[i].body, sizeof msg.body);
		wire_encode_item(&reply_enc, &msg);
		n++;
	}
	if (n == 0) {
		client_error(c, rid, WIRE_E_NO_SUCH_USER, WIRE_OP_DRAFT_SEND,
		    "the recipients no longer exist");
		return;
	}
	wire_encode_end(&rec_enc);
	wire_encode_end(&reply_enc);
	if (server_write_encoded(c, rid, &m, c->uid, WIRE_OP_R_DRAFT_SENT,
	    &s->scratch, WIRE_OP_MESSAGES, &s->scratch_reply, 1) == 0)
		s->last_msg_id = rec.first_id + n - 1;
}

void
handle_DRAFT_DROP(struct client *c, uint32_t rid,
		  const struct wire_DRAFT_DROP *req)
{
	struct server *s = c->srv;
	struct mut m = { req->client_id, req->seq };
	struct wire_item_DRAFT d;
	struct wire_R_DRAFT_DEL rec;
	struct wire_OK ok;
	int rc;

	rc = store_draft(s->store, c->uid, req->draft_id, &d);
	if (rc != 0) {
		client_error(c, rid, rc < 0 ? WIRE_E_INTERNAL :
		    WIRE_E_NO_SUCH_DRAFT, WIRE_OP_DRAFT_DROP, "no draft #%llu",
		    (unsigned long long)req->draft_id);
		return;
	}
	memset(&rec, 0, sizeof rec);
	rec.id = req->draft_id;
	snprintf(rec.owner, sizeof rec.owner, "%s", c->username);
	memset(&ok, 0, sizeof ok);
	server_write(c, rid, &m, c->uid, WIRE_OP_R_DRAFT_DEL, &rec, WIRE_OP_OK,
	    &ok);
}
