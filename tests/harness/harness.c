/*
 * harness.c — see harness.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "harness.h"
#include "wire.h"

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *
bin_dir(void)
{
	const char *d = getenv("CHATD_BIN_DIR");

	return d && *d ? d : "build";
}

/* A loopback port nobody listens on right now. */
static uint16_t
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	uint16_t port = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
port_accepts(uint16_t port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

int
h_cluster_create(struct h_cluster *c, int n, const char *extra)
{
	char dir[sizeof c->dir];
	FILE *f;
	int i, j;

	memset(c, 0, sizeof *c);
	if (n < 1 || n > H_MAX_REPLICAS)
		return -1;
	snprintf(c->dir, sizeof c->dir, "/tmp/chatd-test-XXXXXX");
	if (mkdtemp(c->dir) == NULL)
		return -1;
	c->n = n;
	snprintf(dir, sizeof dir, "%s", c->dir);
	for (i = 0; i < n; i++) {
		struct h_replica *r = &c->r[i];

		r->id = (uint32_t)(i + 1);
		/* Distinct ports even if the kernel hands one out twice. */
		do {
			r->client_port = free_port();
			r->internal_port = free_port();
			for (j = 0; j < i; j++)
				if (c->r[j].client_port == r->client_port ||
				    c->r[j].internal_port == r->internal_port ||
				    c->r[j].client_port == r->internal_port ||
				    c->r[j].internal_port == r->client_port)
					break;
		} while (r->client_port == 0 || r->internal_port == 0 ||
		    r->client_port == r->internal_port || j < i);
		/* From a copy: gcc cannot tell c->dir and r->* apart. */
		snprintf(r->data_dir, sizeof r->data_dir, "%s/replica-%d",
		    dir, i + 1);
		snprintf(r->log_path, sizeof r->log_path, "%s/replica-%d.log",
		    dir, i + 1);
	}
	snprintf(c->conf_path, sizeof c->conf_path, "%s/replicas.conf", c->dir);
	f = fopen(c->conf_path, "w");
	if (f == NULL)
		return -1;
	for (i = 0; i < n; i++)
		fprintf(f, "replica %u 127.0.0.1 %u %u\n", c->r[i].id,
		    c->r[i].client_port, c->r[i].internal_port);
	fprintf(f, "heartbeat_ms 20\nelection_timeout_ms 300\n"
	    "client_timeout_ms 1500\ndata_dir %s\n", c->dir);
	if (extra)
		fprintf(f, "%s\n", extra);
	fclose(f);
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
h_cluster_destroy(struct h_cluster *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (c->r[i].pid > 0)
			h_replica_stop(c, i, SIGKILL);
	if (c->dir[0] && getenv("CHATD_KEEP_TEST_DIR") == NULL)
		nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
h_replica_dump_log(const struct h_cluster *c, int i)
{
	char line[1024];
	FILE *f = fopen(c->r[i].log_path, "r");
	long size;

	if (f == NULL)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	/* The last 8 KiB is enough to see why it failed. */
	fseek(f, size > 8192 ? size - 8192 : 0, SEEK_SET);
	fprintf(stderr, "---- log of replica %d (%s) ----\n", i + 1,
	    c->r[i].log_path);
	while (fgets(line, sizeof line, f))
		fputs(line, stderr);
	fclose(f);
}

int
h_replica_start(struct h_cluster *c, int i)
{
	struct h_replica *r = &c->r[i];
	char id[16], path[600];
	uint64_t deadline;
	pid_t pid;

	snprintf(id, sizeof id, "%u", r->id);
	snprintf(path, sizeof path, "%s/chatd", bin_dir());
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(r->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int nul = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		execl(path, "chatd", "-c", c->conf_path, "-i", id, "-v",
		    (char *)NULL);
		_exit(127);
	}
	r->pid = pid;
	deadline = now_ms() + 10000;
	while (now_ms() < deadline) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			r->pid = 0;
			fprintf(stderr, "replica %u exited at start\n", r->id);
			h_replica_dump_log(c, i);
			return -1;
		}
		if (port_accepts(r->client_port))
			return 0;
		poll(NULL, 0, 5);	/* polling an observable state */
	}
	fprintf(stderr, "replica %u did not open its port\n", r->id);
	h_replica_dump_log(c, i);
	return -1;
}

int
h_replica_stop(struct h_cluster *c, int i, int sig)
{
	struct h_replica *r = &c->r[i];
	uint64_t deadline;
	int status;

	if (r->pid <= 0)
		return -1;
	kill(r->pid, sig);
	deadline = now_ms() + 10000;
	while (now_ms() < deadline) {
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			r->pid = 0;
			return status;
		}
		poll(NULL, 0, 5);
	}
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &status, 0);
	r->pid = 0;
	fprintf(stderr, "replica %u ignored signal %d for 10 s\n", r->id, sig);
	return -1;
}

/* ---- clients ------------------------------------------------------------ */

static void
append(struct h_chat *ch, const char *p, size_t n)
{
	if (ch->len + n + 1 > ch->cap) {
		size_t cap = ch->cap ? ch->cap : 4096;
		while (cap < ch->len + n + 1)
			cap *= 2;
		ch->out = realloc(ch->out, cap);
		if (ch->out == NULL)
			abort();
		ch->cap = cap;
	}
	memcpy(ch->out + ch->len, p, n);
	ch->len += n;
	ch->out[ch->len] = '\0';
}

/* Read what is available within timeout_ms; 0 data or timeout, -1 EOF. */
static int
pump(struct h_chat *ch, int timeout_ms)
{
	struct pollfd pfd = { ch->out_fd, POLLIN, 0 };
	char tmp[4096];
	ssize_t n;

	if (ch->out_fd < 0)
		return -1;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	n = read(ch->out_fd, tmp, sizeof tmp);
	if (n <= 0) {
		close(ch->out_fd);
		ch->out_fd = -1;
		return -1;
	}
	append(ch, tmp, (size_t)n);
	return 0;
}

int
h_chat_spawn(const struct h_cluster *c, struct h_chat *ch)
{
	int in[2], out[2];
	char path[600];

	memset(ch, 0, sizeof *ch);
	/* Close-on-exec: a client spawned later must not inherit this one's
	 * stdin, or this one would never see end of input. */
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/chat", bin_dir());
	ch->pid = fork();
	if (ch->pid < 0)
		return -1;
	if (ch->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execl(path, "chat", "-c", c->conf_path, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	ch->in_fd = in[1];
	ch->out_fd = out[0];
	append(ch, "", 0);
	return 0;
}

int
h_chat_send(struct h_chat *ch, const char *line)
{
	size_t n = strlen(line);

	if (write(ch->in_fd, line, n) != (ssize_t)n ||
	    write(ch->in_fd, "\n", 1) != 1)
		return -1;
	return 0;
}

int
h_chat_wait(struct h_chat *ch, const char *needle, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	while (strstr(ch->out, needle) == NULL) {
		uint64_t now = now_ms();

		if (now >= deadline || pump(ch, (int)(deadline - now)) < 0)
			return strstr(ch->out, needle) ? 0 : -1;
	}
	return 0;
}

int
h_chat_finish(struct h_chat *ch, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	int status;

	if (ch->in_fd >= 0) {
		close(ch->in_fd);
		ch->in_fd = -1;
	}
	while (now_ms() < deadline) {
		pump(ch, 10);
		if (waitpid(ch->pid, &status, WNOHANG) == ch->pid) {
			while (pump(ch, 0) == 0 && ch->out_fd >= 0)
				;
			if (ch->out_fd >= 0)
				close(ch->out_fd);
			ch->out_fd = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
	}
	kill(ch->pid, SIGKILL);
	waitpid(ch->pid, &status, 0);
	if (ch->out_fd >= 0)
		close(ch->out_fd);
	ch->out_fd = -1;
	return -1;
}

int
h_chat_run(const struct h_cluster *c, const char *script, char **out,
	   int timeout_ms)
{
	struct h_chat ch;
	int rc;

	if (h_chat_spawn(c, &ch) < 0)
		return -1;
	/* Scripts are small: they fit in the pipe buffer. */
	if (write(ch.in_fd, script, strlen(script)) < 0) {
		h_chat_finish(&ch, 0);
		free(ch.out);
		return -1;
	}
	rc = h_chat_finish(&ch, timeout_ms);
	*out = ch.out;
	return rc;
}

int
h_count(const char *hay, const char *needle)
{
	int n = 0;
	size_t len = strlen(needle);

	if (len == 0)
		return 0;
	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += len;
	}
	return n;
}

/* ---- raw protocol -------------------------------------------------------- */

int
h_raw_write(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = write(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

int
h_raw_send(int fd, uint16_t op, uint32_t request_id, const void *msg)
{
	struct buf b;
	int rc;

	buf_init(&b);
	wire_encode(&b, op, request_id, msg);
	rc = h_raw_write(fd, buf_head(&b), buf_pending(&b));
	buf_free(&b);
	return rc;
}

/* Read exactly n bytes before the deadline. */
static int
read_full(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		uint64_t now = now_ms();
		ssize_t k;

		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
			return -1;
		k = read(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int
h_raw_recv(int fd, struct wire_header *h, struct buf *payload, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	uint8_t hdr[WIRE_HEADER_SIZE];

	if (read_full(fd, hdr, sizeof hdr, deadline) < 0)
		return -1;
	/* The payload is not read yet: OK (empty) or INCOMPLETE are fine. */
	if (wire_peek_header(hdr, sizeof hdr, WIRE_MAX_PAYLOAD_CLIENT, h) < 0)
		return -1;
	buf_reset(payload);
	if (h->length && read_full(fd, buf_reserve(payload, h->length),
	    h->length, deadline) < 0)
		return -1;
	payload->len += h->length;
	return 0;
}

int
h_raw_closed(int fd, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	char tmp[4096];

	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		uint64_t now = now_ms();
		ssize_t k;

		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
			return 0;
		k = read(fd, tmp, sizeof tmp);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return 1;
		if (k < 0)
			return 0;
	}
}

int
h_raw_connect(uint16_t port, int flags)
{
	int small = 4096;
	struct sockaddr_in a;
	struct wire_HELLO m;
	struct wire_header h;
	struct buf b;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (flags & H_RAW_SMALL_RCVBUF)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	if (!(flags & H_RAW_HELLO))
		return fd;
	memset(&m, 0, sizeof m);
	m.version_min = WIRE_VERSION_MIN;
	m.version_max = WIRE_VERSION_MAX;
	m.kind = 1;
	snprintf(m.software, sizeof m.software, "harness");
	buf_init(&b);
	if (h_raw_send(fd, WIRE_OP_HELLO, 1, &m) < 0 ||
	    h_raw_recv(fd, &h, &b, 5000) < 0 || h.opcode != WIRE_OP_HELLO) {
		buf_free(&b);
		close(fd);
		return -1;
	}
	buf_free(&b);
	return fd;
}
