/*
 * repl_member.c — the membership: which replicas make up the cluster.
 *
 * replicas.conf is only the bootstrap list. The membership is replicated
 * state: the primary changes it with an R_MEMBERS record (MEMBER_CHANGE
 * from chatctl), applied by the same apply() everywhere and kept in the
 * store's meta, so a restarted replica uses the stored list, not only
 * replicas.conf. peers[] (repl_link.c) follows it: a new member gets a
 * peer (the lower id dials, as always), a removed one loses its link.
 * Elections count the peers, so they count the current membership.
 *
 *   add     the primary writes R_MEMBERS; the new replica, started with
 *           chatd --join and an empty store, learns the membership from a
 *           member, is dialed or dials, asks to catch up (a snapshot when
 *           the log it needs is pruned), and enters the ISR through
 *           R_ISR once it holds everything: from then on acks wait for it.
 *   remove  the primary writes R_ISR without it (if it was in the ISR),
 *           then R_MEMBERS without it, and keeps shipping to it until it
 *           holds that record (or is gone): it then knows it was removed,
 *           refuses to serve and says why. Removing the primary itself is
 *           refused (stop it and let the others elect first).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "log.h"
#include "oplink.h"
#include "repl.h"
#include "server.h"

/* Decode an R_MEMBERS payload into a replica list. Count, or -1. */
static int
decode_members(const uint8_t *p, size_t len, struct replica_addr *out,
	       unsigned max)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_R_MEMBERS);
	struct wire_R_MEMBERS rec;
	struct wire_item_REPLICA it;
	struct wire_list_iter li;
	unsigned n = 0;

	if (wire_decode_struct(&d->body, p, len, &rec, NULL) < 0)
		return -1;
	wire_list_begin(&li, d, &rec.replicas);
	while (n < max && wire_list_next(&li, &it)) {
		memset(&out[n], 0, sizeof out[n]);
		out[n].id = it.id;
		snprintf(out[n].host, sizeof out[n].host, "%s", it.host);
		out[n].client_port = it.client_port;
		out[n].internal_port = it.internal_port;
		n++;
	}
	return (int)n;
}

int
repl_load_members(struct store *st, struct config *cfg)
{
	struct replica_addr list[CONFIG_MAX_REPLICAS];
	struct buf b;
	int rc, n = -1;

	buf_init(&b);
	rc = store_meta_get_blob(st, "members", &b);	/* 0, 1 absent, -1 */
	if (rc == 0)
		n = decode_members(buf_head(&b), buf_pending(&b), list,
		    CONFIG_MAX_REPLICAS);
	buf_free(&b);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	if (n <= 0)
		return -1;
	memcpy(cfg->replicas, list, (size_t)n * sizeof list[0]);
	cfg->nreplicas = (unsigned)n;
	return 1;
}

int
repl_join(struct config *cfg, uint32_t id, const char *hostport,
	  unsigned wait_ms, char *err, size_t errlen)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_ADMIN_STATUS_INFO);
	char host[CONFIG_MAX_HOST + 1], path[CONFIG_MAX_PATH + 32];
	const char *colon = strrchr(hostport, ':');
	uint64_t deadline = mono_ms() + wait_ms;
	uint8_t key[AUTH_KEY_BYTES];
	unsigned long port;
	char *end;
	int said = 0;

	if (colon == NULL || colon == hostport ||
	    (size_t)(colon - hostport) > CONFIG_MAX_HOST ||
	    (port = strtoul(colon + 1, &end, 10)) == 0 || port > 65535 ||
	    *end) {
		snprintf(err, errlen, "--join wants HOST:INTERNAL_PORT, not '%s'",
		    hostport);
		return -1;
	}
	snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
	if (config_key_path(cfg, path, sizeof path) < 0 ||
	    auth_key_read(path, key, err, errlen) < 0)
		return -1;
	/* Bounded: until the deadline, one attempt every 200 ms at most. */
	while (mono_ms() < deadline) {
		struct wire_ADMIN_STATUS req;
		struct wire_ADMIN_STATUS_INFO info;
		struct wire_item_PEER m;
		struct wire_list_iter it;
		struct oplink l;
		unsigned n = 0;
		int found = 0;

		memset(&req, 0, sizeof req);
		if (oplink_open(&l, host, (uint16_t)port, key, 2000, err,
		    errlen) == 0 && oplink_call(&l, WIRE_OP_ADMIN_STATUS, &req,
		    err, errlen) == 0 && l.h.opcode ==
		    WIRE_OP_ADMIN_STATUS_INFO && wire_decode(d,
		    buf_head(&l.payload), l.h.length, &info, NULL) == 0) {
			wire_list_begin(&it, d, &info.members);
			while (n < CONFIG_MAX_REPLICAS &&
			    wire_list_next(&it, &m)) {
				struct replica_addr *a = &cfg->replicas[n++];

				memset(a, 0, sizeof *a);
				a->id = m.id;
				snprintf(a->host, sizeof a->host, "%s", m.host);
				a->client_port = m.client_port;
				a->internal_port = m.internal_port;
				found |= m.id == id;
			}
			if (found) {
				cfg->nreplicas = n;
				cfg->joining = 1;
				oplink_close(&l);
				auth_wipe(key, sizeof key);
				return 0;
			}
			snprintf(err, errlen, "replica %u at %s is not a "
			    "member yet (chatctl add %u HOST CLIENT_PORT "
			    "INTERNAL_PORT)", id, hostport, id);
		}
		oplink_close(&l);
		if (!said++)
			log_info("joining through %s: %s; trying again",
			    hostport, err);
		poll(NULL, 0, 200);	/* start-up only: the loop is not running */
	}
	auth_wipe(key, sizeof key);
	return -1;
}

const struct replica_addr *
repl_member(const struct repl *r, uint32_t id)
{
	unsigned i;

	for (i = 0; i < r->nmembers; i++)
		if (r->members[i].id == id)
			return &r->members[i];
	return NULL;
}

void
repl_members_init(struct repl *r)
{
	const struct config *cfg = r->srv->cfg;
	unsigned i;

	r->nmembers = 0;
	for (i = 0; i < cfg->nreplicas && i < CONFIG_MAX_REPLICAS; i++)
		r->members[r->nmembers++] = cfg->replicas[i];
	repl_members_applied(r);	/* the same list, and its position */
	r->members_dirty = 1;
	repl_members_sync(r);
}

void
repl_members_applied(struct repl *r)
{
	struct replica_addr list[CONFIG_MAX_REPLICAS];
	struct store *st = r->srv->store;
	uint64_t e = 0, l = 0;
	struct buf b;
	int n = -1;

	buf_init(&b);
	if (store_meta_get_blob(st, "members", &b) == 0 &&
	    store_meta_get_u64(st, "members_pos_epoch", &e) == 0 &&
	    store_meta_get_u64(st, "members_pos_lsn", &l) == 0)
		n = decode_members(buf_head(&b), buf_pending(&b), list,
		    CONFIG_MAX_REPLICAS);
	buf_free(&b);
	if (n <= 0)
		return;
	memcpy(r->members, list, (size_t)n * sizeof list[0]);
	r->nmembers = (unsigned)n;
	r->members_at = (struct logpos){ e, l };
	r->members_dirty = 1;
	log_info("membership (%llu,%llu): %d replicas",
	    (unsigned long long)e, (unsigned long long)l, n);
}

/* We are not a member any more: stop taking part, and say so. */
static void
become_removed(struct repl *r)
{
	struct server *s = r->srv;

	r->removed = 1;
	if (s->role == ROLE_PRIMARY)
		repl_step_down(r, "removed from the membership");
	s->role = ROLE_WAITING;
	s->primary_id = 0;
	snprintf(r->note, sizeof r->note, "removed from the cluster by the "
	    "membership record at (%llu,%llu): not serving",
	    (unsigned long long)r->members_at.epoch,
	    (unsigned long long)r->members_at.lsn);
	log_warn("replica %u: %s", s->self->id, r->note);
}

void
repl_members_sync(struct repl *r)
{
	struct server *s = r->srv;
	uint64_t now = mono_ms();
	int self_in = repl_member(r, s->self->id) != NULL;
	unsigned i;
	size_t k;

	if (!r->members_dirty && r->npeers == 0)
		return;
	if (r->members_dirty) {
		r->members_dirty = 0;
		for (i = 0; i < r->nmembers && self_in; i++)
			if (r->members[i].id != s->self->id &&
			    repl_peer(r, r->members[i].id) == NULL &&
			    repl_peer_add(r, &r->members[i]) != NULL)
				log_info("replica %u (%s:%u) is a member now",
				    r->members[i].id, r->members[i].host,
				    r->members[i].internal_port);
		if (!self_in && !r->removed)
			become_removed(r);
	}
	/* Backwards: dropping compacts from the end. */
	for (k = r->npeers; k-- > 0;) {
		struct peer *p = &r->peers[k];

		if (self_in && repl_member(r, p->id))
			continue;
		/* A primary keeps shipping to a removed replica until it
		 * holds the record that removed it (or is gone). */
		if (s->role == ROLE_PRIMARY && self_in && p->state == LINK_UP &&
		    p->acked_lsn < r->members_at.lsn) {
			if (!p->leaving) {
				p->leaving = 1;
				p->leaving_since = now;
			}
			if (now - p->leaving_since <=
			    s->cfg->election_timeout_ms)
				continue;
		}
		repl_peer_drop(r, p, "no longer a member");
	}
}

/* Write R_MEMBERS with list. 0 or -1 (storage failure). */
static int
write_members(struct repl *r, const struct replica_addr *list, unsigned n)
{
	struct wire_R_MEMBERS rec;
	struct wire_item_REPLICA it;
	struct wire_enc e;
	struct buf payload;
	unsigned i;
	int rc;

	memset(&rec, 0, sizeof rec);
	buf_init(&payload);
	wire_payload_begin(&e, &payload, &wire_op(WIRE_OP_R_MEMBERS)->body,
	    &rec);
	for (i = 0; i < n; i++) {
		memset(&it, 0, sizeof it);
		it.id = list[i].id;
		snprintf(it.host, sizeof it.host, "%s", list[i].host);
		it.client_port = list[i].client_port;
		it.internal_port = list[i].internal_port;
		wire_encode_item(&e, &it);
	}
	wire_encode_end(&e);
	rc = server_write_system(r->srv, WIRE_OP_R_MEMBERS, &payload);
	buf_free(&payload);
	return rc;
}

/* A new member's addresses must be new too. */
static int
addr_taken(const struct repl *r, const struct wire_MEMBER_CHANGE *mc)
{
	unsigned i;

	for (i = 0; i < r->nmembers; i++) {
		const struct replica_addr *a = &r->members[i];

		if (strcmp(a->host, mc->host) == 0 &&
		    (a->client_port == mc->client_port ||
		    a->internal_port == mc->internal_port ||
		    a->client_port == mc->internal_port ||
		    a->internal_port == mc->client_port))
			return 1;
	}
	return 0;
}

uint16_t
repl_member_change(struct repl *r, const struct wire_MEMBER_CHANGE *mc,
		   uint64_t *lsn, char *text, size_t len)
{
	struct server *s = r->srv;
	struct replica_addr list[CONFIG_MAX_REPLICAS];
	struct logpos last;
	unsigned n = 0, i;

	if (s->role != ROLE_PRIMARY || r->primary_since == 0) {
		snprintf(text, len, "replica %u is not the primary",
		    s->self->id);
		return WIRE_E_NOT_PRIMARY;
	}
	if (s->fatal) {
		snprintf(text, len, "storage failure: not writing");
		return WIRE_E_INTERNAL;
	}
	if (mc->action == 1) {
		if (repl_member(r, mc->id)) {
			snprintf(text, len, "replica %u is a member already",
			    mc->id);
			return WIRE_E_BAD_REQUEST;
		}
		if (mc->host[0] == '\0' || mc->client_port == 0 ||
		    mc->internal_port == 0 ||
		    mc->client_port == mc->internal_port) {
			snprintf(text, len, "add needs a host and two "
			    "different ports");
			return WIRE_E_BAD_FIELD;
		}
		if (addr_taken(r, mc)) {
			snprintf(text, len, "a member already uses %s with "
			    "one of those ports", mc->host);
			return WIRE_E_BAD_FIELD;
		}
		if (r->nmembers >= CONFIG_MAX_REPLICAS ||
		    r->nmembers >= ELECT_MAX) {
			snprintf(text, len, "the cluster has the most members "
			    "it can have (%u)", r->nmembers);
			return WIRE_E_BAD_REQUEST;
		}
		memcpy(list, r->members, r->nmembers * sizeof list[0]);
		n = r->nmembers;
		memset(&list[n], 0, sizeof list[n]);
		list[n].id = mc->id;
		snprintf(list[n].host, sizeof list[n].host, "%s", mc->host);
		list[n].client_port = mc->client_port;
		list[n].internal_port = mc->internal_port;
		n++;
	} else {
		if (repl_member(r, mc->id) == NULL) {
			snprintf(text, len, "replica %u is not a member",
			    mc->id);
			return WIRE_E_BAD_REQUEST;
		}
		if (mc->id == s->self->id) {
			snprintf(text, len, "replica %u is the primary: stop "
			    "it, let the others elect a primary, then remove "
			    "it", mc->id);
			return WIRE_E_BAD_REQUEST;
		}
		for (i = 0; i < r->nmembers; i++)
			if (r->members[i].id != mc->id)
				list[n++] = r->members[i];
		if (isr_has(&r->isr, mc->id)) {
			struct isr next = r->isr;

			next.n = 0;
			for (i = 0; i < r->isr.n; i++)
				if (r->isr.ids[i] != mc->id)
					next.ids[next.n++] = r->isr.ids[i];
			if (repl_write_isr(r, &next, "a member is removed") < 0)
				goto failed;
		}
	}
	if (write_members(r, list, n) < 0)
		goto failed;
	repl_self_last(r, &last);
	*lsn = last.lsn;
	snprintf(text, len, "replica %u %s (membership record at lsn %llu, "
	    "%u members)", mc->id, mc->action == 1 ? "added" : "removed",
	    (unsigned long long)last.lsn, n);
	log_info("%s", text);
	return 0;
failed:
	snprintf(text, len, "storage failure while writing");
	return WIRE_E_INTERNAL;
}
