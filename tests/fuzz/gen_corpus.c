/*
 * gen_corpus.c — writes the seed corpora of the harnesses:
 *
 *     gen_corpus DIR      (make fuzz-seeds: DIR = tests/fuzz/corpus)
 *
 * creates DIR/client_frames, DIR/internal_frames, DIR/apply, DIR/config
 * and fills them with valid inputs built with the wire encoder:
 *   - one frame per opcode of the port, in two variants (every field at
 *     its minimum / a typical in-range value, lists with min / 2 items),
 *     driven by the descriptors so a new opcode gets a seed by itself;
 *     plus a stream of several frames (HELLO then requests);
 *   - APPENDs carrying one record of every type (and a stored reply);
 *   - record sequences in fuzz_apply's framing (see fuzz_apply.c): a chat
 *     scenario with users, sessions, messages, reads, hides, drafts, the
 *     ISR and membership, with stored results; and one small sequence per
 *     record type;
 *   - replicas.conf variants.
 * Output is deterministic; files are named after what they hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "wire.h"

static const char *outdir;
static uint8_t pool[256];	/* BYTES fields point here */

static void
die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
write_file(const char *sub, const char *name, const void *p, size_t n)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", outdir, sub);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof path, "%s/%s/%s", outdir, sub, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die(path);
}

/* Fill msg (a struct for s) with in-range values: variant 0 takes every
 * minimum, variant 1 typical values, variant 2 every maximum (byte
 * fields at most sizeof pool). The list member is left empty. */
static void
fill(const struct wire_struct *s, void *msg, int variant)
{
	unsigned i;

	memset(msg, 0, s->size);
	for (i = 0; i < s->nfields; i++) {
		const struct wire_field *f = &s->fields[i];
		unsigned char *dst = (unsigned char *)msg + f->offset;
		uint64_t v = variant == 0 ? f->min : variant == 2 ? f->max :
		    f->max - f->min >= 7 ? f->min + 7 : f->max;
		size_t n, k;

		switch (f->type) {
		case WT_U8:
			*(uint8_t *)dst = (uint8_t)v;
			break;
		case WT_U16:
			*(uint16_t *)(void *)dst = (uint16_t)v;
			break;
		case WT_U32:
			*(uint32_t *)(void *)dst = (uint32_t)v;
			break;
		case WT_U64:
			*(uint64_t *)(void *)dst = v;
			break;
		case WT_STR:
			n = variant == 0 ? f->min : variant == 2 ? f->max :
			    f->min > 5 ? f->min : f->max < 5 ? f->max : 5;
			for (k = 0; k < n; k++)
				dst[k] = (unsigned char)('a' + k % 26);
			dst[n] = '\0';
			break;
		case WT_BYTES: {
			struct wire_bytes *b = (struct wire_bytes *)(void *)dst;
			n = variant == 0 ? f->min : variant == 2 ?
			    (f->max < sizeof pool ? f->max : sizeof pool) :
			    f->min > 8 ? f->min : f->max < 8 ? f->max : 8;
			b->ptr = pool;
			b->len = (uint32_t)n;
			break;
		}
		case WT_LIST:
			break;
		}
	}
}

/* Encode op (whole frame into out when frame, else a bare payload) with
 * generic values and nitems generic list items. */
static void
encode_generic(struct buf *out, const struct wire_opdesc *d, int frame,
	       int variant, unsigned nitems)
{
	const struct wire_field *lf = wire_list_field(&d->body);
	void *msg = calloc(1, d->body.size), *item;
	struct wire_enc e;
	unsigned i;

	if (msg == NULL)
		die("calloc");
	fill(&d->body, msg, variant);
	if (frame)
		wire_encode_begin(&e, out, d->opcode, 1, msg);
	else
		wire_payload_begin(&e, out, &d->body, msg);
	if (lf) {
		if (nitems < lf->min)
			nitems = (unsigned)lf->min;
		if (nitems > lf->max)
			nitems = (unsigned)lf->max;
		item = calloc(1, lf->item->size);
		if (item == NULL)
			die("calloc");
		for (i = 0; i < nitems; i++) {
			fill(lf->item, item, variant);
			/* Distinct ids in id lists. */
			if (strcmp(lf->item->name, "MSGID") == 0)
				((struct wire_item_MSGID *)item)->id = i + 1;
			if (strcmp(lf->item->name, "MEMBER") == 0)
				((struct wire_item_MEMBER *)item)->id = i + 1;
			wire_encode_item(&e, item);
		}
		free(item);
	}
	wire_encode_end(&e);
	free(msg);
}

/* ---- frames ------------------------------------------------------------ */

static void
frames(const char *sub, enum wire_port port)
{
	struct buf b, stream;
	unsigned i;
	int v;
	char name[64];

	buf_init(&b);
	buf_init(&stream);
	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];

		if (d->port != WIRE_PORT_BOTH && d->port != port)
			continue;
		for (v = 0; v < 3; v++) {
			buf_reset(&b);
			encode_generic(&b, d, 1, v, v == 0 ? 0 : v == 1 ? 2 : 3);
			snprintf(name, sizeof name, "%s_v%d", d->name, v);
			if (port == WIRE_PORT_CLIENT &&
			    buf_pending(&b) > WIRE_HEADER_SIZE +
			    WIRE_MAX_REQUEST)
				continue;
			write_file(sub, name, buf_head(&b), buf_pending(&b));
			if (v == 1 && (d->port == WIRE_PORT_BOTH ||
			    d->dir == WIRE_DIR_REQUEST ||
			    d->dir == WIRE_DIR_PEER))
				buf_append(&stream, buf_head(&b),
				    buf_pending(&b));
		}
	}
	write_file(sub, "stream_all", buf_head(&stream), buf_pending(&stream));
	buf_free(&b);
	buf_free(&stream);
}

/* An APPEND with one record of every type, lsn 1.., one stored reply;
 * variants as for fill(). */
static void
append_all_records(void)
{
	struct wire_APPEND a;
	struct wire_item_RECORD r;
	struct wire_OK ok;
	struct buf frame, payloads[64], reply;
	struct wire_enc e;
	unsigned i, n = 0;
	int v;

	for (v = 0; v < 3; v++) {
		char name[64];

		buf_init(&frame);
		buf_init(&reply);
		memset(&ok, 0, sizeof ok);
		ok.value = 42;
		wire_encode_payload(&reply, &wire_op(WIRE_OP_OK)->body, &ok);
		memset(&a, 0, sizeof a);
		a.epoch = 3;
		a.commit_lsn = 2;
		wire_encode_begin(&e, &frame, WIRE_OP_APPEND, 0, &a);
		n = 0;
		for (i = 0; i < wire_nops; i++) {
			const struct wire_opdesc *d = &wire_ops[i];

			if (d->port != WIRE_PORT_RECORD)
				continue;
			buf_init(&payloads[n]);
			encode_generic(&payloads[n], d, 0, v,
			    v == 0 ? 1 : v == 1 ? 2 : 3);
			memset(&r, 0, sizeof r);
			r.epoch = 3;
			r.lsn = n + 1;
			r.type = d->opcode;
			r.client_id = v ? 77 : 0;
			r.seq = n + 1;
			r.at = 1700000000000ull + n;
			r.payload.ptr = buf_head(&payloads[n]);
			r.payload.len = (uint32_t)buf_pending(&payloads[n]);
			if (v && n == 0) {
				r.reply_op = WIRE_OP_OK;
				r.reply.ptr = buf_head(&reply);
				r.reply.len = (uint32_t)buf_pending(&reply);
			}
			wire_encode_item(&e, &r);
			n++;
		}
		wire_encode_end(&e);
		snprintf(name, sizeof name, "APPEND_all_records_v%d", v);
		write_file("internal_frames", name, buf_head(&frame),
		    buf_pending(&frame));
		for (i = 0; i < n; i++)
			buf_free(&payloads[i]);
		buf_free(&frame);
		buf_free(&reply);
	}
}

/* ---- record sequences (fuzz_apply framing) ------------------------------ */

#define CTL_REQ    0x01
#define CTL_COMMIT 0x02
#define CTL_EPOCH1 0x04
#define CTL_HOUR   0x40	/* clock step 4: 64 minutes */

struct seq {
	struct buf out;
	unsigned   seqno;
};

/* Append one record: payload from msg (a struct for type's body) with
 * the given list items; with a request trailer when client_id != 0. */
static void
rec(struct seq *q, unsigned ctl, uint16_t type, const void *msg,
    const void *items, size_t item_size, unsigned nitems, uint8_t client_id,
    uint16_t reply_op, const void *reply_msg)
{
	struct buf p, r;
	struct wire_enc e;
	unsigned i;

	buf_init(&p);
	buf_init(&r);
	/* Bits 15 and 14 of a type are fuzz_apply's flags, not the type. */
	wire_payload_begin(&e, &p, &wire_op(type & 0x3FFF)->body, msg);
	for (i = 0; i < nitems; i++)
		wire_encode_item(&e, (const char *)items + i * item_size);
	wire_encode_end(&e);
	if (client_id)
		ctl |= CTL_REQ;
	buf_put_u8(&q->out, (uint8_t)ctl);
	buf_put_u16(&q->out, type);
	buf_put_u16(&q->out, (uint16_t)buf_pending(&p));
	buf_append(&q->out, buf_head(&p), buf_pending(&p));
	if (client_id) {
		if (reply_op)
			wire_encode_payload(&r, &wire_op(reply_op)->body,
			    reply_msg);
		buf_put_u8(&q->out, client_id);
		buf_put_u16(&q->out, (uint16_t)++q->seqno);
		buf_put_u16(&q->out, reply_op);
		buf_put_u16(&q->out, (uint16_t)buf_pending(&r));
		buf_append(&q->out, buf_head(&r), buf_pending(&r));
	}
	buf_free(&p);
	buf_free(&r);
}

#define COPY(dst, s) snprintf((dst), sizeof(dst), "%s", (s))

static void
user_add(struct seq *q, unsigned ctl, const char *name, const char *full)
{
	struct wire_R_USER_ADD m;

	memset(&m, 0, sizeof m);
	COPY(m.username, name);
	COPY(m.fullname, full);
	COPY(m.pwhash, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g");
	rec(q, ctl, WIRE_OP_R_USER_ADD, &m, NULL, 0, 0, 11, WIRE_OP_OK,
	    &(struct wire_OK){ .value = 0 });
}

static void
msg_add(struct seq *q, unsigned ctl, uint64_t id, const char *from,
	const char *to, const char *body)
{
	struct wire_R_MSG_ADD m;
	struct wire_SENT sent;

	memset(&m, 0, sizeof m);
	m.id = id;
	COPY(m.from, from);
	COPY(m.to, to);
	COPY(m.body, body);
	memset(&sent, 0, sizeof sent);
	sent.id = id;
	sent.sent_at = 1700000000000ull;
	rec(q, ctl, WIRE_OP_R_MSG_ADD, &m, NULL, 0, 0, 12, WIRE_OP_SENT,
	    &sent);
}

static void
session(struct seq *q, unsigned ctl, uint8_t tag, const char *user,
	uint64_t expires)
{
	static uint8_t hash[8][32];
	struct wire_R_SESSION_OPEN m;

	memset(hash[tag], tag, 32);
	memset(&m, 0, sizeof m);
	m.token_hash.ptr = hash[tag];
	m.token_hash.len = 32;
	COPY(m.username, user);
	m.expires_at = expires;
	rec(q, ctl, WIRE_OP_R_SESSION_OPEN, &m, NULL, 0, 0, 13, 0, NULL);
}

static void
ids_rec(struct seq *q, unsigned ctl, uint16_t type, const char *who,
	const uint64_t *ids, unsigned n)
{
	struct wire_item_MSGID items[8];
	struct wire_R_MSG_READ m;	/* same layout as R_MSG_HIDE */
	unsigned i;

	memset(&m, 0, sizeof m);
	COPY(m.reader, who);
	memset(items, 0, sizeof items);
	for (i = 0; i < n; i++)
		items[i].id = ids[i];
	rec(q, ctl, type, &m, items, sizeof items[0], n, 14, WIRE_OP_OK,
	    &(struct wire_OK){ .value = n });
}

static void
draft_put(struct seq *q, unsigned ctl, uint64_t id, const char *owner,
	  const char *to, const char *body)
{
	struct wire_R_DRAFT_PUT m;

	memset(&m, 0, sizeof m);
	m.id = id;
	COPY(m.owner, owner);
	COPY(m.to, to);
	COPY(m.body, body);
	rec(q, ctl, WIRE_OP_R_DRAFT_PUT, &m, NULL, 0, 0, 15, WIRE_OP_OK,
	    &(struct wire_OK){ .value = id });
}

static void
scenario(void)
{
	struct seq q;
	struct wire_R_SESSION_TOUCH touch;
	struct wire_R_SESSION_END end;
	struct wire_R_DRAFT_DEL ddel;
	struct wire_R_DRAFT_SENT dsent;
	struct wire_R_USER_DEL udel;
	struct wire_R_ISR isr;
	struct wire_R_MEMBERS mem;
	struct wire_R_EPOCH ep;
	struct wire_item_MEMBER members[3];
	struct wire_item_REPLICA reps[3];
	struct wire_item_MSGID dids[2];
	static uint8_t hash1[32];
	uint64_t ids[3];
	unsigned i;

	memset(&q, 0, sizeof q);
	buf_init(&q.out);
	memset(&ep, 0, sizeof ep);
	ep.primary_id = 1;
	rec(&q, CTL_COMMIT, WIRE_OP_R_EPOCH, &ep, NULL, 0, 0, 0, 0, NULL);
	memset(&isr, 0, sizeof isr);
	memset(members, 0, sizeof members);
	for (i = 0; i < 3; i++)
		members[i].id = i + 1;
	rec(&q, 0, WIRE_OP_R_ISR, &isr, members, sizeof members[0], 3, 0, 0,
	    NULL);
	memset(&mem, 0, sizeof mem);
	memset(reps, 0, sizeof reps);
	for (i = 0; i < 3; i++) {
		reps[i].id = i + 1;
		COPY(reps[i].host, "127.0.0.1");
		reps[i].client_port = (uint16_t)(7001 + i);
		reps[i].internal_port = (uint16_t)(7101 + i);
	}
	rec(&q, CTL_COMMIT, WIRE_OP_R_MEMBERS, &mem, reps, sizeof reps[0], 3,
	    0, 0, NULL);
	user_add(&q, 0, "alice", "Alice Liddell");
	user_add(&q, 0, "Bob", "");
	user_add(&q, CTL_COMMIT, "carol.c-1_x", "Carol \xc3\x89t\xc3\xa9");
	user_add(&q, CTL_COMMIT, "ALICE", "taken name");
	session(&q, CTL_COMMIT, 1, "alice", 1700000000000ull + 3600000);
	session(&q, CTL_HOUR | CTL_COMMIT, 2, "bob", 1700000000000ull + 60000);
	msg_add(&q, 0, 1, "alice", "bob", "hi bob");
	msg_add(&q, 0, 2, "bob", "alice", "hi \"alice\"\\\n");
	msg_add(&q, 0, 3, "alice", "alice", "note to self");
	msg_add(&q, CTL_COMMIT, 4, "carol.c-1_x", "alice", "\xe2\x82\xac 5");
	msg_add(&q, CTL_COMMIT, 5, "nobody", "alice", "from nobody");
	ids[0] = 1;
	ids[1] = 3;
	ids[2] = 99;
	ids_rec(&q, CTL_COMMIT, WIRE_OP_R_MSG_READ, "bob", ids, 1);
	ids_rec(&q, CTL_COMMIT, WIRE_OP_R_MSG_READ, "alice", ids, 3);
	ids[0] = 2;
	ids_rec(&q, CTL_COMMIT, WIRE_OP_R_MSG_HIDE, "alice", ids, 2);
	ids_rec(&q, CTL_COMMIT, WIRE_OP_R_MSG_HIDE, "bob", ids, 1);
	memset(&touch, 0, sizeof touch);
	memset(hash1, 1, sizeof hash1);
	touch.token_hash.ptr = hash1;
	touch.token_hash.len = 32;
	touch.expires_at = 1700000000000ull + 7200000;
	rec(&q, CTL_COMMIT, WIRE_OP_R_SESSION_TOUCH, &touch, NULL, 0, 0, 0, 0,
	    NULL);
	draft_put(&q, 0, 1, "alice", "bob", "draft one");
	draft_put(&q, 0, 2, "alice", "carol.c-1_x", "draft two");
	draft_put(&q, CTL_COMMIT, 3, "bob", "alice", "bob's draft");
	draft_put(&q, CTL_COMMIT, 3, "alice", "bob", "not alice's draft");
	draft_put(&q, CTL_COMMIT, 1, "alice", "bob", "draft one, edited");
	memset(&dsent, 0, sizeof dsent);
	COPY(dsent.owner, "alice");
	dsent.first_id = 6;
	memset(dids, 0, sizeof dids);
	dids[0].id = 1;
	dids[1].id = 3;
	rec(&q, CTL_COMMIT, WIRE_OP_R_DRAFT_SENT, &dsent, dids,
	    sizeof dids[0], 2, 16, WIRE_OP_OK, &(struct wire_OK){ .value = 2 });
	memset(&ddel, 0, sizeof ddel);
	ddel.id = 2;
	COPY(ddel.owner, "alice");
	rec(&q, CTL_COMMIT, WIRE_OP_R_DRAFT_DEL, &ddel, NULL, 0, 0, 17,
	    WIRE_OP_OK, &(struct wire_OK){ .value = 0 });
	memset(&end, 0, sizeof end);
	COPY(end.username, "bob");
	rec(&q, CTL_COMMIT, WIRE_OP_R_SESSION_END, &end, NULL, 0, 0, 18, 0,
	    NULL);
	ep.primary_id = 2;
	rec(&q, CTL_EPOCH1 | CTL_COMMIT, WIRE_OP_R_EPOCH, &ep, NULL, 0, 0, 0,
	    0, NULL);
	memset(&udel, 0, sizeof udel);
	COPY(udel.username, "Bob");
	rec(&q, CTL_COMMIT, WIRE_OP_R_USER_DEL, &udel, NULL, 0, 0, 19,
	    WIRE_OP_OK, &(struct wire_OK){ .value = 0 });
	user_add(&q, CTL_COMMIT, "bob", "a new bob");
	msg_add(&q, CTL_COMMIT, 10, "alice", "bob", "new bob?");
	write_file("apply", "scenario", buf_head(&q.out), buf_pending(&q.out));

	/* The same, with an invalid record in the middle of a transaction
	 * (rolled back), then more. */
	user_add(&q, 0, "dave", "");
	buf_put_u8(&q.out, 0);
	buf_put_u16(&q.out, WIRE_OP_R_MSG_ADD);
	buf_put_u16(&q.out, 3);
	buf_append(&q.out, "bad", 3);
	user_add(&q, CTL_COMMIT, "erin", "");
	write_file("apply", "scenario_rollback", buf_head(&q.out),
	    buf_pending(&q.out));
	buf_free(&q.out);
}

/* Every record at its limits: longest names and texts (multi-byte
 * UTF-8), longest id lists, 16 replicas with 255-byte hosts, ids at the
 * edge of SQLite's signed integers. */
static void
limits(void)
{
	static char name32[33], name32b[33], full[51], body[4097];
	static struct wire_item_MSGID ids[100];
	static struct wire_item_MEMBER members[16];
	static struct wire_item_REPLICA reps[16];
	struct wire_R_USER_ADD ua;
	struct wire_R_MSG_READ rd;
	struct wire_R_DRAFT_SENT ds;
	struct wire_R_ISR isr;
	struct wire_R_MEMBERS mem;
	struct seq q;
	size_t i;

	memset(&q, 0, sizeof q);
	buf_init(&q.out);
	memset(name32, 'z', 32);
	memset(name32b, 'Y', 32);
	for (i = 0; i < 25; i++)
		memcpy(full + 2 * i, "\xc3\xa9", 2);	/* 50 bytes */
	for (i = 0; i < 1024; i++)
		memcpy(body + 4 * i, "\xf0\x9f\x92\xac", 4);	/* 4096 */
	memset(&ua, 0, sizeof ua);
	COPY(ua.username, name32);
	memcpy(ua.fullname, full, 50);
	memset(ua.pwhash, 'h', CHAT_MAX_PWHASH);
	rec(&q, 0, WIRE_OP_R_USER_ADD, &ua, NULL, 0, 0, 0, 0, NULL);
	COPY(ua.username, name32b);
	rec(&q, CTL_COMMIT, WIRE_OP_R_USER_ADD, &ua, NULL, 0, 0, 0, 0, NULL);
	msg_add(&q, CTL_COMMIT, 0x7ffffffffffffffeull, name32, name32b, body);
	msg_add(&q, CTL_COMMIT, 0x8000000000000001ull, name32b, name32, body);
	msg_add(&q, CTL_COMMIT, 0xffffffffffffffffull, name32, name32, "max");
	draft_put(&q, CTL_COMMIT, 0xffffffffffffff00ull, name32, name32b, body);
	draft_put(&q, CTL_COMMIT, 1, name32b, name32, body);
	memset(&rd, 0, sizeof rd);
	COPY(rd.reader, name32b);
	for (i = 0; i < 100; i++)
		ids[i].id = i == 0 ? 0x7ffffffffffffffeull : i;
	rec(&q, CTL_COMMIT, WIRE_OP_R_MSG_READ, &rd, ids, sizeof ids[0], 100,
	    0, 0, NULL);
	rec(&q, CTL_COMMIT, WIRE_OP_R_MSG_HIDE, &rd, ids, sizeof ids[0], 100,
	    0, 0, NULL);
	memset(&ds, 0, sizeof ds);
	COPY(ds.owner, name32b);
	ds.first_id = 0xffffffffffffffffull - 99;
	rec(&q, CTL_COMMIT, WIRE_OP_R_DRAFT_SENT, &ds, ids, sizeof ids[0], 100,
	    0, 0, NULL);
	memset(&isr, 0, sizeof isr);
	for (i = 0; i < 16; i++) {
		members[i].id = (uint32_t)(65535 - i);
		reps[i].id = (uint32_t)(65535 - i);
		memset(reps[i].host, 'a' + (int)i, CHAT_MAX_HOST);
		reps[i].client_port = 65535;
		reps[i].internal_port = 1;
	}
	rec(&q, CTL_COMMIT, WIRE_OP_R_ISR, &isr, members, sizeof members[0], 16,
	    0, 0, NULL);
	memset(&mem, 0, sizeof mem);
	rec(&q, CTL_COMMIT | 0xF0, WIRE_OP_R_MEMBERS, &mem, reps, sizeof reps[0],
	    16, 0, 0, NULL);
	write_file("apply", "limits", buf_head(&q.out), buf_pending(&q.out));

	/* Refused records: draft ids that wrap, an lsn gap (type bit 15),
	 * an epoch going back (bit 14); each rolls its transaction back. */
	buf_reset(&q.out);
	user_add(&q, CTL_COMMIT, name32, "");
	ds.first_id = 0xffffffffffffffffull - 98;
	rec(&q, CTL_COMMIT, WIRE_OP_R_DRAFT_SENT, &ds, ids, sizeof ids[0], 100,
	    0, 0, NULL);
	user_add(&q, 0, "x", "");
	rec(&q, CTL_COMMIT, 0x8000 | WIRE_OP_R_USER_ADD, &ua, NULL, 0, 0, 0, 0,
	    NULL);
	user_add(&q, CTL_EPOCH1 | CTL_COMMIT, "y", "");
	rec(&q, CTL_COMMIT, 0x4000 | WIRE_OP_R_USER_ADD, &ua, NULL, 0, 0, 0, 0,
	    NULL);
	user_add(&q, CTL_COMMIT, "z", "");
	write_file("apply", "refused", buf_head(&q.out), buf_pending(&q.out));
	buf_free(&q.out);
}

/* One generic record of each type after a user add of the generic name
 * ("abcde"), so effects find their user. */
static void
per_type(void)
{
	struct buf p;
	unsigned i;
	int v;

	for (i = 0; i < wire_nops; i++) {
		const struct wire_opdesc *d = &wire_ops[i];
		char name[64];

		if (d->port != WIRE_PORT_RECORD)
			continue;
		for (v = 0; v < 2; v++) {
			struct seq q;

			memset(&q, 0, sizeof q);
			buf_init(&q.out);
			buf_init(&p);
			encode_generic(&p, wire_op(WIRE_OP_R_USER_ADD), 0, 1, 0);
			buf_put_u8(&q.out, CTL_COMMIT);
			buf_put_u16(&q.out, WIRE_OP_R_USER_ADD);
			buf_put_u16(&q.out, (uint16_t)buf_pending(&p));
			buf_append(&q.out, buf_head(&p), buf_pending(&p));
			buf_reset(&p);
			encode_generic(&p, d, 0, v, v ? 2 : 1);
			buf_put_u8(&q.out, CTL_COMMIT | (v ? CTL_REQ : 0));
			buf_put_u16(&q.out, d->opcode);
			buf_put_u16(&q.out, (uint16_t)buf_pending(&p));
			buf_append(&q.out, buf_head(&p), buf_pending(&p));
			if (v) {
				buf_put_u8(&q.out, 5);
				buf_put_u16(&q.out, 1);
				buf_put_u16(&q.out, 0);
				buf_put_u16(&q.out, 0);
			}
			snprintf(name, sizeof name, "%s_v%d", d->name, v);
			write_file("apply", name, buf_head(&q.out),
			    buf_pending(&q.out));
			buf_free(&p);
			buf_free(&q.out);
		}
	}
}

/* ---- configs ------------------------------------------------------------ */

static void
configs(void)
{
	static const struct { const char *name, *text; } c[] = {
		{ "repo", "# replicas.conf\n#\tid host client internal\n"
		  "replica 1   127.0.0.1  7001         7101\n"
		  "replica 2   127.0.0.1  7002         7102\n"
		  "replica 3   127.0.0.1  7003         7103\n\n"
		  "heartbeat_ms 50\nelection_timeout_ms 500\ndata_dir data\n" },
		{ "all_settings", "replica 7 db-1.example.org 9000 9001\n"
		  "replica 65535 ::1 9000 9001\n"
		  "replica 9 DB-1.EXAMPLE.ORG 9002 9003\n"
		  "heartbeat_ms 100\nelection_timeout_ms 1000\n"
		  "client_timeout_ms 2000\nhello_timeout_ms 5000\n"
		  "idle_timeout_ms 300000\nmax_clients 20000\n"
		  "max_output_kb 4096\nmax_inflight 256\n"
		  "session_ttl_s 3600\nmin_isr 2\nlog_keep 0\nsync normal\n"
		  "data_dir /var/lib/chatd\nkey_file /etc/chatd/cluster.key\n" },
		{ "crlf_tabs_comments", "replica\t1\t10.0.0.1\t1\t65535\r\n"
		  "  # only a comment\r\n\t\r\n"
		  "sync full # trailing comment\r\nmin_isr 1#x\r\n" },
		{ "sixteen", "replica 1 h 1 2\nreplica 2 h 3 4\nreplica 3 h 5 6\n"
		  "replica 4 h 7 8\nreplica 5 h 9 10\nreplica 6 h 11 12\n"
		  "replica 7 h 13 14\nreplica 8 h 15 16\nreplica 9 h 17 18\n"
		  "replica 10 h 19 20\nreplica 11 h 21 22\n"
		  "replica 12 h 23 24\nreplica 13 h 25 26\n"
		  "replica 14 h 27 28\nreplica 15 h 29 30\n"
		  "replica 16 h 31 32\nmin_isr 16\n" },
		{ "err_dup_port", "replica 1 a 7001 7101\nreplica 2 A 7101 7102\n" },
		{ "err_whole_file", "replica 1 a 7001 7101\nheartbeat_ms 500\n"
		  "election_timeout_ms 500\n" },
		{ "err_values", "replica 1 a 7001 7101\nmax_clients 0x10\n" },
		{ "err_words", "replica 1 a 7001\nfoo bar\n" },
	};
	size_t i;

	static char text[16384];
	size_t n;

	for (i = 0; i < sizeof c / sizeof c[0]; i++)
		write_file("config", c[i].name, c[i].text, strlen(c[i].text));
	/* Limits: a 1023-byte path (the longest), a 1024-byte one, a
	 * 4096-byte line (the longest) and a 4097-byte one. */
	n = (size_t)snprintf(text, sizeof text, "replica 1 h 1 2\ndata_dir ");
	memset(text + n, 'p', 1023);
	n += 1023;
	n += (size_t)snprintf(text + n, sizeof text - n, "\nkey_file ");
	memset(text + n, 'k', 1024);
	n += 1024;
	text[n++] = '\n';
	write_file("config", "long_paths", text, n);
	n = (size_t)snprintf(text, sizeof text, "replica 1 h 1 2\n#");
	memset(text + n, '-', 4095);
	n += 4095;
	n += (size_t)snprintf(text + n, sizeof text - n, "\r\n#");
	memset(text + n, '-', 4096);
	n += 4096;
	write_file("config", "long_lines", text, n);
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST)
		die(outdir);
	for (i = 0; i < sizeof pool; i++)
		pool[i] = (uint8_t)(i * 37 + 11);
	frames("client_frames", WIRE_PORT_CLIENT);
	frames("internal_frames", WIRE_PORT_INTERNAL);
	append_all_records();
	scenario();
	limits();
	per_type();
	configs();
	return 0;
}
