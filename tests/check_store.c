/*
 * check_store.c — unit tests for the store (src/store*.c).
 *
 * Records are built the way the server builds them: the R_* struct is
 * encoded with the wire codec into a payload, wrapped in a RECORD item
 * with the next lsn, and applied in its own transaction. The clock of the
 * records (now_ms) and their epoch (cur_epoch) are test globals, so every
 * expected time is known. Most tests use an in-memory store; persistence
 * tests use a temporary directory under /tmp, removed afterwards.
 *
 * Row-level facts that no query shows (a message row deleted when both
 * sides hid it) are checked through store_dump(), which is also how the
 * determinism test compares two stores that applied the same ~500 random
 * records (fixed-seed xorshift).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "h_check.h"
#include "log.h"
#include "store.h"
#include "wire.h"

#define T0 1700000000000ull
#define DAY_MS (24ull * 3600 * 1000)

static uint64_t now_ms = T0;
static uint64_t cur_epoch = 1;
static struct store *S;

static void
setup(void)
{
	now_ms = T0;
	cur_epoch = 1;
	S = store_open_memory();
	ck_assert_ptr_nonnull(S);
}

static void
teardown(void)
{
	store_close(S);
	S = NULL;
}

/* ---- building and applying records -------------------------------------- */

struct extra {		/* optional RECORD fields */
	uint64_t    client_id, seq;
	uint16_t    reply_op;
	const void *reply;
	uint32_t    reply_len;
};

static void
make_record(struct store *s, struct wire_item_RECORD *r, uint16_t type,
	    const struct buf *payload, const struct extra *x)
{
	uint64_t e, l;

	store_last(s, &e, &l);
	memset(r, 0, sizeof *r);
	r->epoch = cur_epoch;
	r->lsn = l + 1;
	r->type = type;
	r->at = now_ms;
	r->payload.ptr = payload->data;
	r->payload.len = (uint32_t)payload->len;
	if (x) {
		r->client_id = x->client_id;
		r->seq = x->seq;
		r->reply_op = x->reply_op;
		r->reply.ptr = x->reply;
		r->reply.len = x->reply_len;
	}
}

/* Apply one record with the next lsn in its own transaction; the result
 * of store_apply (a failed record is rolled back). */
static int
apply_payload(struct store *s, uint16_t type, const struct buf *payload,
	      const struct extra *x)
{
	struct wire_item_RECORD r;
	int rc;

	make_record(s, &r, type, payload, x);
	ck_assert_int_eq(store_begin(s), 0);
	rc = store_apply(s, &r);
	if (rc == 0)
		ck_assert_int_eq(store_commit(s), 0);
	else
		ck_assert_int_eq(store_rollback(s), 0);
	return rc;
}

/* Encode a list-less record struct and apply it. */
static int
apply_x(struct store *s, uint16_t type, const void *m, const struct extra *x)
{
	struct buf b;
	int rc;

	buf_init(&b);
	wire_encode_payload(&b, &wire_op(type)->body, m);
	rc = apply_payload(s, type, &b, x);
	buf_free(&b);
	return rc;
}

static int
apply_m(struct store *s, uint16_t type, const void *m)
{
	return apply_x(s, type, m, NULL);
}

/* Encode a record whose list is MSGID items (ids[0..n)) and apply it. */
static int
apply_ids(struct store *s, uint16_t type, const void *m, const uint64_t *ids,
	  int n, const struct extra *x)
{
	struct wire_item_MSGID it;
	struct wire_enc e;
	struct buf b;
	int i, rc;

	buf_init(&b);
	wire_payload_begin(&e, &b, &wire_op(type)->body, m);
	for (i = 0; i < n; i++) {
		memset(&it, 0, sizeof it);
		it.id = ids[i];
		wire_encode_item(&e, &it);
	}
	wire_encode_end(&e);
	rc = apply_payload(s, type, &b, x);
	buf_free(&b);
	return rc;
}

#define COPY(dst, src) \
	snprintf((dst), sizeof(dst), "%.*s", (int)sizeof(dst) - 1, (src))

/* Apply record T (struct wire_T m: zeroed, then set by the statements
 * given) and require that it applies. */
#define APPLY(T, ...) do {						\
	struct wire_##T m;						\
									\
	memset(&m, 0, sizeof m);					\
	__VA_ARGS__;							\
	ck_assert_int_eq(apply_m(s, WIRE_OP_##T, &m), 0);		\
} while (0)

/* The same for a record whose list is the MSGID items ids[0..n). */
#define APPLY_IDS(T, ids, n, ...) do {					\
	struct wire_##T m;						\
									\
	memset(&m, 0, sizeof m);					\
	__VA_ARGS__;							\
	ck_assert_int_eq(apply_ids(s, WIRE_OP_##T, &m, (ids), (n), NULL),\
	    0);								\
} while (0)

static void
user_add(struct store *s, const char *name, const char *fullname)
{
	APPLY(R_USER_ADD, COPY(m.username, name); COPY(m.fullname, fullname);
	    snprintf(m.pwhash, sizeof m.pwhash, "$argon2id$v=19$fake$%s",
	    name));
}

static void
user_del(struct store *s, const char *name)
{
	APPLY(R_USER_DEL, COPY(m.username, name));
}

static void
msg_add(struct store *s, uint64_t id, const char *from, const char *to,
	const char *body)
{
	APPLY(R_MSG_ADD, m.id = id; COPY(m.from, from); COPY(m.to, to);
	    COPY(m.body, body));
}

static void
msg_read(struct store *s, const char *reader, const uint64_t *ids, int n)
{
	APPLY_IDS(R_MSG_READ, ids, n, COPY(m.reader, reader));
}

static void
msg_hide(struct store *s, const char *owner, const uint64_t *ids, int n)
{
	APPLY_IDS(R_MSG_HIDE, ids, n, COPY(m.owner, owner));
}

static void
draft_put(struct store *s, uint64_t id, const char *owner, const char *to,
	  const char *body)
{
	APPLY(R_DRAFT_PUT, m.id = id; COPY(m.owner, owner); COPY(m.to, to);
	    COPY(m.body, body));
}

static void
draft_del(struct store *s, uint64_t id, const char *owner)
{
	APPLY(R_DRAFT_DEL, m.id = id; COPY(m.owner, owner));
}

static void
draft_sent(struct store *s, const char *owner, uint64_t first_id,
	   const uint64_t *drafts, int n)
{
	APPLY_IDS(R_DRAFT_SENT, drafts, n, COPY(m.owner, owner);
	    m.first_id = first_id);
}

/* A session's token hash: 32 bytes of k. */
static void
session_open(struct store *s, uint8_t k, const char *user, uint64_t expires)
{
	uint8_t h[32];

	memset(h, k, sizeof h);
	APPLY(R_SESSION_OPEN, m.token_hash.ptr = h; m.token_hash.len = 32;
	    COPY(m.username, user); m.expires_at = expires);
}

static void
session_touch(struct store *s, uint8_t k, uint64_t expires)
{
	uint8_t h[32];

	memset(h, k, sizeof h);
	APPLY(R_SESSION_TOUCH, m.token_hash.ptr = h; m.token_hash.len = 32;
	    m.expires_at = expires);
}

static void
session_end(struct store *s, const char *user)
{
	APPLY(R_SESSION_END, COPY(m.username, user));
}

/* A no-op record (touches no session) for filling the log. */
static int
filler(struct store *s, const struct extra *x)
{
	struct wire_R_SESSION_TOUCH m;
	static const uint8_t h[32];

	memset(&m, 0, sizeof m);
	m.token_hash.ptr = h;
	m.token_hash.len = 32;
	return apply_x(s, WIRE_OP_R_SESSION_TOUCH, &m, x);
}

/* ---- reading back -------------------------------------------------------- */

static uint64_t
uid_of(struct store *s, const char *name)
{
	struct store_user u;

	ck_assert_int_eq(store_user_find(s, name, &u), 0);
	return u.id;
}

#define GOT_MAX 256

struct got {
	int      n;
	int      stop_at;	/* callback returns 1 after this many, 0 never */
	uint64_t id[GOT_MAX], sent_at[GOT_MAX], read_at[GOT_MAX];
	char     from[GOT_MAX][CHAT_MAX_USERNAME + 1];
	char     to[GOT_MAX][CHAT_MAX_USERNAME + 1];
	char     body[GOT_MAX][64];
};

static int
got_msg(void *ud, const struct wire_item_MSG *m)
{
	struct got *g = ud;

	ck_assert_int_lt(g->n, GOT_MAX);
	g->id[g->n] = m->id;
	g->sent_at[g->n] = m->sent_at;
	g->read_at[g->n] = m->read_at;
	COPY(g->from[g->n], m->from);
	COPY(g->to[g->n], m->to);
	COPY(g->body[g->n], m->body);
	g->n++;
	return g->stop_at && g->n >= g->stop_at;
}

static void
expect_ids(const struct got *g, const uint64_t *want, int n)
{
	int i;

	ck_assert_int_eq(g->n, n);
	for (i = 0; i < n; i++)
		ck_assert_msg(g->id[i] == want[i], "item %d: id %llu, want %llu",
		    i, (unsigned long long)g->id[i],
		    (unsigned long long)want[i]);
}

#define IDS(...) (const uint64_t[]){ __VA_ARGS__ }, \
	(int)(sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t))

static void
q_unread(struct store *s, uint64_t uid, uint32_t max, struct got *g)
{
	memset(g, 0, sizeof *g);
	ck_assert_int_eq(store_unread(s, uid, max, got_msg, g), 0);
}

static void
q_after(struct store *s, uint64_t uid, uint64_t after, uint32_t max,
	struct got *g)
{
	memset(g, 0, sizeof *g);
	ck_assert_int_eq(store_after(s, uid, after, max, got_msg, g), 0);
}

static void
q_history(struct store *s, uint64_t uid, uint64_t peer, uint64_t before,
	  uint32_t max, struct got *g)
{
	memset(g, 0, sizeof *g);
	ck_assert_int_eq(store_history(s, uid, peer, before, max, got_msg, g),
	    0);
}

/* store_dump into a string (caller frees). */
static char *
dump(struct store *s, int with_log)
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(store_dump(s, f, with_log), 0);
	fclose(f);
	return p;
}

/* Rows of table in the dump. */
static int
rows(struct store *s, const char *table)
{
	char *d = dump(s, 1), *p;
	char prefix[32];
	int n = 0;

	snprintf(prefix, sizeof prefix, "%s ", table);
	for (p = d; *p; p = strchr(p, '\n') + 1) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		if (strchr(p, '\n') == NULL)
			break;
	}
	free(d);
	return n;
}

/* Is a message row with this id in the table at all (any view)? */
static int
msg_row_exists(struct store *s, uint64_t id)
{
	char *d = dump(s, 0);
	char pat[48];
	int found;

	snprintf(pat, sizeof pat, "\nmessages id=%llu ",
	    (unsigned long long)id);
	found = strstr(d, pat) != NULL ||
	    strncmp(d, pat + 1, strlen(pat + 1)) == 0;
	free(d);
	return found;
}

/* ---- tests: basics -------------------------------------------------------- */

START_TEST(test_empty)
{
	uint64_t e = 9, l = 9, m = 9, d = 9;

	store_last(S, &e, &l);
	ck_assert_uint_eq(e, 0);
	ck_assert_uint_eq(l, 0);
	ck_assert_int_eq(store_max_ids(S, &m, &d), 0);
	ck_assert_uint_eq(m, 0);
	ck_assert_uint_eq(d, 0);
	ck_assert_int_eq(store_in_txn(S), 0);
	ck_assert_int_eq(store_log_epoch(S, 1, &e), 1);
	ck_assert_int_eq(store_begin(S), 0);
	ck_assert_int_eq(store_in_txn(S), 1);
	ck_assert_int_eq(store_begin(S), -1);	/* no nesting */
	ck_assert_int_eq(store_commit(S), 0);
	ck_assert_int_eq(store_in_txn(S), 0);
	ck_assert_int_eq(store_rollback(S), 0);	/* no-op */
}
END_TEST

START_TEST(test_meta)
{
	uint64_t v = 0;
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(store_meta_get_u64(S, "promise", &v), 1);
	ck_assert_int_eq(store_meta_set_u64(S, "promise", 42), 0);
	ck_assert_int_eq(store_meta_get_u64(S, "promise", &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(store_meta_set_u64(S, "promise", UINT64_MAX), 0);
	ck_assert_int_eq(store_meta_get_u64(S, "promise", &v), 0);
	ck_assert(v == UINT64_MAX);
	ck_assert_int_eq(store_meta_get_blob(S, "vote", &b), 1);
	ck_assert_int_eq(store_meta_set_blob(S, "vote", "\x00\x01\x02", 3), 0);
	buf_append(&b, "junk", 4);
	ck_assert_int_eq(store_meta_get_blob(S, "vote", &b), 0);
	ck_assert_uint_eq(buf_pending(&b), 3);
	ck_assert_mem_eq(buf_head(&b), "\x00\x01\x02", 3);
	ck_assert_int_eq(store_meta_set_blob(S, "vote", NULL, 0), 0);
	ck_assert_int_eq(store_meta_get_blob(S, "vote", &b), 0);
	ck_assert_uint_eq(buf_pending(&b), 0);
	ck_assert_int_eq(store_meta_get_u64(S, "schema_version", &v), 0);
	ck_assert_uint_eq(v, 3);
	buf_free(&b);
}
END_TEST

START_TEST(test_cluster_records)
{
	struct wire_R_ISR isr;
	struct wire_R_MEMBERS mem;
	struct wire_R_EPOCH ep;
	struct wire_item_MEMBER mi;
	struct wire_item_REPLICA ri;
	struct wire_list_iter it;
	struct wire_decode_error err;
	struct wire_enc e;
	struct buf b, got;
	uint64_t v;
	uint32_t ids[3];
	int n = 0;

	buf_init(&b);
	buf_init(&got);
	memset(&isr, 0, sizeof isr);
	wire_payload_begin(&e, &b, &wire_op(WIRE_OP_R_ISR)->body, &isr);
	for (v = 1; v <= 3; v++) {
		memset(&mi, 0, sizeof mi);
		mi.id = (uint32_t)v;
		wire_encode_item(&e, &mi);
	}
	wire_encode_end(&e);
	filler(S, NULL);
	cur_epoch = 3;
	ck_assert_int_eq(apply_payload(S, WIRE_OP_R_ISR, &b, NULL), 0);
	ck_assert_int_eq(store_meta_get_blob(S, "isr", &got), 0);
	ck_assert_uint_eq(buf_pending(&got), b.len);
	ck_assert_mem_eq(buf_head(&got), b.data, b.len);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_R_ISR), buf_head(&got),
	    buf_pending(&got), &isr, &err), 0);
	wire_list_begin(&it, wire_op(WIRE_OP_R_ISR), &isr.isr);
	while (wire_list_next(&it, &mi))
		ids[n++] = mi.id;
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(ids[2], 3);
	ck_assert_int_eq(store_meta_get_u64(S, "isr_pos_epoch", &v), 0);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(store_meta_get_u64(S, "isr_pos_lsn", &v), 0);
	ck_assert_uint_eq(v, 2);

	buf_reset(&b);
	memset(&mem, 0, sizeof mem);
	wire_payload_begin(&e, &b, &wire_op(WIRE_OP_R_MEMBERS)->body, &mem);
	memset(&ri, 0, sizeof ri);
	ri.id = 7;
	COPY(ri.host, "10.0.0.7");
	ri.client_port = 7007;
	ri.internal_port = 7107;
	wire_encode_item(&e, &ri);
	wire_encode_end(&e);
	ck_assert_int_eq(apply_payload(S, WIRE_OP_R_MEMBERS, &b, NULL), 0);
	ck_assert_int_eq(store_meta_get_blob(S, "members", &got), 0);
	ck_assert_mem_eq(buf_head(&got), b.data, b.len);
	ck_assert_int_eq(store_meta_get_u64(S, "members_pos_lsn", &v), 0);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(store_meta_get_u64(S, "members_pos_epoch", &v), 0);
	ck_assert_uint_eq(v, 3);

	memset(&ep, 0, sizeof ep);
	ep.primary_id = 7;
	cur_epoch = 4;
	ck_assert_int_eq(apply_m(S, WIRE_OP_R_EPOCH, &ep), 0);
	ck_assert_int_eq(store_meta_get_u64(S, "epoch_primary", &v), 0);
	ck_assert_uint_eq(v, 7);
	store_last(S, &v, &(uint64_t){ 0 });
	ck_assert_uint_eq(v, 4);
	buf_free(&b);
	buf_free(&got);
}
END_TEST

/* ---- tests: users ---------------------------------------------------------- */

START_TEST(test_users)
{
	struct store_user u, u2;
	uint64_t e, l;

	user_add(S, "Alice", "Alice Liddell");
	user_add(S, "bob", "");
	ck_assert_int_eq(store_user_find(S, "aLiCe", &u), 0);
	ck_assert_str_eq(u.name, "Alice");
	ck_assert_str_eq(u.fullname, "Alice Liddell");
	ck_assert_str_eq(u.pwhash, "$argon2id$v=19$fake$Alice");
	ck_assert_uint_eq(u.id, 1);	/* the lsn of its R_USER_ADD */
	ck_assert_int_eq(store_user_by_id(S, u.id, &u2), 0);
	ck_assert_str_eq(u2.name, "Alice");
	ck_assert_int_eq(store_user_find(S, "BOB", &u), 0);
	ck_assert_str_eq(u.fullname, "");
	ck_assert_int_eq(store_user_find(S, "carol", &u), 1);
	ck_assert_int_eq(store_user_by_id(S, 999, &u), 1);

	/* A taken name (any case) is a no-op, not an error. */
	user_add(S, "ALICE", "Impostor");
	ck_assert_int_eq(store_user_find(S, "alice", &u), 0);
	ck_assert_str_eq(u.fullname, "Alice Liddell");
	ck_assert_int_eq(rows(S, "users"), 2);
	store_last(S, &e, &l);
	ck_assert_uint_eq(l, 3);
}
END_TEST

struct upage {
	int      n;
	char     names[16][CHAT_MAX_USERNAME + 1];
	uint64_t uids[16];
};

static void
upage_cb(void *ud, const struct wire_item_USER *u, uint64_t uid)
{
	struct upage *p = ud;

	ck_assert_int_lt(p->n, 16);
	ck_assert_int_eq(u->online, 0);
	COPY(p->names[p->n], u->username);
	p->uids[p->n++] = uid;
}

/* Run one page query and compare the names with want (space-separated). */
static void
expect_page(const char *glob, uint32_t page, uint32_t size, uint32_t total,
	    const char *want)
{
	struct upage p;
	char got[512] = "";
	uint32_t t = 12345;
	int i;

	memset(&p, 0, sizeof p);
	ck_assert_int_eq(store_users_page(S, glob, page, size, &t, upage_cb,
	    &p), 0);
	ck_assert_uint_eq(t, total);
	for (i = 0; i < p.n; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, p.names[i]);
		ck_assert_uint_eq(p.uids[i], uid_of(S, p.names[i]));
	}
	ck_assert_str_eq(got, want);
}

START_TEST(test_users_page)
{
	user_add(S, "rob", "");
	user_add(S, "carol", "");
	user_add(S, "Bob", "Bob B");
	user_add(S, "alice", "");
	user_add(S, "x.y_z-1", "");
	user_add(S, "bobby", "");
	user_add(S, "dave", "");

	expect_page("", 0, 100, 7, "alice Bob bobby carol dave rob x.y_z-1");
	expect_page("a*", 0, 100, 1, "alice");
	expect_page("?ob", 0, 100, 2, "Bob rob");
	expect_page("B*", 0, 100, 2, "Bob bobby");
	expect_page("*O*", 0, 100, 4, "Bob bobby carol rob");
	expect_page("*.*", 0, 100, 1, "x.y_z-1");
	expect_page("nobody*", 0, 100, 0, "");
	expect_page("", 0, 3, 7, "alice Bob bobby");
	expect_page("", 1, 3, 7, "carol dave rob");
	expect_page("", 2, 3, 7, "x.y_z-1");
	expect_page("", 3, 3, 7, "");
	expect_page("", 4000000000u, 100, 7, "");
	expect_page("*", 0, 0, 7, "");
}
END_TEST

/* ---- tests: sessions ------------------------------------------------------- */

START_TEST(test_sessions)
{
	struct store_session ss;
	uint8_t h[32];

	user_add(S, "Alice", "");
	user_add(S, "bob", "");
	session_open(S, 1, "alice", T0 + 1000);
	memset(h, 1, sizeof h);
	ck_assert_int_eq(store_session_find(S, h, &ss), 0);
	ck_assert_uint_eq(ss.uid, uid_of(S, "alice"));
	ck_assert_str_eq(ss.username, "Alice");
	ck_assert_uint_eq(ss.expires_at, T0 + 1000);

	session_touch(S, 1, T0 + 5000);
	ck_assert_int_eq(store_session_find(S, h, &ss), 0);
	ck_assert_uint_eq(ss.expires_at, T0 + 5000);
	session_touch(S, 9, T0 + 5000);		/* unknown: nothing */
	memset(h, 9, sizeof h);
	ck_assert_int_eq(store_session_find(S, h, &ss), 1);

	/* No session for a user that does not exist. */
	session_open(S, 3, "nobody", T0 + 1000);
	memset(h, 3, sizeof h);
	ck_assert_int_eq(store_session_find(S, h, &ss), 1);

	/* Two sessions of alice, one of bob; ending alice's ends both. */
	session_open(S, 2, "ALICE", T0 + 9000);
	session_open(S, 4, "bob", T0 + 9000);
	ck_assert_int_eq(rows(S, "sessions"), 3);
	session_end(S, "alice");
	ck_assert_int_eq(rows(S, "sessions"), 1);
	memset(h, 4, sizeof h);
	ck_assert_int_eq(store_session_find(S, h, &ss), 0);
	ck_assert_str_eq(ss.username, "bob");

	/* Opening a session drops every session expired by the record's
	 * time. */
	session_open(S, 5, "alice", T0 + 20000);
	ck_assert_int_eq(rows(S, "sessions"), 2);
	now_ms = T0 + 10000;
	session_open(S, 6, "alice", T0 + 20000);
	ck_assert_int_eq(store_session_find(S, h, &ss), 1);	/* bob's */
	ck_assert_int_eq(rows(S, "sessions"), 2);
}
END_TEST

/* ---- tests: messages ------------------------------------------------------- */

/* alice, bob, carol and six messages:
 * 1 a->b, 2 b->a, 3 a->c, 4 c->b, 5 b->a, 6 a->a; message i at T0 + i. */
static void
six_messages(void)
{
	user_add(S, "alice", "");
	user_add(S, "Bob", "");
	user_add(S, "carol", "");
	now_ms = T0 + 1;
	msg_add(S, 1, "ALICE", "bob", "one");
	now_ms = T0 + 2;
	msg_add(S, 2, "bob", "alice", "two");
	now_ms = T0 + 3;
	msg_add(S, 3, "alice", "carol", "three");
	now_ms = T0 + 4;
	msg_add(S, 4, "carol", "BOB", "four");
	now_ms = T0 + 5;
	msg_add(S, 5, "bob", "alice", "five");
	now_ms = T0 + 6;
	msg_add(S, 6, "alice", "alice", "six");
	now_ms = T0 + 100;
}

START_TEST(test_messages)
{
	uint64_t a, b, c, mid, did, last;
	struct wire_item_MSG m;
	uint32_t unread, total;
	struct got g;

	six_messages();
	a = uid_of(S, "alice");
	b = uid_of(S, "bob");
	c = uid_of(S, "carol");

	q_unread(S, b, 10, &g);
	expect_ids(&g, IDS(1, 4));
	ck_assert_str_eq(g.from[0], "alice");	/* names as registered */
	ck_assert_str_eq(g.to[0], "Bob");
	ck_assert_str_eq(g.body[0], "one");
	ck_assert_uint_eq(g.sent_at[0], T0 + 1);
	ck_assert_uint_eq(g.read_at[0], 0);
	q_unread(S, a, 10, &g);
	expect_ids(&g, IDS(2, 5, 6));
	q_unread(S, a, 2, &g);
	expect_ids(&g, IDS(2, 5));

	q_after(S, a, 0, 100, &g);
	expect_ids(&g, IDS(1, 2, 3, 5, 6));
	q_after(S, a, 2, 2, &g);
	expect_ids(&g, IDS(3, 5));
	q_after(S, c, 0, 100, &g);
	expect_ids(&g, IDS(3, 4));
	q_after(S, a, 6, 100, &g);
	ck_assert_int_eq(g.n, 0);

	q_history(S, a, b, 0, 10, &g);
	expect_ids(&g, IDS(1, 2, 5));
	q_history(S, b, a, 0, 10, &g);
	expect_ids(&g, IDS(1, 2, 5));
	q_history(S, a, b, 0, 2, &g);		/* newest two, oldest first */
	expect_ids(&g, IDS(2, 5));
	q_history(S, a, b, 2, 10, &g);		/* before 2 */
	expect_ids(&g, IDS(1));
	q_history(S, a, b, 5, 1, &g);
	expect_ids(&g, IDS(2));
	q_history(S, a, a, 0, 10, &g);		/* with oneself */
	expect_ids(&g, IDS(6));
	q_history(S, a, c, 0, 10, &g);
	expect_ids(&g, IDS(3));
	q_history(S, a, b, 0, 0, &g);
	ck_assert_int_eq(g.n, 0);

	/* The callback stops an iteration early. */
	memset(&g, 0, sizeof g);
	g.stop_at = 2;
	ck_assert_int_eq(store_after(S, a, 0, 100, got_msg, &g), 0);
	expect_ids(&g, IDS(1, 2));
	memset(&g, 0, sizeof g);
	g.stop_at = 1;
	ck_assert_int_eq(store_history(S, a, b, 0, 10, got_msg, &g), 0);
	expect_ids(&g, IDS(1));

	ck_assert_int_eq(store_message(S, b, 1, &m), 0);
	ck_assert_uint_eq(m.id, 1);
	ck_assert_str_eq(m.from, "alice");
	ck_assert_str_eq(m.to, "Bob");
	ck_assert_str_eq(m.body, "one");
	ck_assert_uint_eq(m.sent_at, T0 + 1);
	ck_assert_int_eq(store_message(S, c, 1, &m), 1);	/* not hers */
	ck_assert_int_eq(store_message(S, a, 99, &m), 1);

	ck_assert_int_eq(store_inbox_counts(S, a, &unread, &total, &last), 0);
	ck_assert_uint_eq(unread, 3);
	ck_assert_uint_eq(total, 3);
	ck_assert_uint_eq(last, 6);
	ck_assert_int_eq(store_inbox_counts(S, c, &unread, &total, &last), 0);
	ck_assert_uint_eq(unread, 1);
	ck_assert_uint_eq(last, 4);
	ck_assert_int_eq(store_inbox_counts(S, 999, &unread, &total, &last), 0);
	ck_assert_uint_eq(unread + total + last, 0);

	/* A message naming a missing user makes no row, but uses its id. */
	msg_add(S, 7, "alice", "nobody", "lost");
	ck_assert_int_eq(rows(S, "messages"), 6);
	ck_assert_int_eq(store_max_ids(S, &mid, &did), 0);
	ck_assert_uint_eq(mid, 7);
	ck_assert_uint_eq(did, 0);
}
END_TEST

START_TEST(test_read_marks)
{
	uint64_t a, b, last;
	struct wire_item_MSG m;
	uint32_t unread, total;
	struct got g;

	six_messages();
	a = uid_of(S, "alice");
	b = uid_of(S, "bob");
	now_ms = T0 + 500;
	msg_read(S, "BOB", (const uint64_t[]){ 1, 2, 4, 99 }, 4);
	q_unread(S, b, 10, &g);
	ck_assert_int_eq(g.n, 0);
	ck_assert_int_eq(store_message(S, b, 1, &m), 0);
	ck_assert_uint_eq(m.read_at, T0 + 500);
	ck_assert_int_eq(store_message(S, a, 1, &m), 0);	/* sender sees it */
	ck_assert_uint_eq(m.read_at, T0 + 500);
	ck_assert_int_eq(store_message(S, a, 2, &m), 0);	/* not bob's to read */
	ck_assert_uint_eq(m.read_at, 0);

	/* Reading again keeps the first time. */
	now_ms = T0 + 900;
	msg_read(S, "bob", (const uint64_t[]){ 1 }, 1);
	ck_assert_int_eq(store_message(S, b, 1, &m), 0);
	ck_assert_uint_eq(m.read_at, T0 + 500);

	msg_read(S, "alice", (const uint64_t[]){ 5 }, 1);
	q_unread(S, a, 10, &g);
	expect_ids(&g, IDS(2, 6));
	ck_assert_int_eq(store_inbox_counts(S, a, &unread, &total, &last), 0);
	ck_assert_uint_eq(unread, 2);
	ck_assert_uint_eq(total, 3);
	msg_read(S, "nobody", (const uint64_t[]){ 2 }, 1);	/* no-op */
}
END_TEST

START_TEST(test_hide)
{
	uint64_t a, b, c, mid, did;
	struct wire_item_MSG m;
	struct got g;

	six_messages();
	a = uid_of(S, "alice");
	b = uid_of(S, "bob");
	c = uid_of(S, "carol");

	/* Hidden by the sender: gone from her view only. */
	msg_hide(S, "alice", (const uint64_t[]){ 1 }, 1);
	ck_assert_int_eq(store_message(S, a, 1, &m), 1);
	ck_assert_int_eq(store_message(S, b, 1, &m), 0);
	q_history(S, a, b, 0, 10, &g);
	expect_ids(&g, IDS(2, 5));
	/* ... then by the recipient: the row is gone. */
	msg_hide(S, "bob", (const uint64_t[]){ 1 }, 1);
	ck_assert_int_eq(store_message(S, b, 1, &m), 1);
	ck_assert(!msg_row_exists(S, 1));

	/* Hidden by the recipient first. */
	msg_hide(S, "alice", (const uint64_t[]){ 2 }, 1);
	ck_assert_int_eq(store_message(S, a, 2, &m), 1);
	ck_assert_int_eq(store_message(S, b, 2, &m), 0);
	q_unread(S, a, 10, &g);
	expect_ids(&g, IDS(5, 6));
	q_after(S, b, 0, 10, &g);
	expect_ids(&g, IDS(2, 4, 5));
	ck_assert(msg_row_exists(S, 2));

	/* A message to oneself: one hide removes it from both sides. */
	msg_hide(S, "alice", (const uint64_t[]){ 6 }, 1);
	ck_assert_int_eq(store_message(S, a, 6, &m), 1);
	ck_assert(!msg_row_exists(S, 6));

	/* Not a party, or no such user, or no such message: nothing. */
	msg_hide(S, "carol", (const uint64_t[]){ 5 }, 1);
	msg_hide(S, "nobody", (const uint64_t[]){ 5 }, 1);
	msg_hide(S, "bob", (const uint64_t[]){ 77 }, 1);
	ck_assert_int_eq(store_message(S, a, 5, &m), 0);
	ck_assert_int_eq(store_message(S, b, 5, &m), 0);

	/* Several ids at once. */
	msg_hide(S, "carol", (const uint64_t[]){ 3, 4 }, 2);
	q_after(S, c, 0, 10, &g);
	ck_assert_int_eq(g.n, 0);
	q_after(S, a, 0, 10, &g);
	expect_ids(&g, IDS(3, 5));

	/* The largest id stays reserved after its row is deleted. */
	msg_hide(S, "alice", (const uint64_t[]){ 5 }, 1);
	msg_hide(S, "bob", (const uint64_t[]){ 5 }, 1);
	ck_assert(!msg_row_exists(S, 5));
	ck_assert(!msg_row_exists(S, 6));
	ck_assert_int_eq(store_max_ids(S, &mid, &did), 0);
	ck_assert_uint_eq(mid, 6);
}
END_TEST

/* ---- tests: drafts --------------------------------------------------------- */

struct dgot {
	int      n;
	uint64_t id[16], updated_at[16];
	char     to[16][CHAT_MAX_USERNAME + 1];
	char     body[16][64];
};

static int
dgot_cb(void *ud, const struct wire_item_DRAFT *d)
{
	struct dgot *g = ud;

	ck_assert_int_lt(g->n, 16);
	g->id[g->n] = d->id;
	g->updated_at[g->n] = d->updated_at;
	COPY(g->to[g->n], d->to);
	COPY(g->body[g->n], d->body);
	g->n++;
	return 0;
}

START_TEST(test_drafts)
{
	struct wire_item_DRAFT d;
	uint64_t a, b, mid, did;
	struct dgot g;

	user_add(S, "alice", "");
	user_add(S, "bob", "");
	a = uid_of(S, "alice");
	b = uid_of(S, "bob");
	now_ms = T0 + 10;
	draft_put(S, 1, "alice", "bob", "hi");
	draft_put(S, 2, "Alice", "Carol", "for carol");
	draft_put(S, 3, "bob", "alice", "bob's");
	memset(&g, 0, sizeof g);
	ck_assert_int_eq(store_drafts(S, a, dgot_cb, &g), 0);
	ck_assert_int_eq(g.n, 2);
	ck_assert_uint_eq(g.id[0], 1);
	ck_assert_str_eq(g.to[0], "bob");
	ck_assert_str_eq(g.body[0], "hi");
	ck_assert_uint_eq(g.updated_at[0], T0 + 10);
	ck_assert_uint_eq(g.id[1], 2);
	ck_assert_str_eq(g.to[1], "Carol");	/* as given */

	/* Replace. */
	now_ms = T0 + 20;
	draft_put(S, 1, "alice", "bob", "hello");
	ck_assert_int_eq(store_draft(S, a, 1, &d), 0);
	ck_assert_str_eq(d.body, "hello");
	ck_assert_uint_eq(d.updated_at, T0 + 20);
	ck_assert_int_eq(store_draft(S, a, 3, &d), 1);	/* bob's */
	ck_assert_int_eq(store_draft(S, b, 3, &d), 0);

	/* Another owner cannot take a draft id over. */
	draft_put(S, 1, "bob", "bob", "stolen");
	ck_assert_int_eq(store_draft(S, a, 1, &d), 0);
	ck_assert_str_eq(d.body, "hello");
	ck_assert_int_eq(store_draft(S, b, 1, &d), 1);

	/* Delete: only by the owner. */
	draft_del(S, 2, "bob");
	ck_assert_int_eq(store_draft(S, a, 2, &d), 0);
	draft_del(S, 2, "ALICE");
	ck_assert_int_eq(store_draft(S, a, 2, &d), 1);
	memset(&g, 0, sizeof g);
	ck_assert_int_eq(store_drafts(S, a, dgot_cb, &g), 0);
	ck_assert_int_eq(g.n, 1);

	/* A draft of a missing user is not stored but uses its id. */
	draft_put(S, 10, "nobody", "bob", "x");
	ck_assert_int_eq(rows(S, "drafts"), 2);
	ck_assert_int_eq(store_max_ids(S, &mid, &did), 0);
	ck_assert_uint_eq(did, 10);
	ck_assert_uint_eq(mid, 0);
}
END_TEST

START_TEST(test_draft_sent)
{
	uint64_t a, b, c, mid, did;
	struct dgot dg;
	struct got g;

	user_add(S, "Alice", "");
	user_add(S, "bob", "");
	user_add(S, "carol", "");
	user_add(S, "dave", "");
	a = uid_of(S, "alice");
	b = uid_of(S, "bob");
	c = uid_of(S, "carol");
	draft_put(S, 1, "alice", "BOB", "d1");
	draft_put(S, 2, "alice", "carol", "d2");
	draft_put(S, 3, "alice", "bob", "d3");
	draft_put(S, 4, "alice", "dave", "d4");
	draft_put(S, 5, "bob", "alice", "bob's");
	user_del(S, "dave");
	now_ms = T0 + 777;

	/* 99 does not exist, 5 is bob's, 4's recipient is gone: their ids
	 * (11, 13, 15) are skipped, the others keep first_id + i. */
	draft_sent(S, "alice", 10, (const uint64_t[]){ 1, 99, 3, 5, 2, 4 }, 6);
	q_after(S, a, 0, 100, &g);
	expect_ids(&g, IDS(10, 12, 14));
	ck_assert_str_eq(g.body[0], "d1");
	ck_assert_str_eq(g.from[0], "Alice");
	ck_assert_str_eq(g.to[0], "bob");
	ck_assert_uint_eq(g.sent_at[0], T0 + 777);
	ck_assert_str_eq(g.body[1], "d3");
	ck_assert_str_eq(g.body[2], "d2");
	ck_assert_str_eq(g.to[2], "carol");
	q_unread(S, b, 100, &g);
	expect_ids(&g, IDS(10, 12));
	q_unread(S, c, 100, &g);
	expect_ids(&g, IDS(14));

	/* Sent drafts are gone (4 too: it was taken, though undeliverable);
	 * bob's draft stays. */
	memset(&dg, 0, sizeof dg);
	ck_assert_int_eq(store_drafts(S, a, dgot_cb, &dg), 0);
	ck_assert_int_eq(dg.n, 0);
	memset(&dg, 0, sizeof dg);
	ck_assert_int_eq(store_drafts(S, b, dgot_cb, &dg), 0);
	ck_assert_int_eq(dg.n, 1);
	ck_assert_int_eq(store_max_ids(S, &mid, &did), 0);
	ck_assert_uint_eq(mid, 15);
	ck_assert_uint_eq(did, 5);

	/* An unknown owner: nothing sent, ids still consumed. */
	draft_sent(S, "nobody", 16, (const uint64_t[]){ 5 }, 1);
	ck_assert_int_eq(store_max_ids(S, &mid, &did), 0);
	ck_assert_uint_eq(mid, 16);
	ck_assert_int_eq(rows(S, "drafts"), 1);
}
END_TEST

/* ---- tests: deleting an account ------------------------------------------- */

START_TEST(test_user_delete)
{
	uint64_t a, b, c, a2, last;
	struct store_session ss;
	struct wire_item_MSG m;
	uint32_t unread, total;
	struct dgot dg;
	uint8_t h[32];
	struct got g;

	six_messages();		/* 1 a->b, 2 b->a, 3 a->c, 4 c->b, 5 b->a, 6 a->a */
	a = uid_of(S, "alice");
	b = uid_of(S, "bob");
	c = uid_of(S, "carol");
	now_ms = T0 + 7;
	msg_add(S, 7, "carol", "alice", "seven");
	msg_hide(S, "carol", (const uint64_t[]){ 3 }, 1);
	draft_put(S, 1, "alice", "bob", "draft");
	draft_put(S, 2, "bob", "alice", "bob's draft");
	session_open(S, 1, "alice", T0 + DAY_MS);
	session_open(S, 2, "bob", T0 + DAY_MS);

	user_del(S, "ALICE");
	ck_assert_int_eq(store_user_find(S, "alice", &(struct store_user){ 0 }),
	    1);
	ck_assert_int_eq(rows(S, "drafts"), 1);		/* bob's stays */
	memset(h, 1, sizeof h);
	ck_assert_int_eq(store_session_find(S, h, &ss), 1);
	memset(h, 2, sizeof h);
	ck_assert_int_eq(store_session_find(S, h, &ss), 0);

	/* What alice sent stays with its recipients, under her name; what
	 * they sent her stays in their own view. */
	q_after(S, b, 0, 100, &g);
	expect_ids(&g, IDS(1, 2, 4, 5));
	ck_assert_str_eq(g.from[0], "alice");
	q_history(S, b, a, 0, 100, &g);
	expect_ids(&g, IDS(1, 2, 5));
	q_after(S, c, 0, 100, &g);
	expect_ids(&g, IDS(4, 7));
	/* Her own view is empty; 3 (carol had hidden it) and 6 (to herself)
	 * are gone from the table. */
	q_after(S, a, 0, 100, &g);
	ck_assert_int_eq(g.n, 0);
	ck_assert(!msg_row_exists(S, 3));
	ck_assert(!msg_row_exists(S, 6));
	ck_assert_int_eq(rows(S, "messages"), 5);

	/* A new account with the same name is a different user. */
	user_add(S, "alice", "New Alice");
	a2 = uid_of(S, "Alice");
	ck_assert_uint_ne(a2, a);
	q_after(S, a2, 0, 100, &g);
	ck_assert_int_eq(g.n, 0);
	q_unread(S, a2, 100, &g);
	ck_assert_int_eq(g.n, 0);
	q_history(S, a2, b, 0, 100, &g);
	ck_assert_int_eq(g.n, 0);
	ck_assert_int_eq(store_message(S, a2, 2, &m), 1);
	ck_assert_int_eq(store_inbox_counts(S, a2, &unread, &total, &last), 0);
	ck_assert_uint_eq(unread + total + last, 0);
	memset(&dg, 0, sizeof dg);
	ck_assert_int_eq(store_drafts(S, a2, dgot_cb, &dg), 0);
	ck_assert_int_eq(dg.n, 0);

	/* Deleting an unknown user is a no-op. */
	user_del(S, "nobody");
}
END_TEST

/* ---- tests: stored results ------------------------------------------------- */

/* Fill with records without a client up to lsn `upto`. */
static void
fill_to(uint64_t upto)
{
	uint64_t e, l;

	for (store_last(S, &e, &l); l < upto; store_last(S, &e, &l))
		ck_assert_int_eq(filler(S, NULL), 0);
}

START_TEST(test_requests)
{
	struct extra x = { 77, 1, WIRE_OP_OK, "abc", 3 };
	uint16_t op = 0;
	struct buf r;
	uint64_t seq;

	buf_init(&r);
	ck_assert_int_eq(filler(S, &x), 0);
	buf_append(&r, "junk", 4);
	ck_assert_int_eq(store_request_find(S, 77, 1, &op, &r), 0);
	ck_assert_uint_eq(op, WIRE_OP_OK);
	ck_assert_uint_eq(buf_pending(&r), 3);
	ck_assert_mem_eq(buf_head(&r), "abc", 3);
	ck_assert_int_eq(store_request_find(S, 77, 2, &op, &r), 1);
	ck_assert_int_eq(store_request_find(S, 78, 1, &op, &r), 1);

	/* No reply stored (e.g. LOGIN). */
	x = (struct extra){ 78, 5, 0, NULL, 0 };
	ck_assert_int_eq(filler(S, &x), 0);
	op = 99;
	ck_assert_int_eq(store_request_find(S, 78, 5, &op, &r), 0);
	ck_assert_uint_eq(op, 0);
	ck_assert_uint_eq(buf_pending(&r), 0);

	/* client_id 0: nothing remembered. */
	x = (struct extra){ 0, 9, WIRE_OP_OK, "x", 1 };
	ck_assert_int_eq(filler(S, &x), 0);
	ck_assert_int_eq(store_request_find(S, 0, 9, &op, &r), 1);

	/* The results so far are read from the log; at the batch's last lsn
	 * they move into the table, and are found there. */
	ck_assert_int_eq(rows(S, "requests"), 0);
	fill_to(STORE_RESULTS_BATCH - 1);
	ck_assert_int_eq(rows(S, "requests"), 0);
	fill_to(STORE_RESULTS_BATCH);
	ck_assert_int_eq(rows(S, "requests"), 2);
	ck_assert_int_eq(store_request_find(S, 77, 1, &op, &r), 0);
	ck_assert_uint_eq(op, WIRE_OP_OK);
	ck_assert_mem_eq(buf_head(&r), "abc", 3);
	ck_assert_int_eq(store_request_find(S, 78, 5, &op, &r), 0);
	ck_assert_int_eq(store_request_find(S, 0, 9, &op, &r), 1);

	/* At least the last 1024 seqs of a client are kept: when a batch
	 * moves, each of its clients is pruned to its last 1024. */
	for (seq = 2; seq <= 1100; seq++) {
		x = (struct extra){ 77, seq, WIRE_OP_OK, "r", 1 };
		ck_assert_int_eq(filler(S, &x), 0);
	}
	/* lsns 257..1355: the batches up to lsn 1280 (seq 1025) moved. */
	ck_assert_int_eq(store_request_find(S, 77, 1, &op, &r), 2);
	ck_assert_int_eq(store_request_find(S, 77, 2, &op, &r), 0);
	ck_assert_int_eq(store_request_find(S, 77, 1025, &op, &r), 0);
	ck_assert_int_eq(store_request_find(S, 77, 1100, &op, &r), 0);
	ck_assert_int_eq(store_request_find(S, 77, 1101, &op, &r), 1);
	ck_assert_int_eq(store_request_find(S, 78, 5, &op, &r), 0);
	ck_assert_int_eq(store_request_find(S, 78, 1, &op, &r), 1);
	ck_assert_int_eq(rows(S, "request_floors"), 1);
	buf_free(&r);
}
END_TEST

static struct store *open_dir(void);

/* A result not yet moved is found after a restart (the index of the
 * log's tail is rebuilt) and is gone with a rolled-back transaction. */
START_TEST(test_requests_tail)
{
	struct extra x = { 41, 1, WIRE_OP_OK, "one", 3 };
	struct wire_item_RECORD rec;
	struct wire_R_SESSION_TOUCH m;
	static const uint8_t h[32];
	uint16_t op = 0;
	struct buf r, pl;

	buf_init(&r);
	buf_init(&pl);
	S = open_dir();
	ck_assert_int_eq(filler(S, &x), 0);
	store_close(S);
	S = open_dir();
	ck_assert_int_eq(store_request_find(S, 41, 1, &op, &r), 0);
	ck_assert_mem_eq(buf_head(&r), "one", 3);

	memset(&m, 0, sizeof m);
	m.token_hash.ptr = h;
	m.token_hash.len = 32;
	wire_encode_payload(&pl, &wire_op(WIRE_OP_R_SESSION_TOUCH)->body, &m);
	x = (struct extra){ 41, 2, WIRE_OP_OK, "two", 3 };
	make_record(S, &rec, WIRE_OP_R_SESSION_TOUCH, &pl, &x);
	ck_assert_int_eq(store_begin(S), 0);
	ck_assert_int_eq(store_apply(S, &rec), 0);
	ck_assert_int_eq(store_request_find(S, 41, 2, &op, &r), 0);
	ck_assert_int_eq(store_rollback(S), 0);
	ck_assert_int_eq(store_request_find(S, 41, 2, &op, &r), 1);
	ck_assert_int_eq(store_request_find(S, 41, 1, &op, &r), 0);
	buf_free(&pl);
	buf_free(&r);
	store_close(S);
	S = NULL;
}
END_TEST

START_TEST(test_requests_age)
{
	struct extra x = { 5, 1, WIRE_OP_OK, "old", 3 };
	uint16_t op;
	uint64_t e, l;
	struct buf r;

	buf_init(&r);
	ck_assert_int_eq(filler(S, &x), 0);		/* lsn 1, at T0 */
	now_ms = T0 + DAY_MS - 1;
	x = (struct extra){ 6, 1, WIRE_OP_OK, "new", 3 };
	ck_assert_int_eq(filler(S, &x), 0);		/* lsn 2 */
	now_ms = T0 + DAY_MS + 1;
	do {
		ck_assert_int_eq(filler(S, NULL), 0);
		store_last(S, &e, &l);
		/* Only every 1000th lsn prunes. */
		if (l < 1000)
			ck_assert_int_eq(store_request_find(S, 5, 1, &op, &r),
			    0);
	} while (l < 1000);
	ck_assert_int_eq(store_request_find(S, 5, 1, &op, &r), 2);
	ck_assert_int_eq(store_request_find(S, 5, 2, &op, &r), 1);
	ck_assert_int_eq(store_request_find(S, 6, 1, &op, &r), 0);

	/* A floor is forgotten a week after it last rose. */
	now_ms = T0 + 8 * DAY_MS + 2;
	do {
		ck_assert_int_eq(filler(S, NULL), 0);
		store_last(S, &e, &l);
	} while (l < 2000);
	ck_assert_int_eq(store_request_find(S, 5, 1, &op, &r), 1);
	ck_assert_int_eq(rows(S, "request_floors"), 1);	/* client 6's */
	ck_assert_int_eq(store_request_find(S, 6, 1, &op, &r), 2);
	buf_free(&r);
}
END_TEST

/* ---- tests: bad records ---------------------------------------------------- */

/* Apply r inside a transaction that is then committed: a refused record
 * must not have written anything even without a rollback. */
static void
expect_refused(struct wire_item_RECORD *r)
{
	uint64_t e0, l0, e1, l1;
	char *before = dump(S, 1), *after;

	store_last(S, &e0, &l0);
	ck_assert_int_eq(store_begin(S), 0);
	ck_assert_int_eq(store_apply(S, r), -1);
	ck_assert_int_eq(store_commit(S), 0);
	store_last(S, &e1, &l1);
	ck_assert_uint_eq(e0, e1);
	ck_assert_uint_eq(l0, l1);
	after = dump(S, 1);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}

START_TEST(test_bad_records)
{
	struct wire_R_USER_ADD u;
	struct wire_R_DRAFT_SENT ds;
	struct wire_item_RECORD r;
	struct buf b, bad;
	uint64_t e, l;

	user_add(S, "alice", "");
	cur_epoch = 2;
	user_add(S, "bob", "");
	buf_init(&b);
	buf_init(&bad);
	memset(&u, 0, sizeof u);
	COPY(u.username, "carol");
	COPY(u.pwhash, "h");
	wire_encode_payload(&b, &wire_op(WIRE_OP_R_USER_ADD)->body, &u);

	/* Without a transaction. */
	make_record(S, &r, WIRE_OP_R_USER_ADD, &b, NULL);
	ck_assert_int_eq(store_apply(S, &r), -1);

	/* lsn gaps and repeats. */
	r.lsn = 4;
	expect_refused(&r);
	r.lsn = 2;
	expect_refused(&r);
	r.lsn = 0;
	expect_refused(&r);
	/* Epoch going backwards, or 0. */
	r.lsn = 3;
	r.epoch = 1;
	expect_refused(&r);
	r.epoch = 0;
	expect_refused(&r);
	r.epoch = 2;

	/* Unknown type, a type that is not a record, a client opcode. */
	r.type = 0x03FF;
	expect_refused(&r);
	r.type = WIRE_OP_REGISTER;
	expect_refused(&r);
	r.type = WIRE_OP_HELLO;
	expect_refused(&r);
	/* A valid payload of another record type. */
	r.type = WIRE_OP_R_MSG_ADD;
	expect_refused(&r);

	/* Payloads that do not decode: truncated, trailing byte, empty,
	 * invalid UTF-8. */
	r.type = WIRE_OP_R_USER_ADD;
	r.payload.len = (uint32_t)b.len - 1;
	expect_refused(&r);
	buf_append(&bad, b.data, b.len);
	buf_put_u8(&bad, 0);
	r.payload.ptr = bad.data;
	r.payload.len = (uint32_t)bad.len;
	expect_refused(&r);
	r.payload.ptr = NULL;
	r.payload.len = 0;
	expect_refused(&r);
	buf_reset(&bad);
	buf_append(&bad, b.data, b.len);
	bad.data[2] = 0xFF;	/* first byte of the username */
	r.payload.ptr = bad.data;
	r.payload.len = (uint32_t)bad.len;
	expect_refused(&r);

	/* Draft ids that would wrap around. */
	memset(&ds, 0, sizeof ds);
	COPY(ds.owner, "alice");
	ds.first_id = UINT64_MAX;
	{
		struct wire_item_MSGID it = { 0, 1 };
		struct wire_enc enc;

		buf_reset(&bad);
		wire_payload_begin(&enc, &bad,
		    &wire_op(WIRE_OP_R_DRAFT_SENT)->body, &ds);
		wire_encode_item(&enc, &it);
		wire_encode_item(&enc, &it);
		wire_encode_end(&enc);
	}
	make_record(S, &r, WIRE_OP_R_DRAFT_SENT, &bad, NULL);
	expect_refused(&r);

	/* The store still takes the right record afterwards. */
	make_record(S, &r, WIRE_OP_R_USER_ADD, &b, NULL);
	ck_assert_int_eq(store_begin(S), 0);
	ck_assert_int_eq(store_apply(S, &r), 0);
	ck_assert_int_eq(store_commit(S), 0);
	store_last(S, &e, &l);
	ck_assert_uint_eq(e, 2);
	ck_assert_uint_eq(l, 3);
	ck_assert_int_eq(store_user_find(S, "carol", &(struct store_user){ 0 }),
	    0);
	buf_free(&b);
	buf_free(&bad);
}
END_TEST

START_TEST(test_rollback)
{
	struct wire_R_USER_ADD u;
	struct wire_item_RECORD r;
	struct buf b;
	uint64_t e, l;

	user_add(S, "alice", "");
	buf_init(&b);
	memset(&u, 0, sizeof u);
	COPY(u.username, "bob");
	COPY(u.pwhash, "h");
	wire_encode_payload(&b, &wire_op(WIRE_OP_R_USER_ADD)->body, &u);
	make_record(S, &r, WIRE_OP_R_USER_ADD, &b, NULL);
	ck_assert_int_eq(store_begin(S), 0);
	ck_assert_int_eq(store_apply(S, &r), 0);
	store_last(S, &e, &l);
	ck_assert_uint_eq(l, 2);
	ck_assert_int_eq(store_rollback(S), 0);
	store_last(S, &e, &l);
	ck_assert_uint_eq(l, 1);
	ck_assert_uint_eq(e, 1);
	ck_assert_int_eq(store_user_find(S, "bob", &(struct store_user){ 0 }),
	    1);
	ck_assert_int_eq(rows(S, "log"), 1);
	/* The same lsn applies again after the rollback. */
	ck_assert_int_eq(store_begin(S), 0);
	ck_assert_int_eq(store_apply(S, &r), 0);
	ck_assert_int_eq(store_commit(S), 0);
	ck_assert_int_eq(store_user_find(S, "bob", &(struct store_user){ 0 }),
	    0);
	buf_free(&b);
}
END_TEST

/* ---- tests: the log --------------------------------------------------------- */

struct rec_copy {
	struct wire_item_RECORD r;
	uint8_t payload[512], reply[64];
};

struct log_got {
	int n, stop_at;
	struct rec_copy c[16];
};

static int
log_cb(void *ud, const struct wire_item_RECORD *r)
{
	struct log_got *g = ud;
	struct rec_copy *c = &g->c[g->n++];

	ck_assert_uint_le(r->payload.len, sizeof c->payload);
	ck_assert_uint_le(r->reply.len, sizeof c->reply);
	c->r = *r;
	memcpy(c->payload, r->payload.ptr, r->payload.len);
	memcpy(c->reply, r->reply.ptr, r->reply.len);
	return g->stop_at && g->n >= g->stop_at;
}

/* Pruning deletes old log records in bounded batches, never the last
 * one nor one whose stored result has not moved into the requests table,
 * and leaves the state and the log's end untouched. */
START_TEST(test_log_prune)
{
	struct wire_R_EPOCH ep;
	char *before, *after;
	uint64_t e, l, e2, l2;
	int i;

	memset(&ep, 0, sizeof ep);
	ep.primary_id = 1;
	for (i = 0; i < STORE_RESULTS_BATCH + 30; i++)
		ck_assert_int_eq(apply_m(S, WIRE_OP_R_EPOCH, &ep), 0);
	store_last(S, &e, &l);
	ck_assert_uint_eq(l, STORE_RESULTS_BATCH + 30);
	ck_assert_uint_eq(store_log_first(S), 1);
	before = dump(S, 0);
	/* A batch of 10 at a time. */
	ck_assert_int_eq(store_log_prune(S, 25, 10), 10);
	ck_assert_uint_eq(store_log_first(S), 11);
	ck_assert_int_eq(store_log_prune(S, 25, 10), 10);
	ck_assert_int_eq(store_log_prune(S, 25, 10), 4);
	ck_assert_uint_eq(store_log_first(S), 25);
	ck_assert_int_eq(store_log_prune(S, 25, 10), 0);
	/* Never past the last batch moved. */
	ck_assert_int_eq(store_log_prune(S, 10000, 10000),
	    STORE_RESULTS_BATCH + 1 - 25);
	ck_assert_uint_eq(store_log_first(S), STORE_RESULTS_BATCH + 1);
	store_last(S, &e2, &l2);
	ck_assert_uint_eq(l2, STORE_RESULTS_BATCH + 30);
	ck_assert_uint_eq(e2, e);
	ck_assert_int_eq(store_log_epoch(S, STORE_RESULTS_BATCH, &e2), 1);
	after = dump(S, 0);
	ck_assert_str_eq(before, after);	/* the state is the same */
	free(before);
	free(after);
	/* Records still follow the end. */
	ck_assert_int_eq(apply_m(S, WIRE_OP_R_EPOCH, &ep), 0);
	store_last(S, &e2, &l2);
	ck_assert_uint_eq(l2, STORE_RESULTS_BATCH + 31);
}
END_TEST

START_TEST(test_log_read)
{
	struct wire_item_RECORD want[6];
	struct buf pay[6];
	struct log_got *g = calloc(1, sizeof *g);
	struct wire_R_USER_ADD u;
	struct wire_R_MSG_ADD m;
	uint64_t e;
	int i;

	ck_assert_ptr_nonnull(g);
	for (i = 0; i < 6; i++) {
		struct extra x = { (uint64_t)i * 1000, (uint64_t)i + 1,
		    i % 2 ? WIRE_OP_OK : 0, "reply!", i % 2 ? 6 : 0 };
		uint16_t type;

		buf_init(&pay[i]);
		if (i < 2) {
			memset(&u, 0, sizeof u);
			snprintf(u.username, sizeof u.username, "user%d", i);
			COPY(u.pwhash, "h");
			type = WIRE_OP_R_USER_ADD;
			wire_encode_payload(&pay[i], &wire_op(type)->body, &u);
		} else {
			memset(&m, 0, sizeof m);
			m.id = (uint64_t)i;
			COPY(m.from, "user0");
			COPY(m.to, "user1");
			snprintf(m.body, sizeof m.body, "body %d", i);
			type = WIRE_OP_R_MSG_ADD;
			wire_encode_payload(&pay[i], &wire_op(type)->body, &m);
		}
		cur_epoch = i < 3 ? 1 : 5;
		now_ms = T0 + (uint64_t)i * 10;
		make_record(S, &want[i], type, &pay[i], &x);
		ck_assert_int_eq(store_begin(S), 0);
		ck_assert_int_eq(store_apply(S, &want[i]), 0);
		ck_assert_int_eq(store_commit(S), 0);
	}
	ck_assert_int_eq(store_log_read(S, 1, log_cb, g), 0);
	ck_assert_int_eq(g->n, 6);
	for (i = 0; i < 6; i++) {
		const struct wire_item_RECORD *a = &g->c[i].r, *w = &want[i];

		ck_assert_uint_eq(a->epoch, w->epoch);
		ck_assert_uint_eq(a->lsn, w->lsn);
		ck_assert_uint_eq(a->type, w->type);
		ck_assert_uint_eq(a->client_id, w->client_id);
		ck_assert_uint_eq(a->seq, w->seq);
		ck_assert_uint_eq(a->at, w->at);
		ck_assert_uint_eq(a->reply_op, w->reply_op);
		ck_assert_uint_eq(a->payload.len, w->payload.len);
		ck_assert_mem_eq(g->c[i].payload, w->payload.ptr,
		    w->payload.len);
		ck_assert_uint_eq(a->reply.len, w->reply.len);
		if (w->reply.len)
			ck_assert_mem_eq(g->c[i].reply, w->reply.ptr,
			    w->reply.len);
	}

	memset(g, 0, sizeof *g);
	ck_assert_int_eq(store_log_read(S, 4, log_cb, g), 0);
	ck_assert_int_eq(g->n, 3);
	ck_assert_uint_eq(g->c[0].r.lsn, 4);
	memset(g, 0, sizeof *g);
	g->stop_at = 2;
	ck_assert_int_eq(store_log_read(S, 0, log_cb, g), 0);
	ck_assert_int_eq(g->n, 2);
	memset(g, 0, sizeof *g);
	ck_assert_int_eq(store_log_read(S, 7, log_cb, g), 0);
	ck_assert_int_eq(g->n, 0);

	ck_assert_int_eq(store_log_epoch(S, 3, &e), 0);
	ck_assert_uint_eq(e, 1);
	ck_assert_int_eq(store_log_epoch(S, 4, &e), 0);
	ck_assert_uint_eq(e, 5);
	ck_assert_int_eq(store_log_epoch(S, 7, &e), 1);
	ck_assert_int_eq(store_log_epoch(S, 0, &e), 1);
	for (i = 0; i < 6; i++)
		buf_free(&pay[i]);
	free(g);
}
END_TEST

/* ---- tests: persistence ----------------------------------------------------- */

static char tmpdir[64];
static char dbdir[128];

static void
tmp_setup(void)
{
	now_ms = T0;
	cur_epoch = 1;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbdir, sizeof dbdir, "%s/data/r1", tmpdir);	/* nested */
}

static void
tmp_teardown(void)
{
	static const char *const files[] = { "chatd.db", "chatd.db-wal",
	    "chatd.db-shm", "chatd.db-journal" };
	char p[256];
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dbdir, files[i]);
		unlink(p);
	}
	rmdir(dbdir);
	snprintf(p, sizeof p, "%s/data", tmpdir);
	rmdir(p);
	rmdir(tmpdir);
}

static struct store *
open_dir(void)
{
	char err[256] = "";
	struct store *s = store_open(dbdir, 1, err, sizeof err);

	ck_assert_msg(s != NULL, "store_open: %s", err);
	return s;
}

START_TEST(test_persistence)
{
	struct wire_R_USER_ADD u;
	struct wire_item_RECORD r;
	struct wire_item_MSG m;
	struct stat sb;
	struct buf b;
	uint64_t e, l, e2, l2, v;
	char *before, *after;

	S = open_dir();
	ck_assert_int_eq(stat(dbdir, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0700);
	six_messages();
	cur_epoch = 3;
	msg_read(S, "bob", (const uint64_t[]){ 1 }, 1);
	ck_assert_int_eq(store_meta_set_u64(S, "promise", 9), 0);
	store_last(S, &e, &l);
	ck_assert_uint_eq(e, 3);
	ck_assert_uint_eq(l, 10);
	before = dump(S, 1);
	store_close(S);

	S = open_dir();
	store_last(S, &e2, &l2);
	ck_assert_uint_eq(e2, e);
	ck_assert_uint_eq(l2, l);
	after = dump(S, 1);
	ck_assert_str_eq(before, after);
	free(after);
	ck_assert_int_eq(store_message(S, uid_of(S, "bob"), 1, &m), 0);
	ck_assert_uint_eq(m.read_at, T0 + 100);
	ck_assert_int_eq(store_meta_get_u64(S, "promise", &v), 0);
	ck_assert_uint_eq(v, 9);

	/* A rolled-back transaction leaves nothing, also on disk. */
	buf_init(&b);
	memset(&u, 0, sizeof u);
	COPY(u.username, "zed");
	COPY(u.pwhash, "h");
	wire_encode_payload(&b, &wire_op(WIRE_OP_R_USER_ADD)->body, &u);
	make_record(S, &r, WIRE_OP_R_USER_ADD, &b, NULL);
	ck_assert_int_eq(store_begin(S), 0);
	ck_assert_int_eq(store_apply(S, &r), 0);
	ck_assert_int_eq(store_rollback(S), 0);
	store_last(S, &e2, &l2);
	ck_assert_uint_eq(l2, l);
	store_close(S);
	S = open_dir();
	store_last(S, &e2, &l2);
	ck_assert_uint_eq(e2, e);
	ck_assert_uint_eq(l2, l);
	ck_assert_int_eq(store_user_find(S, "zed", &(struct store_user){ 0 }),
	    1);
	after = dump(S, 1);
	ck_assert_str_eq(before, after);
	free(after);
	free(before);
	buf_free(&b);
	store_close(S);
	S = NULL;
}
END_TEST

START_TEST(test_newer_schema)
{
	char err[256] = "";

	S = open_dir();
	ck_assert_int_eq(store_meta_set_u64(S, "schema_version", 4), 0);
	store_close(S);
	S = store_open(dbdir, 0, err, sizeof err);
	ck_assert_ptr_null(S);
	ck_assert_msg(strstr(err, "schema version 4") != NULL, "err: %s", err);
}
END_TEST

/* A version 1 store (before request_floors) opens, gains the table and
 * says version 3. */
START_TEST(test_schema_upgrade)
{
	char path[256];
	sqlite3 *db;
	uint64_t v;

	S = open_dir();
	ck_assert_int_eq(store_meta_set_u64(S, "schema_version", 1), 0);
	store_close(S);
	snprintf(path, sizeof path, "%s/chatd.db", dbdir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE request_floors", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	S = open_dir();
	ck_assert_int_eq(store_meta_get_u64(S, "schema_version", &v), 0);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(rows(S, "request_floors"), 0);
	ck_assert_int_eq(store_request_find(S, 1, 1, &(uint16_t){ 0 },
	    &(struct buf){ 0 }), 1);
	store_close(S);
	S = NULL;
}
END_TEST

START_TEST(test_open_errors)
{
	char err[256] = "";
	char p[160];
	FILE *f;

	/* The directory is a file. */
	snprintf(p, sizeof p, "%s/file", tmpdir);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a directory", f);
	fclose(f);
	ck_assert_ptr_null(store_open(p, 1, err, sizeof err));
	ck_assert_str_ne(err, "");
	unlink(p);

	/* The database is not a database. */
	err[0] = '\0';
	S = open_dir();
	store_close(S);
	S = NULL;
	snprintf(p, sizeof p, "%s/chatd.db", dbdir);
	unlink(p);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not an SQLite database, just some text..........", f);
	fclose(f);
	ck_assert_ptr_null(store_open(dbdir, 1, err, sizeof err));
	ck_assert_str_ne(err, "");
}
END_TEST

/* ---- tests: determinism ----------------------------------------------------- */

struct gen {
	uint64_t x;
	uint64_t next_msg, next_draft;
	uint64_t seqs[4];
};

static uint64_t
rnd(struct gen *g)
{
	return h_xorshift64(&g->x);
}

/* One of a few names, in a random case. */
static void
gen_name(struct gen *g, char *dst, size_t cap)
{
	static const char *const names[] = { "ann", "bob", "cy", "dee",
	    "ed", "fay" };
	size_t i;

	snprintf(dst, cap, "%s", names[rnd(g) % 6]);
	for (i = 0; dst[i]; i++)
		if (rnd(g) % 3 == 0)
			dst[i] = (char)(dst[i] - 'a' + 'A');
}

/* Up to 5 ids among the 10 largest of [1, max]. */
static int
gen_ids(struct gen *g, uint64_t *ids, uint64_t max)
{
	int i, n = 1 + (int)(rnd(g) % 5);

	for (i = 0; i < n; i++)
		ids[i] = max > 10 ? max - rnd(g) % 10 : 1 + rnd(g) % (max + 1);
	return n;
}

/* Apply one random record of a random type. */
static void
gen_record(struct store *s, struct gen *g)
{
	union {
		struct wire_R_USER_ADD ua;
		struct wire_R_USER_DEL ud;
		struct wire_R_SESSION_OPEN so;
		struct wire_R_SESSION_TOUCH st;
		struct wire_R_SESSION_END se;
		struct wire_R_MSG_ADD ma;
		struct wire_R_MSG_READ mr;
		struct wire_R_MSG_HIDE mh;
		struct wire_R_DRAFT_PUT dp;
		struct wire_R_DRAFT_DEL dd;
		struct wire_R_DRAFT_SENT ds;
		struct wire_R_EPOCH ep;
	} u;
	uint8_t h[32];
	uint64_t ids[5];
	struct extra x;
	/* Record kinds (the case labels below), each as often as it should
	 * be drawn: mostly messages and reads, few account deletions. */
	static const uint8_t kinds[] = { 0, 0, 0, 0, 0, 0, 2, 3, 3, 3, 4, 5,
	    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 9, 9, 9, 9, 9, 9,
	    10, 10, 10, 11, 11, 11, 13, 14, 14, 15 };
	unsigned c = (unsigned)(rnd(g) % 4);
	int n, rc = 0;

	memset(&u, 0, sizeof u);
	memset(h, (int)(rnd(g) % 4), sizeof h);
	x = (struct extra){ c, c ? ++g->seqs[c] : 0,
	    c ? WIRE_OP_OK : 0, "reply", c ? 5 : 0 };
	now_ms += rnd(g) % 5000;
	switch (kinds[rnd(g) % sizeof kinds]) {
	case 0:
		gen_name(g, u.ua.username, sizeof u.ua.username);
		snprintf(u.ua.fullname, sizeof u.ua.fullname, "F %llu",
		    (unsigned long long)(rnd(g) % 100));
		COPY(u.ua.pwhash, "hash");
		rc = apply_x(s, WIRE_OP_R_USER_ADD, &u.ua, &x);
		break;
	case 2:
		gen_name(g, u.ud.username, sizeof u.ud.username);
		rc = apply_x(s, WIRE_OP_R_USER_DEL, &u.ud, &x);
		break;
	case 3:
		u.so.token_hash.ptr = h;
		u.so.token_hash.len = 32;
		gen_name(g, u.so.username, sizeof u.so.username);
		u.so.expires_at = now_ms + rnd(g) % 10000000;
		rc = apply_x(s, WIRE_OP_R_SESSION_OPEN, &u.so, &x);
		break;
	case 4:
		u.st.token_hash.ptr = h;
		u.st.token_hash.len = 32;
		u.st.expires_at = now_ms + rnd(g) % 20000;
		rc = apply_x(s, WIRE_OP_R_SESSION_TOUCH, &u.st, &x);
		break;
	case 5:
		gen_name(g, u.se.username, sizeof u.se.username);
		rc = apply_x(s, WIRE_OP_R_SESSION_END, &u.se, &x);
		break;
	case 6:
		u.ma.id = ++g->next_msg;
		gen_name(g, u.ma.from, sizeof u.ma.from);
		gen_name(g, u.ma.to, sizeof u.ma.to);
		snprintf(u.ma.body, sizeof u.ma.body, "m%llu \"q\"\n\xc3\xa9",
		    (unsigned long long)u.ma.id);
		rc = apply_x(s, WIRE_OP_R_MSG_ADD, &u.ma, &x);
		break;
	case 9:
		gen_name(g, u.mr.reader, sizeof u.mr.reader);
		n = gen_ids(g, ids, g->next_msg);
		rc = apply_ids(s, WIRE_OP_R_MSG_READ, &u.mr, ids, n, &x);
		break;
	case 10:
		gen_name(g, u.mh.owner, sizeof u.mh.owner);
		n = gen_ids(g, ids, g->next_msg);
		rc = apply_ids(s, WIRE_OP_R_MSG_HIDE, &u.mh, ids, n, &x);
		break;
	case 11:
		u.dp.id = rnd(g) % 2 && g->next_draft ?
		    1 + rnd(g) % g->next_draft : ++g->next_draft;
		gen_name(g, u.dp.owner, sizeof u.dp.owner);
		gen_name(g, u.dp.to, sizeof u.dp.to);
		COPY(u.dp.body, "draft");
		rc = apply_x(s, WIRE_OP_R_DRAFT_PUT, &u.dp, &x);
		break;
	case 13:
		u.dd.id = 1 + rnd(g) % (g->next_draft + 1);
		gen_name(g, u.dd.owner, sizeof u.dd.owner);
		rc = apply_x(s, WIRE_OP_R_DRAFT_DEL, &u.dd, &x);
		break;
	case 14:
		gen_name(g, u.ds.owner, sizeof u.ds.owner);
		n = gen_ids(g, ids, g->next_draft);
		u.ds.first_id = g->next_msg + 1;
		g->next_msg += (uint64_t)n;
		rc = apply_ids(s, WIRE_OP_R_DRAFT_SENT, &u.ds, ids, n, &x);
		break;
	default:
		cur_epoch++;
		u.ep.primary_id = (uint32_t)(1 + rnd(g) % 3);
		rc = apply_x(s, WIRE_OP_R_EPOCH, &u.ep, &x);
		break;
	}
	ck_assert_int_eq(rc, 0);
}

static char *
run_random(uint64_t seed, int n)
{
	struct gen g;
	struct store *s = store_open_memory();
	char *d;
	int i;

	ck_assert_ptr_nonnull(s);
	memset(&g, 0, sizeof g);
	g.x = seed;
	now_ms = T0;
	cur_epoch = 1;
	for (i = 0; i < n; i++)
		gen_record(s, &g);
	d = dump(s, 1);
	store_close(s);
	return d;
}

START_TEST(test_determinism)
{
	char *a = run_random(0x9E3779B97F4A7C15ull, 500);
	char *b = run_random(0x9E3779B97F4A7C15ull, 500);
	char *c = run_random(12345, 500);

	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	/* The run did something in every table. */
	ck_assert_ptr_nonnull(strstr(a, "\nusers "));
	ck_assert_ptr_nonnull(strstr(a, "\nmessages "));
	ck_assert_ptr_nonnull(strstr(a, "\ndrafts "));
	ck_assert_ptr_nonnull(strstr(a, "\nsessions "));
	ck_assert_ptr_nonnull(strstr(a, "\nrequests "));
	ck_assert_ptr_nonnull(strstr(a, "read_at=17"));
	ck_assert_ptr_nonnull(strstr(a, "hidden_s=1"));
	ck_assert_ptr_nonnull(strstr(a, "hidden_r=1"));
	free(a);
	free(b);
	free(c);
}
END_TEST

/* A snapshot copy made a page at a time while records keep being applied
 * between the steps ends up equal to the store as of its last step. */
START_TEST(test_copy_in_steps)
{
	char dir[300], path[320], err[256] = "";
	struct store_copy *c;
	struct store *copy;
	struct gen g;
	char *a, *b;
	int i, rc, steps = 0;

	S = open_dir();
	memset(&g, 0, sizeof g);
	g.x = 777;
	for (i = 0; i < 400; i++)
		gen_record(S, &g);
	snprintf(dir, sizeof dir, "%s/copy", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof path, "%s/chatd.db", dir);
	c = store_copy_start(S, path, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	do {
		rc = store_copy_step(S, c, 1, err, sizeof err);
		ck_assert_msg(rc >= 0, "%s", err);
		if (rc == 0 && steps++ % 2 == 0)
			gen_record(S, &g);	/* a turn's commit */
	} while (rc == 0);
	ck_assert_int_gt(steps, 10);	/* really in steps */
	copy = store_open(dir, 1, err, sizeof err);
	ck_assert_msg(copy != NULL, "%s", err);
	a = dump(S, 1);
	b = dump(copy, 1);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	store_close(copy);

	/* No step inside a transaction; an aborted copy leaves no file. */
	snprintf(path, sizeof path, "%s/other.db", dir);
	ck_assert_int_eq(store_begin(S), 0);
	c = store_copy_start(S, path, err, sizeof err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(store_copy_step(S, c, 1, err, sizeof err), -1);
	store_copy_abort(c);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(store_rollback(S), 0);
	store_close(S);
	S = NULL;
	snprintf(path, sizeof path, "%s/chatd.db", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/chatd.db-wal", dir);
	unlink(path);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- main ---------------------------------------------------------------- */

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = h_tcase(s, "memory", 60);
	TCase *tf = h_tcase(s, "files", 60);
	TCase *td = h_tcase(s, "determinism", 120);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_meta);
	tcase_add_test(tc, test_cluster_records);
	tcase_add_test(tc, test_users);
	tcase_add_test(tc, test_users_page);
	tcase_add_test(tc, test_sessions);
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_read_marks);
	tcase_add_test(tc, test_hide);
	tcase_add_test(tc, test_drafts);
	tcase_add_test(tc, test_draft_sent);
	tcase_add_test(tc, test_user_delete);
	tcase_add_test(tc, test_requests);
	tcase_add_test(tc, test_requests_age);
	tcase_add_test(tc, test_bad_records);
	tcase_add_test(tc, test_rollback);
	tcase_add_test(tc, test_log_read);
	tcase_add_test(tc, test_log_prune);

	tcase_add_checked_fixture(tf, tmp_setup, tmp_teardown);
	tcase_add_test(tf, test_persistence);
	tcase_add_test(tf, test_newer_schema);
	tcase_add_test(tf, test_schema_upgrade);
	tcase_add_test(tf, test_requests_tail);
	tcase_add_test(tf, test_copy_in_steps);
	tcase_add_test(tf, test_open_errors);

	tcase_add_test(td, test_determinism);
	return s;
}

int
main(void)
{
	log_init("test", LOG_WARN);
	return h_run_suite(store_suite());
}
