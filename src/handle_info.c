/*
 * handle_info.c — USERS, STATUS, REPLICAS: answers about the cluster and
 * its users that change nothing.
 */
#include <stdio.h>
#include <string.h>
#include "server.h"

struct users_page {
	struct server  *srv;
	struct wire_enc enc;
};

static void
add_user(void *ud, const struct wire_item_USER *u, uint64_t uid)
{
	struct users_page *pg = ud;
	struct wire_item_USER item = *u;

	item.online = user_online(pg->srv, uid) ? 1 : 0;
	wire_encode_item(&pg->enc, &item);
}

/* Patterns use only * and ? besides the characters of user names. */
static int
pattern_valid(const char *p)
{
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-' || *p == '*' || *p == '?'))
			return 0;
	return 1;
}

void
handle_USERS(struct client *c, uint32_t rid, const struct wire_USERS *req)
{
	struct server *s = c->srv;
	struct wire_USER_LIST list;
	struct users_page pg;
	uint32_t total = 0;

	if (!pattern_valid(req->pattern)) {
		client_error(c, rid, WIRE_E_BAD_FIELD, WIRE_OP_USERS,
		    "patterns use letters, digits, . _ - and the wildcards * ?");
		return;
	}
	memset(&list, 0, sizeof list);
	list.page = req->page;
	pg.srv = s;
	buf_reset(&s->scratch_reply);
	wire_payload_begin(&pg.enc, &s->scratch_reply,
	    &wire_op(WIRE_OP_USER_LIST)->body, &list);
	if (store_users_page(s->store, req->pattern, req->page, CHAT_MAX_PAGE,
	    &total, add_user, &pg) < 0) {
		client_error(c, rid, WIRE_E_INTERNAL, WIRE_OP_USERS,
		    "storage error");
		return;
	}
	/* The counts are known only after the query. */
	wire_encode_set(&pg.enc, "total", total);
	wire_encode_set(&pg.enc, "pages",
	    (total + CHAT_MAX_PAGE - 1) / CHAT_MAX_PAGE);
	wire_encode_end(&pg.enc);
	client_send_encoded(c, WIRE_OP_USER_LIST, rid,
	    buf_head(&s->scratch_reply), buf_pending(&s->scratch_reply));
}

void
server_status_encode(struct server *s, struct buf *out)
{
	struct repl *r = &s->repl;
	struct wire_STATUS_INFO st;
	struct wire_enc e;

	memset(&st, 0, sizeof st);
	st.replica_id = s->self->id;
	st.role = (uint8_t)s->role;
	st.epoch = s->role == ROLE_PRIMARY || s->role == ROLE_BACKUP ?
	    s->epoch : r->promised;
	st.primary_id = s->role == ROLE_PRIMARY ? s->self->id :
	    s->role == ROLE_BACKUP ? s->primary_id : 0;
	store_last(s->store, &st.last_epoch, &st.last_lsn);
	st.commit_lsn = r->commit_lsn;
	st.clients = s->nclients;
	st.waiting_for = r->waiting_for;
	st.uptime_ms = mono_ms() - s->start_ms;
	if (s->role == ROLE_BACKUP)	/* the ISR changes without a note */
		snprintf(st.note, sizeof st.note, "backup of replica %u, %s",
		    s->primary_id, r->recovering ? "recovering: not yet in "
		    "the ISR" : isr_has(&r->isr, s->self->id) ? "in the ISR" :
		    "not in the ISR: catching up");
	else
		snprintf(st.note, sizeof st.note, "%s", r->note);
	wire_payload_begin(&e, out, &wire_op(WIRE_OP_STATUS_INFO)->body, &st);
	repl_encode_isr(&e, &r->isr);
	wire_encode_end(&e);
}

void
handle_STATUS(struct client *c, uint32_t rid, const struct wire_STATUS *req)
{
	struct server *s = c->srv;

	(void)req;
	buf_reset(&s->scratch_reply);
	server_status_encode(s, &s->scratch_reply);
	client_send_encoded(c, WIRE_OP_STATUS_INFO, rid,
	    buf_head(&s->scratch_reply), buf_pending(&s->scratch_reply));
}

void
handle_REPLICAS(struct client *c, uint32_t rid, const struct wire_REPLICAS *req)
{
	struct server *s = c->srv;
	struct wire_REPLICA_LIST list;
	struct wire_item_REPLICA r;
	struct wire_enc e;
	unsigned i;

	(void)req;
	memset(&list, 0, sizeof list);
	buf_reset(&s->scratch_reply);
	wire_payload_begin(&e, &s->scratch_reply,
	    &wire_op(WIRE_OP_REPLICA_LIST)->body, &list);
	/* The current membership, not replicas.conf: clients learn of
	 * added and removed replicas from this. */
	for (i = 0; i < s->repl.nmembers; i++) {
		const struct replica_addr *a = &s->repl.members[i];

		memset(&r, 0, sizeof r);
		r.id = a->id;
		snprintf(r.host, sizeof r.host, "%s", a->host);
		r.client_port = a->client_port;
		r.internal_port = a->internal_port;
		wire_encode_item(&e, &r);
	}
	wire_encode_end(&e);
	client_send_encoded(c, WIRE_OP_REPLICA_LIST, rid,
	    buf_head(&s->scratch_reply), buf_pending(&s->scratch_reply));
}
