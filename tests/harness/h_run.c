/*
 * h_run.c — see h_run.h. fork/exec with close-on-exec pipes; our ends
 * of its outputs are non-blocking and read as they come; the child is
 * reaped with WNOHANG by pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "h_run.h"
#include "net.h"

char *
h_bin_path(const char *prog, char *buf, size_t len)
{
	const char *d = getenv("CHATD_BIN_DIR");

	snprintf(buf, len, "%s/%s", d && *d ? d : "build", prog);
	return buf;
}

char *
h_which(const char *prog, char *buf, size_t len)
{
	const char *p = getenv("PATH");

	while (p && *p) {
		size_t n = strcspn(p, ":");

		snprintf(buf, len, "%.*s/%s", (int)n, p, prog);
		if (n > 0 && access(buf, X_OK) == 0)
			return buf;
		p += n + (p[n] == ':');
	}
	return NULL;
}

/* An empty text for stream s, with room to read into. */
static char *
text_new(struct h_stream *s, int fd)
{
	char *t = malloc(4096 + 1);

	if (t == NULL)
		abort();
	t[0] = '\0';
	s->fd = fd;
	s->len = 0;
	s->cap = 4096;
	return t;
}

/* Read all that stream s holds now into *t; at its end, close it. */
static void
drain(struct h_stream *s, char **t)
{
	while (s->fd >= 0) {
		ssize_t k;

		if (s->cap - s->len < 4096) {
			s->cap *= 2;
			*t = realloc(*t, s->cap + 1);
			if (*t == NULL)
				abort();
		}
		k = read(s->fd, *t + s->len, s->cap - s->len);
		if (k > 0) {
			s->len += (size_t)k;
			(*t)[s->len] = '\0';
		} else if (k < 0 && errno == EINTR) {
			continue;
		} else if (k < 0 && errno == EAGAIN) {
			return;
		} else {
			close(s->fd);
			s->fd = -1;
		}
	}
}

/* Read what p's outputs hold, reap p if it exited (then read what it
 * wrote last). */
static void
collect(struct h_proc *p)
{
	int again = 1;

	while (again) {
		drain(&p->so, &p->out);
		if (p->err != NULL)
			drain(&p->se, &p->err);
		again = p->pid > 0 &&
		    waitpid(p->pid, &p->status, WNOHANG) == p->pid;
		if (again)
			p->pid = 0;
	}
}

int
h_proc_start(struct h_proc *p, const char *path, const char *const argv[],
	     const char *input, const char *const *env, int flags)
{
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, ep[2] = { -1, -1 }, i;

	memset(p, 0, sizeof *p);
	p->status = -1;
	p->in_fd = p->se.fd = -1;
	p->out = text_new(&p->so, -1);
	/* Close-on-exec: another program started meanwhile must not hold
	 * this one's pipes open (its stdin would never end). */
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0 ||
	    ((flags & H_PROC_STDERR) && pipe2(ep, O_CLOEXEC) < 0) ||
	    (p->pid = fork()) < 0) {
		for (i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			if (op[i] >= 0)
				close(op[i]);
			if (ep[i] >= 0)
				close(ep[i]);
		}
		p->pid = 0;
		return -1;
	}
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* dies with the test */
		dup2(in[0], STDIN_FILENO);
		dup2(op[1], STDOUT_FILENO);
		if (flags & H_PROC_STDERR)
			dup2(ep[1], STDERR_FILENO);
		else if (flags & H_PROC_MERGE)
			dup2(op[1], STDERR_FILENO);
		while (env != NULL && *env != NULL)
			putenv((char *)*env++);
		execvp(path, (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	p->so.fd = op[0];
	fcntl(op[0], F_SETFL, O_NONBLOCK);
	if (flags & H_PROC_STDERR) {
		close(ep[1]);
		p->err = text_new(&p->se, ep[0]);
		fcntl(ep[0], F_SETFL, O_NONBLOCK);
	}
	/* Inputs are a few lines: they fit in the pipe. */
	if (input != NULL && write(in[1], input, strlen(input)) < 0)
		fprintf(stderr, "write to %s: %s\n", path, strerror(errno));
	if (flags & H_PROC_STDIN)
		p->in_fd = in[1];
	else
		close(in[1]);
	return 0;
}

int
h_proc_send(struct h_proc *p, const char *line)
{
	size_t n = strlen(line);

	if (p->in_fd < 0 || write(p->in_fd, line, n) != (ssize_t)n ||
	    write(p->in_fd, "\n", 1) != 1)
		return -1;
	return 0;
}

int
h_proc_poll(struct h_proc *p, int timeout_ms)
{
	struct pollfd pfd[2];
	int n = 0;

	if (p->so.fd >= 0)
		pfd[n++] = (struct pollfd){ p->so.fd, POLLIN, 0 };
	if (p->se.fd >= 0)
		pfd[n++] = (struct pollfd){ p->se.fd, POLLIN, 0 };
	if (timeout_ms > 0 && (n > 0 || p->pid > 0))
		poll(n > 0 ? pfd : NULL, (nfds_t)n, timeout_ms);
	collect(p);
	return p->pid == 0;
}

int
h_proc_expect(struct h_proc *p, const char *needle, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;

	while (strstr(p->out, needle) == NULL) {
		uint64_t now = mono_ms();

		if (now >= deadline || p->so.fd < 0)
			return -1;
		h_proc_poll(p, (int)(deadline - now));
	}
	return 0;
}

void
h_proc_wait_all(struct h_proc *ps, int n, uint64_t deadline)
{
	int i;

	for (i = 0; i < n; i++)
		if (ps[i].in_fd >= 0) {
			close(ps[i].in_fd);
			ps[i].in_fd = -1;
		}
	for (;;) {
		uint64_t now;
		int left = 0, first = -1;

		for (i = 0; i < n; i++)
			if (!h_proc_poll(&ps[i], 0)) {
				left++;
				first = first < 0 ? i : first;
			}
		now = mono_ms();
		if (left == 0 || now >= deadline)
			break;
		/* The period of a poll on exits; output wakes it sooner. */
		h_proc_poll(&ps[first], deadline - now < 10 ?
		    (int)(deadline - now) : 10);
	}
	for (i = 0; i < n; i++) {
		if (ps[i].pid > 0) {
			kill(ps[i].pid, SIGKILL);
			waitpid(ps[i].pid, NULL, 0);
			ps[i].pid = 0;
			ps[i].status = -1;
			collect(&ps[i]);
		}
		if (ps[i].so.fd >= 0)
			close(ps[i].so.fd);
		if (ps[i].se.fd >= 0)
			close(ps[i].se.fd);
		ps[i].so.fd = ps[i].se.fd = -1;
	}
}

int
h_proc_finish(struct h_proc *p, int timeout_ms)
{
	h_proc_wait_all(p, 1, mono_ms() + (uint64_t)timeout_ms);
	return p->status != -1 && WIFEXITED(p->status) ?
	    WEXITSTATUS(p->status) : -1;
}

int
h_run(const char *path, const char *const argv[], const char *input,
      char **out, char **err, int timeout_ms)
{
	struct h_proc p;
	int rc = -1;

	if (h_proc_start(&p, path, argv, input, NULL,
	    err ? H_PROC_STDERR : 0) == 0) {
		rc = h_proc_finish(&p, timeout_ms);
		if (p.status == -1)
			fprintf(stderr, "%s: no exit within %d ms\n", path,
			    timeout_ms);
	}
	*out = p.out;
	if (err)
		*err = p.err ? p.err : strdup("");
	return rc;
}

int
h_run_bin(const char *prog, const char *const argv[], const char *input,
	  char **out, int timeout_ms)
{
	char path[1024];

	return h_run(h_bin_path(prog, path, sizeof path), argv, input, out,
	    NULL, timeout_ms);
}
