/*
 * handle_message.c — SEND, INBOX, READ, FETCH, HISTORY, MARK_READ, DELETE.
 *
 * Lists of messages are encoded straight from the store's callbacks into
 * a MESSAGES payload. "more" is known only after the list: each query asks
 * for one message beyond the page and sets the flag when it arrives.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "log.h"
#include "server.h"

/* Collects messages into a MESSAGES payload (and, for READ, their ids). */
struct msg_page {
	struct wire_enc enc;
	uint32_t        max;
	uint32_t        count;
	int             more;
	uint64_t        read_at;	/* READ: show the messages as read now */
	uint64_t        ids[CHAT_MAX_PAGE];
};

static void
page_begin(struct msg_page *pg, struct buf *out, uint32_t max)
{
	struct wire_MESSAGES m;

	memset(pg, 0, sizeof *pg);
	memset(&m, 0, sizeof m);
	buf_reset(out);
	wire_payload_begin(&pg->enc, out, &wire_op(WIRE_OP_MESSAGES)->body, &m);
	pg->max = max;
}

static int
page_add(void *ud, const struct wire_item_MSG *m)
{
	struct msg_page *pg = ud;
	struct wire_item_MSG shown;

	if (pg->count == pg->max) {
		pg->more = 1;
		return 1;	/* the extra one: stop */
	}
	if (pg->read_at && m->read_at == 0) {
		shown = *m;
		shown.read_at = pg->read_at;
		m = &shown;
	}
	pg->ids[pg->count++] = m->id;
	wire_encode_item(&pg->enc, m);
	return 0;
}

static void
page_end(struct msg_page *pg)
{
	if (pg->more)
		wire_encode_set(&pg->enc, "more", 1);
	wire_encode_end(&pg->enc);
}

/* R_MSG_READ and R_MSG_HIDE are both {name, ids[]}: one encoder serves. */
_Static_assert(sizeof(struct wire_R_MSG_READ) == sizeof(struct wire_R_MSG_HIDE) &&
    offsetof(struct wire_R_MSG_READ, reader) ==
    offsetof(struct wire_R_MSG_HIDE, owner) &&
    offsetof(struct wire_R_MSG_READ, ids) == offsetof(struct wire_R_MSG_HIDE, ids),
    "R_MSG_READ and R_MSG_HIDE must share a layout");

/* Encode a record payload {name, ids[]} (R_MSG_READ, R_MSG_HIDE). */
static void
encode_id_record(struct buf *out, uint16_t type, const char *name,
		 const uint64_t *ids, uint32_t n)
{
	struct wire_R_MSG_READ rec;	/* same layout as R_MSG_HIDE */
	struct wire_item_MSGID item;
	struct wire_enc e;
	uint32_t i;

	memset(&rec, 0, sizeof rec);
	snprintf(rec.reader, sizeof rec.reader, "%s", name);
	buf_reset(out);
	wire_payload_begin(&e, out, &wire_op(type)->body, &rec);
	for (i = 0; i < n; i++) {
		item.id = ids[i];
		wire_encode_item(&e, &item);
	}
	wire_encode_end(&e);
}

static void
storage_error(struct client *c, uint32_t rid, uint16_t op)
{
	client_error(c, rid, WIRE_E_INTERNAL, op, "storage error");
}

void
handle_SEND(struct client *c, uint32_t rid, const struct wire_SEND *req)
{
	struct server *s = c->srv;
	struct wire_R_MSG_ADD rec;
	struct wire_SENT sent;
	struct store_user to;
	struct mut m = { req->client_id, req->seq };
	int rc = 1;

	if (username_valid(req->to))
		rc = store_user_find(s->store, req->to, &to);
	if (rc < 0) {
		storage_error(c, rid, WIRE_OP_SEND);
		return;
	}
	if (rc != 0) {
		client_error(c, rid, WIRE_E_NO_SUCH_USER, WIRE_OP_SEND,
		    "no such user '%s'", req->to);
		return;
	}
	memset(&rec, 0, sizeof rec);
	rec.id = s->last_msg_id + 1;
	snprintf(rec.from, sizeof rec.from, "%s", c->username);
	snprintf(rec.to, sizeof rec.to, "%s", to.name);
	memcpy(rec.body, req->body, sizeof rec.body);
	sent.id = rec.id;
	sent.sent_at = server_now(s);
	if (server_write(c, rid, &m, c->uid, WIRE_OP_R_MSG_ADD, &rec,
	    WIRE_OP_SENT, &sent) == 0)
		s->last_msg_id = rec.id;
}

void
handle_INBOX(struct client *c, uint32_t rid, const struct wire_INBOX *req)
{
	struct wire_INBOX_INFO info;

	(void)req;
	memset(&info, 0, sizeof info);
	if (store_inbox_counts(c->srv->store, c->uid, &info.unread, &info.total,
	    &info.last_id) < 0) {
		storage_error(c, rid, WIRE_OP_INBOX);
		return;
	}
	client_send(c, WIRE_OP_INBOX_INFO, rid, &info);
}

void
handle_READ(struct client *c, uint32_t rid, const struct wire_READ *req)
{
	struct server *s = c->srv;
	struct msg_page pg;
	struct mut m = { req->client_id, req->seq };

	page_begin(&pg, &s->scratch_reply, req->max);
	pg.read_at = server_now(s);
	if (store_unread(s->store, c->uid, req->max + 1, page_add, &pg) < 0) {
		storage_error(c, rid, WIRE_OP_READ);
		return;
	}
	page_end(&pg);
	if (pg.count == 0) {
		/* Nothing to mark: no record, and a retry is harmless. */
		client_send_encoded(c, WIRE_OP_MESSAGES, rid,
		    buf_head(&s->scratch_reply), buf_pending(&s->scratch_reply));
		return;
	}
	encode_id_record(&s->scratch, WIRE_OP_R_MSG_READ, c->username, pg.ids,
	    pg.count);
	server_write_encoded(c, rid, &m, c->uid, WIRE_OP_R_MSG_READ,
	    &s->scratch, WIRE_OP_MESSAGES, &s->scratch_reply, 1);
}

void
handle_FETCH(struct client *c, uint32_t rid, const struct wire_FETCH *req)
{
	struct server *s = c->srv;
	struct msg_page pg;

	page_begin(&pg, &s->scratch_reply, req->max);
	if (store_after(s->store, c->uid, req->after_id, req->max + 1, page_add,
	    &pg) < 0) {
		storage_error(c, rid, WIRE_OP_FETCH);
		return;
	}
	page_end(&pg);
	client_send_encoded(c, WIRE_OP_MESSAGES, rid,
	    buf_head(&s->scratch_reply), buf_pending(&s->scratch_reply));
}

/* Counts what a query returns. */
static int
count_msg(void *ud, const struct wire_item_MSG *m)
{
	(void)m;
	(*(uint32_t *)ud)++;
	return 0;
}

void
handle_HISTORY(struct client *c, uint32_t rid, const struct wire_HISTORY *req)
{
	struct server *s = c->srv;
	struct store_user peer;
	struct msg_page pg;
	uint32_t older = 0;
	int rc = 1;

	if (username_valid(req->peer)) {
		rc = store_user_find(s->store, req->peer, &peer);
		/* A deleted account: its conversation stays readable. */
		if (rc == 1)
			rc = store_former_user(s->store, c->uid, req->peer,
			    &peer.id);
	}
	if (rc < 0) {
		storage_error(c, rid, WIRE_OP_HISTORY);
		return;
	}
	if (rc != 0) {
		client_error(c, rid, WIRE_E_NO_SUCH_USER, WIRE_OP_HISTORY,
		    "no such user '%s'", req->peer);
		return;
	}
	page_begin(&pg, &s->scratch_reply, req->max);
	rc = store_history(s->store, c->uid, peer.id, req->before_id, req->max,
	    page_add, &pg);
	/* More if one message older than the page's oldest exists. */
	if (rc == 0 && pg.count == req->max)
		rc = store_history(s->store, c->uid, peer.id, pg.ids[0], 1,
		    count_msg, &older);
	if (rc < 0) {
		storage_error(c, rid, WIRE_OP_HISTORY);
		return;
	}
	pg.more = older > 0;
	page_end(&pg);
	client_send_encoded(c, WIRE_OP_MESSAGES, rid,
	    buf_head(&s->scratch_reply), buf_pending(&s->scratch_reply));
}

/*
 * The ids of a MARK_READ or DELETE request that qualify, deduplicated:
 * for MARK_READ, unread messages to me; for DELETE, any message in my view.
 * Returns the count, or -1 on a storage error.
 */
static int
select_ids(struct client *c, const struct wire_opdesc *d,
	   const struct wire_list *l, int unread_to_me, uint64_t *out)
{
	struct wire_list_iter it;
	struct wire_item_MSGID id;
	struct wire_item_MSG msg;
	int n = 0, i, rc;

	wire_list_begin(&it, d, l);
	while (wire_list_next(&it, &id)) {
		for (i = 0; i < n && out[i] != id.id; i++)
			;
		if (i < n)
			continue;	/* listed twice */
		rc = store_message(c->srv->store, c->uid, id.id, &msg);
		if (rc < 0)
			return -1;
		if (rc != 0)
			continue;
		if (unread_to_me && (msg.read_at != 0 ||
		    strcasecmp(msg.to, c->username) != 0))
			continue;
		out[n++] = id.id;
	}
	return n;
}

void
handle_MARK_READ(struct client *c, uint32_t rid,
		 const struct wire_MARK_READ *req)
{
	struct server *s = c->srv;
	struct mut m = { req->client_id, req->seq };
	uint64_t ids[CHAT_MAX_IDS];
	struct wire_OK ok;
	int n;

	n = select_ids(c, wire_op(WIRE_OP_MARK_READ), &req->ids, 1, ids);
	if (n < 0) {
		storage_error(c, rid, WIRE_OP_MARK_READ);
		return;
	}
	memset(&ok, 0, sizeof ok);
	ok.value = (uint64_t)n;
	if (n == 0) {
		client_send(c, WIRE_OP_OK, rid, &ok);
		return;
	}
	encode_id_record(&s->scratch, WIRE_OP_R_MSG_READ, c->username, ids,
	    (uint32_t)n);
	buf_reset(&s->scratch_reply);
	wire_encode_payload(&s->scratch_reply, &wire_op(WIRE_OP_OK)->body, &ok);
	server_write_encoded(c, rid, &m, c->uid, WIRE_OP_R_MSG_READ,
	    &s->scratch, WIRE_OP_OK, &s->scratch_reply, 1);
}

void
handle_DELETE(struct client *c, uint32_t rid, const struct wire_DELETE *req)
{
	struct server *s = c->srv;
	struct mut m = { req->client_id, req->seq };
	uint64_t ids[CHAT_MAX_IDS];
	struct wire_OK ok;
	int n;

	n = select_ids(c, wire_op(WIRE_OP_DELETE), &req->ids, 0, ids);
	if (n < 0) {
		storage_error(c, rid, WIRE_OP_DELETE);
		return;
	}
	if (n == 0) {
		client_error(c, rid, WIRE_E_NO_SUCH_MESSAGE, WIRE_OP_DELETE,
		    "none of those messages is in your view");
		return;
	}
	memset(&ok, 0, sizeof ok);
	ok.value = (uint64_t)n;
	encode_id_record(&s->scratch, WIRE_OP_R_MSG_HIDE, c->username, ids,
	    (uint32_t)n);
	buf_reset(&s->scratch_reply);
	wire_encode_payload(&s->scratch_reply, &wire_op(WIRE_OP_OK)->body, &ok);
	server_write_encoded(c, rid, &m, c->uid, WIRE_OP_R_MSG_HIDE,
	    &s->scratch, WIRE_OP_OK, &s->scratch_reply, 1);
}
