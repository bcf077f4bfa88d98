/*
 * store_snap.c — whole-store snapshots for replicas whose log cannot be
 * brought up to date record by record (it diverged, or fell behind the
 * pruned part of the primary's log).
 *
 * The primary copies its committed store with SQLite's online backup API
 * into a file that it then streams; the backup writes the stream to a
 * file of its own, checks the digest, and installs it in place of its
 * store: close, remove the old WAL, rename, reopen. The rename is the
 * atomic step: a crash before it leaves the old store, after it the new.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "log.h"
#include "store.h"
#include "store_internal.h"

int
store_backup_to(struct store *s, const char *path, char *err, size_t errlen)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc;

	if (store_in_txn(s)) {
		snprintf(err, errlen, "a transaction is open");
		return -1;
	}
	unlink(path);
	rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errstr(rc));
		sqlite3_close(dst);
		return -1;
	}
	b = sqlite3_backup_init(dst, "main", s->db, "main");
	if (b == NULL) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		sqlite3_close(dst);
		return -1;
	}
	rc = sqlite3_backup_step(b, -1);	/* all pages at once */
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc));
		sqlite3_close(dst);
		return -1;
	}
	/* A self-contained file: no WAL beside it. */
	rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	sqlite3_close(dst);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "backup: cannot leave WAL mode");
		return -1;
	}
	return 0;
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
