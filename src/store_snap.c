/*
 * store_snap.c — whole-store snapshots for replicas whose log cannot be
 * brought up to date record by record (it diverged, or fell behind the
 * pruned part of the primary's log).
 *
 * The primary copies its committed store with SQLite's online backup API
 * into a file that it then streams — a few pages per loop turn, between
 * transactions, so a large store does not stall the loop; writes made
 * meanwhile through the same connection are carried into the copy by
 * SQLite, so the finished file is the store as of the last step. The
 * backup writes the stream to a file of its own, checks the digest, and
 * installs it in place of its store: close, remove the old WAL, rename,
 * reopen. The rename is the atomic step: a crash before it leaves the old
 * store, after it the new.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "log.h"
#include "store.h"
#include "store_internal.h"

struct store_copy {
	sqlite3        *dst;
	sqlite3_backup *b;
	char            path[PATH_MAX];
};

void
store_copy_abort(struct store_copy *c)
{
	if (c == NULL)
		return;
	if (c->b)
		sqlite3_backup_finish(c->b);
	sqlite3_close(c->dst);
	unlink(c->path);
	free(c);
}

struct store_copy *
store_copy_start(struct store *s, const char *path, char *err, size_t errlen)
{
	struct store_copy *c;
	int rc;

	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((size_t)snprintf(c->path, sizeof c->path, "%s", path) >=
	    sizeof c->path) {
		snprintf(err, errlen, "path too long");
		free(c);
		return NULL;
	}
	unlink(path);
	rc = sqlite3_open_v2(path, &c->dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errstr(rc));
		store_copy_abort(c);
		return NULL;
	}
	/* No fsync per step: an unfinished or crashed copy is thrown away,
	 * and the receiver checks the digest and syncs its own file. */
	if (sqlite3_exec(c->dst, "PRAGMA synchronous=OFF", NULL, NULL,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "backup: %s", store_db_error(c->dst));
		store_copy_abort(c);
		return NULL;
	}
	c->b = sqlite3_backup_init(c->dst, "main", s->db, "main");
	if (c->b == NULL) {
		snprintf(err, errlen, "backup: %s", store_db_error(c->dst));
		store_copy_abort(c);
		return NULL;
	}
	return c;
}

int
store_copy_step(struct store *s, struct store_copy *c, int pages, char *err,
		size_t errlen)
{
	int rc;

	if (store_in_txn(s)) {
		snprintf(err, errlen, "a transaction is open");
		return -1;
	}
	rc = sqlite3_backup_step(c->b, pages);
	if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return 0;
	rc = sqlite3_backup_finish(c->b);
	c->b = NULL;
	/* A self-contained file: no WAL beside it. */
	if (rc != SQLITE_OK || sqlite3_exec(c->dst, "PRAGMA journal_mode="
	    "DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "backup: %s", store_db_error(c->dst));
		return -1;
	}
	rc = sqlite3_close(c->dst);
	c->dst = NULL;
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "backup: close: %s", sqlite3_errstr(rc));
		return -1;
	}
	free(c);
	return 1;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

struct store *
store_install(struct store *s, const char *dir, const char *snapshot,
	      int sync_full, char *err, size_t errlen)
{
	char db[PATH_MAX], side[PATH_MAX + 8];

	if ((size_t)snprintf(db, sizeof db, "%s/chatd.db", dir) >= sizeof db) {
		snprintf(err, errlen, "path too long");
		return NULL;
	}
	store_close(s);
	/* The old WAL must not be replayed onto the new file. */
	snprintf(side, sizeof side, "%s-wal", db);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", db);
	unlink(side);
	if (rename(snapshot, db) < 0) {
		snprintf(err, errlen, "rename %s: %s", snapshot,
		    strerror(errno));
		return NULL;
	}
	fsync_dir(dir);
	return store_open(dir, sync_full, err, errlen);
}
