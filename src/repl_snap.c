/*
 * repl_snap.c — sending and receiving a whole-store snapshot.
 *
 * Primary: copy the committed store to a file (store_backup_to), announce
 * it with SNAP_BEGIN {its last (epoch, lsn), size}, stream it in chunks of
 * at most WIRE_MAX_CHUNK while no more than SNAP_WINDOW bytes are
 * unacknowledged, and close with SNAP_END {BLAKE2b-256 of the bytes}.
 * Backup: write the chunks in order to a file of its own, acknowledge
 * each, check the digest at the end, install the file in place of its
 * store, restore its own durable promises (the file carries the
 * primary's), and ask to catch up from the snapshot's last record.
 *
 * The copy is made a few pages at a time, after each turn's commit
 * (repl_snap_progress, at most SNAP_STEP_MS per turn), so even a store of
 * gigabytes never stalls the loop; shipping to that backup waits, and
 * SNAP_BEGIN goes out when the copy is whole, naming the last record the
 * copy holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "auth.h"
#include "log.h"
#include "repl.h"
#include "server.h"

#define SNAP_WINDOW  (8u * 1024 * 1024)
#define SNAP_PAGES   64	/* pages per backup step */
#define SNAP_STEP_MS 4	/* copying per loop turn */

struct snap_out {
	struct store_copy *copy;	/* while the file is being made */
	struct timer      *kick;	/* keeps the loop turning meanwhile */
	struct loop       *loop;
	int                fd;
	char               path[CONFIG_MAX_PATH + 64];
	uint64_t           size, sent, acked;
	struct auth_digest digest;
	int                end_sent;
};

struct snap_in {
	int                fd;
	char               path[CONFIG_MAX_PATH + 64];
	uint64_t           size, received;
	uint64_t           epoch;
	struct logpos      pos;
	struct auth_digest digest;
};

void
repl_snap_cancel(struct peer *p)
{
	if (p->snap_out) {
		if (p->snap_out->kick)
			timer_cancel(p->snap_out->loop, p->snap_out->kick);
		if (p->snap_out->copy)
			store_copy_abort(p->snap_out->copy);
		else
			close(p->snap_out->fd);
		unlink(p->snap_out->path);
		free(p->snap_out);
		p->snap_out = NULL;
	}
	if (p->snap_in) {
		close(p->snap_in->fd);
		unlink(p->snap_in->path);
		free(p->snap_in);
		p->snap_in = NULL;
	}
}

/* ---- primary ------------------------------------------------------------- */

void
repl_snap_start(struct repl *r, struct peer *p)
{
	struct server *s = r->srv;
	struct snap_out *so;
	char err[300];

	repl_snap_cancel(p);
	so = calloc(1, sizeof *so);
	if (so == NULL)
		return;
	so->fd = -1;
	so->loop = s->loop;
	snprintf(so->path, sizeof so->path, "%s/snap-out-%u.db", s->data_dir,
	    p->id);
	so->copy = store_copy_start(s->store, so->path, err, sizeof err);
	if (so->copy == NULL) {
		log_error("snapshot for replica %u failed: %s", p->id, err);
		free(so);
		return;
	}
	p->snap_out = so;	/* shipping to p waits for the snapshot */
	log_info("snapshot to replica %u: copying the store", p->id);
}

static void
snap_kick(void *ud)
{
	struct snap_out *so = ud;

	so->kick = NULL;	/* the turn it caused runs the next step */
}

/* The copy is whole: announce it with the position it holds and start
 * streaming. No transaction is open, so our last record is committed and
 * in the copy. */
static void
snap_announce(struct repl *r, struct peer *p)
{
	struct server *s = r->srv;
	struct snap_out *so = p->snap_out;
	struct wire_SNAP_BEGIN b;
	struct logpos pos;
	struct stat st;

	so->copy = NULL;
	if ((so->fd = open(so->path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    fstat(so->fd, &st) < 0) {
		log_error("snapshot for replica %u failed: %s", p->id,
		    strerror(errno));
		repl_snap_cancel(p);
		return;
	}
	repl_self_last(r, &pos);
	so->size = (uint64_t)st.st_size;
	auth_digest_init(&so->digest);
	memset(&b, 0, sizeof b);
	b.epoch = s->epoch;
	b.snap_epoch = pos.epoch;
	b.snap_lsn = pos.lsn;
	b.size = so->size;
	log_info("snapshot to replica %u: %llu bytes up to (%llu,%llu)", p->id,
	    (unsigned long long)so->size, (unsigned long long)pos.epoch,
	    (unsigned long long)pos.lsn);
	repl_send(p, WIRE_OP_SNAP_BEGIN, 0, &b);
	repl_snap_pump(r, p);
}

void
repl_snap_progress(struct repl *r)
{
	struct server *s = r->srv;
	uint64_t until = 0;
	char err[300];
	size_t i;
	int rc;

	for (i = 0; i < r->npeers; i++) {
		struct peer *p = &r->peers[i];
		struct snap_out *so = p->snap_out;

		if (so == NULL || so->copy == NULL)
			continue;
		if (until == 0)
			until = mono_ms() + SNAP_STEP_MS;
		do
			rc = store_copy_step(s->store, so->copy, SNAP_PAGES,
			    err, sizeof err);
		while (rc == 0 && mono_ms() < until);
		if (rc < 0) {
			log_error("snapshot for replica %u failed: %s", p->id,
			    err);
			repl_snap_cancel(p);
		} else if (rc == 1) {
			snap_announce(r, p);
		} else if (so->kick == NULL) {
			so->kick = timer_add(s->loop, 0, snap_kick, so);
		}
	}
}

void
repl_snap_pump(struct repl *r, struct peer *p)
{
	struct snap_out *so = p->snap_out;
	static uint8_t chunk[WIRE_MAX_CHUNK];
	struct wire_SNAP_CHUNK c;
	struct wire_SNAP_END e;
	uint8_t digest[32];

	if (so == NULL || so->copy != NULL || p->state != LINK_UP)
		return;
	while (so->sent < so->size && so->sent - so->acked < SNAP_WINDOW &&
	    conn_output_pending(p->conn) < SNAP_WINDOW) {
		size_t want = so->size - so->sent < sizeof chunk ?
		    (size_t)(so->size - so->sent) : sizeof chunk;
		ssize_t n = pread(so->fd, chunk, want, (off_t)so->sent);

		if (n <= 0) {
			log_error("snapshot read failed: %s", strerror(errno));
			repl_snap_cancel(p);
			return;
		}
		auth_digest_update(&so->digest, chunk, (size_t)n);
		memset(&c, 0, sizeof c);
		c.epoch = r->srv->epoch;
		c.offset = so->sent;
		c.data.ptr = chunk;
		c.data.len = (uint32_t)n;
		repl_send(p, WIRE_OP_SNAP_CHUNK, 0, &c);
		so->sent += (uint64_t)n;
	}
	if (so->sent == so->size && !so->end_sent) {
		auth_digest_final(&so->digest, digest);
		e.epoch = r->srv->epoch;
		e.digest.ptr = digest;
		e.digest.len = sizeof digest;
		repl_send(p, WIRE_OP_SNAP_END, 0, &e);
		so->end_sent = 1;
		log_info("snapshot to replica %u: all %llu bytes sent", p->id,
		    (unsigned long long)so->size);
	}
}

/* ---- backup ----------------------------------------------------------------- */

static void
snap_begin(struct repl *r, struct peer *p, const struct wire_SNAP_BEGIN *b)
{
	struct server *s = r->srv;
	struct snap_in *si;

	if (b->epoch < r->promised)
		return;
	if (s->role != ROLE_BACKUP || s->primary_id != p->id ||
	    s->epoch != b->epoch)
		repl_become_backup(r, b->epoch, p->id);
	repl_snap_cancel(p);
	si = calloc(1, sizeof *si);
	if (si == NULL)
		return;
	snprintf(si->path, sizeof si->path, "%s/snap-in.db", s->data_dir);
	si->fd = open(si->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (si->fd < 0) {
		log_error("cannot receive a snapshot: %s: %s", si->path,
		    strerror(errno));
		free(si);
		return;
	}
	si->size = b->size;
	si->epoch = b->epoch;
	si->pos.epoch = b->snap_epoch;
	si->pos.lsn = b->snap_lsn;
	auth_digest_init(&si->digest);
	p->snap_in = si;
	log_info("receiving a snapshot from replica %u: %llu bytes up to "
	    "(%llu,%llu)", p->id, (unsigned long long)b->size,
	    (unsigned long long)b->snap_epoch, (unsigned long long)b->snap_lsn);
}

static void
snap_chunk(struct repl *r, struct peer *p, const struct wire_SNAP_CHUNK *c)
{
	struct snap_in *si = p->snap_in;
	struct wire_SNAP_ACK a;

	if (si == NULL || c->epoch != si->epoch)
		return;
	if (c->offset != si->received || c->data.len > si->size - si->received) {
		log_error("snapshot chunk at %llu rejected",
		    (unsigned long long)c->offset);
		repl_snap_cancel(p);
		repl_send_catchup(r);	/* start over */
		return;
	}
	errno = 0;
	if (pwrite(si->fd, c->data.ptr, c->data.len, (off_t)c->offset) !=
	    (ssize_t)c->data.len) {
		/* A full disk would fail every retry: fail-stop instead. */
		log_error("writing the snapshot from replica %u: %s", p->id,
		    errno ? strerror(errno) : "short write");
		repl_snap_cancel(p);
		server_storage_failed(r->srv, "snapshot write");
		return;
	}
	auth_digest_update(&si->digest, c->data.ptr, c->data.len);
	si->received += c->data.len;
	a.epoch = si->epoch;
	a.offset = si->received;
	repl_send(p, WIRE_OP_SNAP_ACK, 0, &a);
}

static void
snap_end(struct repl *r, struct peer *p, const struct wire_SNAP_END *e)
{
	struct server *s = r->srv;
	struct snap_in *si = p->snap_in;
	uint8_t digest[32];
	char path[sizeof si->path];

	if (si == NULL || e->epoch != si->epoch)
		return;
	auth_digest_final(&si->digest, digest);
	if (si->received != si->size || !auth_equal(digest, e->digest.ptr, 32)) {
		log_error("snapshot from replica %u is damaged; asking again",
		    p->id);
		repl_snap_cancel(p);
		repl_send_catchup(r);
		return;
	}
	if (fsync(si->fd) < 0) {
		log_error("syncing the snapshot from replica %u: %s", p->id,
		    strerror(errno));
		repl_snap_cancel(p);
		server_storage_failed(r->srv, "snapshot fsync");
		return;
	}
	close(si->fd);
	si->fd = -1;
	snprintf(path, sizeof path, "%s", si->path);
	free(si);
	p->snap_in = NULL;
	if (server_install_snapshot(s, path) < 0)
		return;		/* fatal, handled there */
	log_info("installed the snapshot from replica %u", p->id);
	repl_send_catchup(r);
}

void
repl_on_snap(struct repl *r, struct peer *p, const struct wire_header *h,
	     const uint8_t *payload)
{
	const struct wire_opdesc *d = wire_op(h->opcode);
	union {
		struct wire_SNAP_BEGIN b;
		struct wire_SNAP_CHUNK c;
		struct wire_SNAP_END e;
		struct wire_SNAP_ACK a;
	} m;

	if (wire_decode(d, payload, h->length, &m, NULL) < 0)
		return;
	switch (h->opcode) {
	case WIRE_OP_SNAP_BEGIN:
		snap_begin(r, p, &m.b);
		break;
	case WIRE_OP_SNAP_CHUNK:
		snap_chunk(r, p, &m.c);
		break;
	case WIRE_OP_SNAP_END:
		snap_end(r, p, &m.e);
		break;
	case WIRE_OP_SNAP_ACK:
		if (p->snap_out && m.a.epoch == r->srv->epoch) {
			p->snap_out->acked = m.a.offset;
			repl_snap_pump(r, p);
		}
		break;
	}
}
