/*
 * pidfile.c — DIR/chatd.pid: a write lock (fcntl F_SETLK) held for the
 * whole life of the replica, with the replica's pid as the content, so
 * that two chatd never run on one data directory (one store, one log,
 * two writers: the log would fork).
 *
 * The lock is what counts, not the file: the kernel drops it however the
 * process ends, kill -9 included, so a stale file never blocks a start.
 * The file is never removed: unlinking it would let a third process lock
 * a fresh file while a second still holds the old one. The holder's pid
 * in the message comes from F_GETLK (the kernel's answer), not from the
 * content, which a just-started holder may not have written yet.
 *
 * fcntl locks belong to the process and vanish when any descriptor of the
 * file is closed: nothing else in chatd opens this file, and chatd does
 * not fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "pidfile.h"

#define LOCK_TRIES 3	/* the holder may let go between two calls */

int
pidfile_acquire(const char *dir, char *err, size_t errlen)
{
	struct flock fl;
	char path[4096], pid[32];
	int fd, n, i;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, PIDFILE_NAME) >=
	    sizeof path) {
		seterr(err, errlen, "data directory name too long");
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < LOCK_TRIES; i++) {
		memset(&fl, 0, sizeof fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == 0)
			break;
		if (errno != EAGAIN && errno != EACCES) {
			seterr(err, errlen, "cannot lock %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		fl.l_type = F_WRLCK;
		if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
			seterr(err, errlen, "data directory %s is in use by "
			    "chatd pid %ld (it holds the lock on %s)", dir,
			    (long)fl.l_pid, path);
			close(fd);
			return -1;
		}
	}
	if (i == LOCK_TRIES) {
		seterr(err, errlen, "cannot lock %s: another process keeps "
		    "taking it", path);
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		seterr(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void
pidfile_release(int fd)
{
	if (fd < 0)
		return;
	(void)!ftruncate(fd, 0);
	close(fd);
}
