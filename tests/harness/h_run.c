/*
 * h_run.c — see h_run.h. fork/exec with pipes; both outputs are drained
 * with poll() so a program that writes much to one while we wait on the
 * other cannot block; the child is waited for by pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "h_run.h"
#include "net.h"

struct sink {
	int    fd;
	char  *buf;
	size_t len, cap;
};

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

/* Read what is there; 0, or -1 at EOF (the fd is closed). */
static int
drain(struct sink *s)
{
	ssize_t k;

	if (s->cap - s->len < 4096) {
		s->cap = s->cap ? s->cap * 2 : 8192;
		s->buf = realloc(s->buf, s->cap + 1);
		if (s->buf == NULL)
			abort();
	}
	k = read(s->fd, s->buf + s->len, s->cap - s->len);
	if (k < 0 && errno == EINTR)
		return 0;
	if (k <= 0) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->len += (size_t)k;
	return 0;
}

static char *
take(struct sink *s)
{
	if (s->buf == NULL) {
		s->buf = malloc(1);
		if (s->buf == NULL)
			abort();
	}
	s->buf[s->len] = '\0';
	if (s->fd >= 0)
		close(s->fd);
	return s->buf;
}

int
h_run(const char *path, const char *const argv[], const char *input,
      char **out, char **err, int timeout_ms)
{
	struct sink so = { -1, NULL, 0, 0 }, se = { -1, NULL, 0, 0 };
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	int in[2], op[2], ep[2] = { -1, -1 }, status = 0, killed = 0;
	pid_t pid;

	/* Close-on-exec: a program started meanwhile (a live client) must
	 * not hold our ends open. */
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0 ||
	    (err && pipe2(ep, O_CLOEXEC) < 0))
		abort();
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(op[1], STDOUT_FILENO);
		if (err)
			dup2(ep[1], STDERR_FILENO);
		execvp(path, (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	so.fd = op[0];
	if (err) {
		close(ep[1]);
		se.fd = ep[0];
	}
	/* Inputs are a few lines: they fit in the pipe. */
	if (input != NULL && write(in[1], input, strlen(input)) < 0)
		fprintf(stderr, "write to %s: %s\n", path, strerror(errno));
	close(in[1]);
	while (so.fd >= 0 || se.fd >= 0) {
		struct pollfd p[2] = { { so.fd, POLLIN, 0 }, { se.fd, POLLIN, 0 } };
		int64_t left = (int64_t)(deadline - mono_ms());

		if (left <= 0 || poll(p, 2, (int)left) <= 0)
			break;
		if (p[0].revents)
			drain(&so);
		if (p[1].revents)
			drain(&se);
	}
	*out = take(&so);
	if (err)
		*err = take(&se);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "%s: no exit within %d ms\n", path,
			    timeout_ms);
			killed = 1;
			break;
		}
		poll(NULL, 0, 10);	/* outputs closed: exit is near */
	}
	return !killed && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
h_run_bin(const char *prog, const char *const argv[], const char *input,
	  char **out, int timeout_ms)
{
	char path[1024];

	return h_run(h_bin_path(prog, path, sizeof path), argv, input, out,
	    NULL, timeout_ms);
}
