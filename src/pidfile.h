/*
 * pidfile.h — the lock that keeps one chatd per data directory.
 */
#ifndef CHATD_PIDFILE_H
#define CHATD_PIDFILE_H

#include <stddef.h>

#define PIDFILE_NAME "chatd.pid"

/*
 * Open DIR/chatd.pid (DIR must exist), lock it for the life of the
 * process and write our pid into it. The descriptor (keep it open), or -1
 * with err: "DIR is in use by chatd pid N" when another process holds
 * the lock, else what failed.
 */
int  pidfile_acquire(const char *dir, char *err, size_t errlen);
/* Empty the file and drop the lock (a clean stop). */
void pidfile_release(int fd);

#endif
