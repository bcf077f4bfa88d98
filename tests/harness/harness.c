/*
 * harness.c — see harness.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "h_run.h"
#include "harness.h"
#include "net.h"
#include "store.h"
#include "wire.h"

/*
 * A loopback port nobody listens on right now, chosen at random below the
 * kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 up by
 * default): a port from bind(0) can be handed out again as the local port
 * of some outgoing connection before the replica binds it ("Address
 * already in use"), which with many tests running at once happens.
 */
#define H_PORT_LO 20000
#define H_PORT_HI 32000

static uint16_t
free_port(void)
{
	static unsigned seed;
	struct sockaddr_in a;
	int tries, one = 1;

	if (seed == 0)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (tries = 0; tries < 200; tries++) {
		uint16_t port = (uint16_t)(H_PORT_LO +
		    rand_r(&seed) % (H_PORT_HI - H_PORT_LO));
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		if (fd < 0)
			return 0;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons(port);
		ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
		close(fd);
		if (ok)
			return port;
	}
	return 0;
}

/* The address a replica listens on. */
static const char *
replica_host(const struct h_replica *r)
{
	return r->host[0] ? r->host : "127.0.0.1";
}

/* A TCP connection to host:port (IPv4), or -1. */
static int
tcp_connect(const char *host, uint16_t port, int rcvbuf)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
port_accepts(const char *host, uint16_t port)
{
	int fd = tcp_connect(host, port, 0);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* Write c->conf_path: one line per replica, the test timings, extra. */
static int
write_conf(const struct h_cluster *c, const char *extra)
{
	FILE *f = fopen(c->conf_path, "w");
	int i;

	if (f == NULL)
		return -1;
	for (i = 0; i < c->n; i++)
		fprintf(f, "replica %u %s %u %u\n", c->r[i].id,
		    replica_host(&c->r[i]), c->r[i].client_port,
		    c->r[i].internal_port);
	/* The shipped election timeout: a replica takes a stall of half of
	 * it for a pause (a primary steps down), and a loaded CI machine
	 * can stall a loop for 150 ms (one slow fsync) where it rarely does
	 * for 250. Heartbeats faster than shipped keep the tests short. */
	fprintf(f, "heartbeat_ms 20\nelection_timeout_ms 500\n"
	    "client_timeout_ms 1500\ndata_dir %s\n", c->dir);
	if (extra)
		fprintf(f, "%s\n", extra);
	return fclose(f) == 0 ? 0 : -1;
}

/* Slot i's id (i+1), data directory and log under c->dir. */
static void
slot_paths(struct h_cluster *c, int i)
{
	struct h_replica *r = &c->r[i];
	char dir[sizeof c->dir];

	memset(r, 0, sizeof *r);
	r->id = (uint32_t)(i + 1);
	/* From a copy: gcc cannot tell c->dir and r->* apart. */
	snprintf(dir, sizeof dir, "%s", c->dir);
	snprintf(r->data_dir, sizeof r->data_dir, "%s/replica-%d", dir, i + 1);
	snprintf(r->log_path, sizeof r->log_path, "%s/replica-%d.log", dir,
	    i + 1);
}

/* Two free loopback ports for slot i that no other slot uses (even if
 * the kernel hands one out twice). */
static void
slot_ports(struct h_cluster *c, int i)
{
	struct h_replica *r = &c->r[i];
	int j;

	do {
		r->client_port = free_port();
		r->internal_port = free_port();
		for (j = 0; j < c->n; j++)
			if (j != i &&
			    (c->r[j].client_port == r->client_port ||
			    c->r[j].internal_port == r->internal_port ||
			    c->r[j].client_port == r->internal_port ||
			    c->r[j].internal_port == r->client_port))
				break;
	} while (r->client_port == 0 || r->internal_port == 0 ||
	    r->client_port == r->internal_port || j < c->n);
}

/* The directory, ids and paths of n replicas (no ports, no config). */
static int
cluster_dirs(struct h_cluster *c, int n)
{
	int i;

	memset(c, 0, sizeof *c);
	if (n < 1 || n > H_MAX_REPLICAS)
		return -1;
	snprintf(c->dir, sizeof c->dir, "/tmp/chatd-test-XXXXXX");
	if (mkdtemp(c->dir) == NULL)
		return -1;
	c->n = n;
	for (i = 0; i < n; i++)
		slot_paths(c, i);
	snprintf(c->conf_path, sizeof c->conf_path, "%s/replicas.conf", c->dir);
	return 0;
}

int
h_cluster_create(struct h_cluster *c, int n, const char *extra)
{
	int i;

	if (cluster_dirs(c, n) < 0)
		return -1;
	for (i = 0; i < n; i++)
		slot_ports(c, i);
	return write_conf(c, extra);
}

int
h_cluster_create_hosts(struct h_cluster *c, int n, const char *const *hosts,
		       uint16_t client_port, uint16_t internal_port,
		       const char *extra)
{
	int i;

	if (cluster_dirs(c, n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct h_replica *r = &c->r[i];

		if (strlen(hosts[i]) >= sizeof r->host)
			return -1;
		snprintf(r->host, sizeof r->host, "%s", hosts[i]);
		r->client_port = client_port;
		r->internal_port = internal_port;
	}
	return write_conf(c, extra);
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

/* In the child: exec "[exec_prefix...] chatd -c CONF -i ID -v [extra...]". */
static void
exec_replica(const struct h_replica *r, const char *path, const char *conf,
	     const char *id, const char *const *extra)
{
	char words[sizeof r->exec_prefix], *argv[48], *save = NULL, *w;
	int n = 0, prefixed;

	snprintf(words, sizeof words, "%s", r->exec_prefix);
	for (w = strtok_r(words, " ", &save); w && n < 24;
	    w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	prefixed = n > 0;
	argv[n++] = (char *)(prefixed ? path : "chatd");
	argv[n++] = (char *)"-c";
	argv[n++] = (char *)conf;
	argv[n++] = (char *)"-i";
	argv[n++] = (char *)id;
	argv[n++] = (char *)"-v";
	while (extra && *extra && n < 46)
		argv[n++] = (char *)*extra++;
	argv[n] = NULL;
	if (prefixed)
		execvp(argv[0], argv);
	else
		execv(path, argv);
}

int
h_replica_start(struct h_cluster *c, int i)
{
	return h_replica_start_args(c, i, NULL);
}

int
h_replica_start_args(struct h_cluster *c, int i, const char *const *extra)
{
	struct h_replica *r = &c->r[i];
	char id[16], path[600];
	uint64_t deadline;
	pid_t pid, parent = getpid();

	snprintf(id, sizeof id, "%u", r->id);
	h_bin_path("chatd", path, sizeof path);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(r->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int nul = open("/dev/null", O_RDWR);

		/* Die with the test, even one that failed before its
		 * cleanup: no replica outlives the run. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);

		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		exec_replica(r, path, c->conf_path, id, extra);
		_exit(127);
	}
	r->pid = pid;
	r->paused = 0;
	deadline = mono_ms() + 10000;
	while (mono_ms() < deadline) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			r->pid = 0;
			fprintf(stderr, "replica %u exited at start\n", r->id);
			h_replica_dump_log(c, i);
			return -1;
		}
		if (port_accepts(replica_host(r), r->client_port))
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
	if (r->paused) {
		kill(r->pid, SIGCONT);
		r->paused = 0;
	}
	deadline = mono_ms() + 10000;
	while (mono_ms() < deadline) {
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

int
h_chat_spawn(const struct h_cluster *c, struct h_proc *ch)
{
	return h_chat_spawn_args(c, ch, NULL);
}

/* argv of "PROG -c CONF args..." (argv[0] prog's last component; args
 * NULL-terminated, at most H_CHAT_MAX_ARGS, or NULL). */
static void
cluster_argv(const char **argv, const struct h_cluster *c, const char *prog,
	     const char *const *args)
{
	const char *name = strrchr(prog, '/');
	int n = 0;

	argv[n++] = name ? name + 1 : prog;
	argv[n++] = "-c";
	argv[n++] = c->conf_path;
	while (args != NULL && *args != NULL && n < H_CHAT_MAX_ARGS + 3)
		argv[n++] = *args++;
	argv[n] = NULL;
}

int
h_chat_spawn_args(const struct h_cluster *c, struct h_proc *ch,
		  const char *const *args)
{
	const char *argv[H_CHAT_MAX_ARGS + 4];
	char path[600];

	cluster_argv(argv, c, "chat", args);
	return h_proc_start(ch, h_bin_path("chat", path, sizeof path), argv,
	    NULL, NULL, H_PROC_STDIN);
}

int
h_chat_run(const struct h_cluster *c, const char *script, char **out,
	   int timeout_ms)
{
	return h_cluster_run(c, "chat", NULL, script, out, timeout_ms);
}

int
h_cluster_run(const struct h_cluster *c, const char *prog,
	      const char *const *args, const char *input, char **out,
	      int timeout_ms)
{
	const char *argv[H_CHAT_MAX_ARGS + 4];

	cluster_argv(argv, c, prog, args);
	return h_run_bin(prog, argv, input, out, timeout_ms);
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
		uint64_t now = mono_ms();
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
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
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
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	char tmp[4096];

	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		uint64_t now = mono_ms();
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

/* h_raw_connect with a bound on the HELLO answer, to any host. */
static int
raw_connect(const char *host, uint16_t port, int flags, int timeout_ms)
{
	struct wire_HELLO m;
	struct wire_header h;
	struct buf b;
	int fd = tcp_connect(host, port,
	    flags & H_RAW_SMALL_RCVBUF ? 4096 : 0);

	if (fd < 0)
		return -1;
	if (!(flags & H_RAW_HELLO))
		return fd;
	memset(&m, 0, sizeof m);
	m.version_min = WIRE_VERSION_MIN;
	m.version_max = WIRE_VERSION_MAX;
	m.kind = 1;
	snprintf(m.software, sizeof m.software, "harness");
	buf_init(&b);
	if (h_raw_send(fd, WIRE_OP_HELLO, 1, &m) < 0 ||
	    h_raw_recv(fd, &h, &b, timeout_ms) < 0 ||
	    h.opcode != WIRE_OP_HELLO) {
		buf_free(&b);
		close(fd);
		return -1;
	}
	buf_free(&b);
	return fd;
}

int
h_raw_connect(uint16_t port, int flags)
{
	return raw_connect("127.0.0.1", port, flags, 5000);
}

int
h_raw_connect_replica(const struct h_cluster *c, int i, int flags)
{
	return raw_connect(replica_host(&c->r[i]), c->r[i].client_port, flags,
	    5000);
}

/* ---- replication ---------------------------------------------------------- */

static void
sleep_ms(int ms)
{
	poll(NULL, 0, ms);	/* the period of a poll on observable state */
}

int
h_index_of(const struct h_cluster *c, uint32_t id)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (c->r[i].id == id)
			return i;
	return -1;
}

int
h_running(const struct h_cluster *c, int i)
{
	return i >= 0 && i < c->n && c->r[i].pid > 0 && !c->r[i].paused &&
	    !c->r[i].cut;
}

/* Connect to replica i's client port and HELLO within timeout_ms. fd or
 * -1. */
static int
connect_hello(const struct h_cluster *c, int i, int timeout_ms)
{
	return raw_connect(replica_host(&c->r[i]), c->r[i].client_port,
	    H_RAW_HELLO, timeout_ms);
}

int
h_status(const struct h_cluster *c, int i, struct h_status *out,
	 int timeout_ms)
{
	const struct wire_opdesc *d = wire_op(WIRE_OP_STATUS_INFO);
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	struct wire_STATUS_INFO st;
	struct wire_STATUS req;
	struct wire_list_iter it;
	struct wire_item_MEMBER mb;
	struct wire_header h;
	struct buf b;
	int fd, rc = -1;

	memset(out, 0, sizeof *out);
	if (i < 0 || i >= c->n || c->r[i].pid <= 0)
		return -1;
	fd = connect_hello(c, i, timeout_ms);
	if (fd < 0)
		return -1;
	buf_init(&b);
	memset(&req, 0, sizeof req);
	if (h_raw_send(fd, WIRE_OP_STATUS, 2, &req) < 0)
		goto out;
	for (;;) {
		uint64_t now = mono_ms();

		if (now >= deadline ||
		    h_raw_recv(fd, &h, &b, (int)(deadline - now)) < 0)
			goto out;
		if (h.request_id == 2)
			break;
	}
	if (h.opcode != WIRE_OP_STATUS_INFO ||
	    wire_decode(d, buf_head(&b), buf_pending(&b), &st, NULL) < 0)
		goto out;
	out->replica_id = st.replica_id;
	out->role = st.role;
	out->epoch = st.epoch;
	out->primary_id = st.primary_id;
	out->last_epoch = st.last_epoch;
	out->last_lsn = st.last_lsn;
	out->commit_lsn = st.commit_lsn;
	out->clients = st.clients;
	out->waiting_for = st.waiting_for;
	out->uptime_ms = st.uptime_ms;
	snprintf(out->note, sizeof out->note, "%s", st.note);
	/* The list points into b: copy the ids out before b goes. */
	wire_list_begin(&it, d, &st.isr);
	while (wire_list_next(&it, &mb))
		if (out->nisr < H_MAX_ISR)
			out->isr[out->nisr++] = mb.id;
	rc = 0;
out:
	buf_free(&b);
	close(fd);
	return rc;
}

int
h_status_isr_has(const struct h_status *st, uint32_t id)
{
	unsigned k;

	for (k = 0; k < st->nisr; k++)
		if (st->isr[k] == id)
			return 1;
	return 0;
}

static const char *
role_str(int role)
{
	static const char *const names[] = { "starting", "primary", "backup",
	    "electing", "waiting" };

	return role >= 0 && role <= 4 ? names[role] : "?";
}

void
h_cluster_describe(const struct h_cluster *c, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < c->n && n < len; i++) {
		struct h_status st;
		char isr[64];
		size_t k = 0;
		unsigned j;

		if (c->r[i].pid <= 0) {
			n += (size_t)snprintf(buf + n, len - n, "[r%u down] ",
			    c->r[i].id);
			continue;
		}
		if (c->r[i].paused || c->r[i].cut) {
			n += (size_t)snprintf(buf + n, len - n, "[r%u %s] ",
			    c->r[i].id, c->r[i].paused ? "paused" : "cut off");
			continue;
		}
		if (h_status(c, i, &st, 1000) < 0) {
			n += (size_t)snprintf(buf + n, len - n,
			    "[r%u no STATUS] ", c->r[i].id);
			continue;
		}
		isr[0] = '\0';
		for (j = 0; j < st.nisr && k < sizeof isr; j++)
			k += (size_t)snprintf(isr + k, sizeof isr - k, "%s%u",
			    j ? "," : "", st.isr[j]);
		n += (size_t)snprintf(buf + n, len - n, "[r%u %s epoch=%llu "
		    "primary=%u log=(%llu,%llu) commit=%llu isr={%s} "
		    "waiting_for=%u note=\"%s\"] ", st.replica_id,
		    role_str(st.role), (unsigned long long)st.epoch,
		    st.primary_id, (unsigned long long)st.last_epoch,
		    (unsigned long long)st.last_lsn,
		    (unsigned long long)st.commit_lsn, isr, st.waiting_for,
		    st.note);
	}
}

/* One look: the index of the primary every running replica agrees on,
 * or -1. */
static int
agreed_primary(const struct h_cluster *c)
{
	struct h_status st[H_MAX_REPLICAS];
	int i, primary = -1;

	for (i = 0; i < c->n; i++) {
		if (!h_running(c, i))
			continue;
		if (h_status(c, i, &st[i], 1000) < 0)
			return -1;
		if (st[i].role == H_ROLE_PRIMARY) {
			if (primary >= 0)
				return -1;	/* two claim it */
			primary = i;
		}
	}
	if (primary < 0)
		return -1;
	for (i = 0; i < c->n; i++)
		if (h_running(c, i) && i != primary &&
		    (st[i].role != H_ROLE_BACKUP ||
		    st[i].primary_id != c->r[primary].id ||
		    st[i].epoch != st[primary].epoch))
			return -1;
	return primary;
}

int
h_wait_primary(struct h_cluster *c, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		int p = agreed_primary(c);

		if (p >= 0)
			return p;
		if (mono_ms() >= deadline)
			return -1;
		sleep_ms(20);
	}
}

int
h_wait_isr(struct h_cluster *c, int primary, int want_n, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	struct h_status st;

	for (;;) {
		if (h_status(c, primary, &st, 1000) == 0 &&
		    st.role == H_ROLE_PRIMARY && st.nisr == (unsigned)want_n)
			return 0;
		if (mono_ms() >= deadline)
			return -1;
		sleep_ms(20);
	}
}

int
h_wait_converged(struct h_cluster *c, int primary, int want_isr,
		 int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct h_status p, st;
		int i, ok = h_status(c, primary, &p, 1000) == 0 &&
		    p.role == H_ROLE_PRIMARY && p.nisr == (unsigned)want_isr &&
		    p.commit_lsn == p.last_lsn;

		for (i = 0; ok && i < c->n; i++)
			if (i != primary && h_running(c, i))
				ok = h_status(c, i, &st, 1000) == 0 &&
				    st.role == H_ROLE_BACKUP &&
				    st.last_epoch == p.last_epoch &&
				    st.last_lsn == p.last_lsn;
		if (ok)
			return 0;
		if (mono_ms() >= deadline)
			return -1;
		sleep_ms(20);
	}
}

int
h_replica_pause(struct h_cluster *c, int i)
{
	struct h_replica *r = &c->r[i];
	int status;

	if (r->pid <= 0 || r->paused || kill(r->pid, SIGSTOP) < 0)
		return -1;
	/* The kernel reports the stop to the parent: observable state. */
	if (waitpid(r->pid, &status, WUNTRACED) != r->pid)
		return -1;
	if (!WIFSTOPPED(status)) {
		r->pid = 0;		/* it died instead, and is reaped */
		return -1;
	}
	r->paused = 1;
	return 0;
}

int
h_replica_resume(struct h_cluster *c, int i)
{
	struct h_replica *r = &c->r[i];
	int status;

	if (r->pid <= 0 || !r->paused || kill(r->pid, SIGCONT) < 0)
		return -1;
	if (waitpid(r->pid, &status, WCONTINUED) != r->pid ||
	    !WIFCONTINUED(status))
		return -1;
	r->paused = 0;
	return 0;
}

void
h_cluster_stop_all(struct h_cluster *c, int sig)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (c->r[i].pid > 0) {
			kill(c->r[i].pid, sig);
			if (c->r[i].paused)
				kill(c->r[i].pid, SIGCONT);
		}
	for (i = 0; i < c->n; i++)
		if (c->r[i].pid > 0)
			h_replica_stop(c, i, sig);	/* waits; signals again */
}

int
h_cluster_stop_quiescent(struct h_cluster *c, int first, int sig)
{
	int i, k, rc = 0;

	for (i = 0; i < c->n; i++)
		if (h_running(c, i) && h_replica_pause(c, i) < 0)
			rc = -1;
	for (k = -1; k < c->n; k++) {
		int status;

		i = k < 0 ? first : k;
		if (k == first || i < 0 || c->r[i].pid <= 0)
			continue;
		/* h_replica_stop sends sig, then SIGCONT: the stop is
		 * pending when it runs again, and the others are frozen. */
		status = h_replica_stop(c, i, sig);
		if (status == -1 || (sig != SIGKILL && (!WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)))
			rc = -1;
	}
	return rc;
}

/* A log line without its timestamp (the text up to the first space). */
static const char *
untimed(const char *line)
{
	const char *sp = strchr(line, ' ');

	return sp ? sp : line;
}

void
h_replica_dump_events(const struct h_cluster *c, int i, int max_lines)
{
	char line[1024], prev[1024] = "", **ring;
	FILE *f = fopen(c->r[i].log_path, "r");
	long n = 0, k, repeats = 0;

	if (f == NULL || max_lines <= 0) {
		if (f)
			fclose(f);
		return;
	}
	ring = calloc((size_t)max_lines, sizeof *ring);
	if (ring == NULL) {
		fclose(f);
		return;
	}
	/* Keep the last max_lines non-debug lines; a run of lines that
	 * differ only in their time is kept as its first and a count. */
	for (;;) {
		int more = fgets(line, sizeof line, f) != NULL;

		if (more && strstr(line, " DEBUG ") != NULL)
			continue;
		if (more && prev[0] && strcmp(untimed(line), untimed(prev)) == 0) {
			repeats++;
			continue;
		}
		if (repeats > 0) {
			char note[64];

			snprintf(note, sizeof note, "    (the line above %ld more "
			    "times)\n", repeats);
			free(ring[n % max_lines]);
			ring[n % max_lines] = strdup(note);
			n++;
			repeats = 0;
		}
		if (!more)
			break;
		snprintf(prev, sizeof prev, "%s", line);
		free(ring[n % max_lines]);
		ring[n % max_lines] = strdup(line);
		n++;
	}
	fclose(f);
	fprintf(stderr, "---- events of replica %d (%s, non-debug) ----\n",
	    i + 1, c->r[i].log_path);
	for (k = n > max_lines ? n - max_lines : 0; k < n; k++)
		if (ring[k % max_lines])
			fputs(ring[k % max_lines], stderr);
	for (k = 0; k < max_lines; k++)
		free(ring[k]);
	free(ring);
}

void
h_cluster_report(const struct h_cluster *c)
{
	char state[4096];
	int i;

	h_cluster_describe(c, state, sizeof state);
	fprintf(stderr, "cluster: %s\n", state);
	for (i = 0; i < c->n; i++) {
		h_replica_dump_events(c, i, 60);
		h_replica_dump_log(c, i);
	}
	fprintf(stderr, "test directory: %s\n", c->dir);
}

int
h_log_contains(const struct h_cluster *c, int i, const char *needle)
{
	char line[1024];
	FILE *f = fopen(c->r[i].log_path, "r");
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int
h_store_dump(const struct h_cluster *c, int i, char **out)
{
	return h_store_dump_ex(c, i, 1, out);
}

int
h_store_dump_ex(const struct h_cluster *c, int i, int with_log, char **out)
{
	char err[300];
	struct store *s;
	size_t len = 0;
	FILE *f;
	int rc;

	*out = NULL;
	if (c->r[i].pid > 0) {
		fprintf(stderr, "h_store_dump: replica %u is running\n",
		    c->r[i].id);
		return -1;
	}
	s = store_open(c->r[i].data_dir, 1, err, sizeof err);
	if (s == NULL) {
		fprintf(stderr, "h_store_dump: %s\n", err);
		return -1;
	}
	f = open_memstream(out, &len);
	if (f == NULL) {
		store_close(s);
		return -1;
	}
	rc = store_dump(s, f, with_log);
	fclose(f);
	store_close(s);
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int
h_dump_compare(const char *a, const char *la, const char *b, const char *lb)
{
	const char *pa = a, *pb = b;
	int line = 1;

	if (strcmp(a, b) == 0)
		return 0;
	for (;;) {
		const char *ea = strchr(pa, '\n'), *eb = strchr(pb, '\n');
		size_t na = ea ? (size_t)(ea - pa) : strlen(pa);
		size_t nb = eb ? (size_t)(eb - pb) : strlen(pb);

		if (na != nb || memcmp(pa, pb, na) != 0 || !ea || !eb) {
			fprintf(stderr, "stores differ at line %d:\n  %s: %.*s\n"
			    "  %s: %.*s\n", line, la, (int)(na > 400 ? 400 : na),
			    pa, lb, (int)(nb > 400 ? 400 : nb), pb);
			return -1;
		}
		pa = ea + 1;
		pb = eb + 1;
		line++;
	}
}

void
h_dump_count_messages(const char *dump, const char *prefix, int n,
		      int *count, uint64_t *ids)
{
	const char *p = dump, *tag = "messages id=", *bt = " body=\"";
	size_t pl = strlen(prefix);

	while (*p) {
		const char *e = strchr(p, '\n'), *b;
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char *stop;
		long k;

		if (strncmp(p, tag, strlen(tag)) == 0 &&
		    (b = strstr(p, bt)) != NULL && b < p + len &&
		    (size_t)(p + len - (b + strlen(bt))) >= pl &&
		    strncmp(b + strlen(bt), prefix, pl) == 0) {
			k = strtol(b + strlen(bt) + pl, &stop, 10);
			if (*stop == '"' && k > 0 && k <= n) {
				count[k]++;
				ids[k] = strtoull(p + strlen(tag), NULL, 10);
			}
		}
		p += len + (e != NULL);
	}
}

/* ---- the retrying raw sender ---------------------------------------------- */

#define RID_BASE 1000u		/* message k goes with request id RID_BASE + k */

void
h_sender_init(struct h_sender *s, struct h_cluster *c, uint64_t client_id,
	      const char *user, const char *pw, const char *to,
	      const char *prefix, int window)
{
	memset(s, 0, sizeof *s);
	s->c = c;
	s->client_id = client_id;
	snprintf(s->user, sizeof s->user, "%s", user);
	snprintf(s->pw, sizeof s->pw, "%s", pw);
	snprintf(s->to, sizeof s->to, "%s", to);
	snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
	s->window = window > 0 ? window : 1;
	s->fd = s->at = -1;
	s->first_unacked = s->tx_next = 1;
}

void
h_sender_free(struct h_sender *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->m);
	s->m = NULL;
}

void
h_sender_drop(struct h_sender *s)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->reconnects++;
	}
	s->fd = s->at = -1;
	s->gen++;
	s->inflight = 0;
	s->tx_next = s->first_unacked;
}

void
h_sender_queue(struct h_sender *s, int n)
{
	if (s->n + n + 1 > s->cap) {
		int cap = s->cap ? s->cap : 64;

		while (cap < s->n + n + 1)
			cap *= 2;
		s->m = realloc(s->m, (size_t)cap * sizeof *s->m);
		if (s->m == NULL)
			abort();
		memset(s->m + s->cap, 0, (size_t)(cap - s->cap) * sizeof *s->m);
		s->cap = cap;
	}
	s->n += n;
}

/* Wait for the answer with request id rid (pushes are skipped). 0 with the
 * frame in *h, *b, or -1. */
static int
await(int fd, uint32_t rid, struct wire_header *h, struct buf *b,
      uint64_t deadline)
{
	for (;;) {
		uint64_t now = mono_ms();

		if (now >= deadline ||
		    h_raw_recv(fd, h, b, (int)(deadline - now)) < 0)
			return -1;
		if (h->request_id == rid)
			return 0;
	}
}

static uint16_t
error_code_of(const struct buf *b)
{
	struct wire_ERROR e;

	if (wire_decode(wire_op(WIRE_OP_ERROR), buf_head(b), buf_pending(b),
	    &e, NULL) < 0)
		return 0;
	return e.code;
}

/* Open a session on fd: RESUME with the token, else LOGIN. 1 done, 0 not
 * the primary or no answer (try elsewhere), -1 a real error (s->err). */
static int
open_session(struct h_sender *s, int fd, uint64_t deadline)
{
	struct wire_header h;
	struct wire_SESSION sess;
	struct buf b;
	int rc = 0;

	buf_init(&b);
	if (s->have_token) {
		struct wire_RESUME r;

		memset(&r, 0, sizeof r);
		r.token.ptr = s->token;
		r.token.len = sizeof s->token;
		if (h_raw_send(fd, WIRE_OP_RESUME, 3, &r) < 0 ||
		    await(fd, 3, &h, &b, deadline) < 0)
			goto out;
		if (h.opcode == WIRE_OP_SESSION) {
			rc = 1;
			goto out;
		}
		if (h.opcode != WIRE_OP_ERROR ||
		    error_code_of(&b) != WIRE_E_BAD_TOKEN)
			goto out;	/* REDIRECT, NO_PRIMARY, ... */
		s->have_token = 0;	/* the session did not survive */
	}
	{
		struct wire_LOGIN l;

		memset(&l, 0, sizeof l);
		l.client_id = s->client_id;
		l.seq = ++s->seq;
		snprintf(l.username, sizeof l.username, "%s", s->user);
		snprintf(l.password, sizeof l.password, "%s", s->pw);
		if (h_raw_send(fd, WIRE_OP_LOGIN, 4, &l) < 0 ||
		    await(fd, 4, &h, &b, deadline) < 0)
			goto out;
	}
	if (h.opcode == WIRE_OP_SESSION &&
	    wire_decode(wire_op(WIRE_OP_SESSION), buf_head(&b),
	    buf_pending(&b), &sess, NULL) == 0 &&
	    sess.token.len == sizeof s->token) {
		memcpy(s->token, sess.token.ptr, sizeof s->token);
		s->have_token = 1;
		rc = 1;
	} else if (h.opcode == WIRE_OP_ERROR) {
		uint16_t code = error_code_of(&b);

		if (code != WIRE_E_UNAVAILABLE && code != WIRE_E_INTERNAL) {
			snprintf(s->err, sizeof s->err, "LOGIN %s: %s",
			    s->user, wire_err_name(code));
			rc = -1;
		}
	}
out:
	buf_free(&b);
	return rc;
}

/* Find the primary (a running replica whose STATUS says so) and connect
 * to it, with a session if `login`. 0, or -1 at the deadline or on a real
 * error. */
static int
connect_primary(struct h_sender *s, int login, uint64_t deadline)
{
	struct h_cluster *c = s->c;

	while (mono_ms() < deadline) {
		int i;

		for (i = 0; i < c->n; i++) {
			struct h_status st;
			uint64_t now = mono_ms(), until;
			int fd, rc;

			if (!h_running(c, i) || h_status(c, i, &st, 1000) < 0 ||
			    st.role != H_ROLE_PRIMARY)
				continue;
			fd = connect_hello(c, i, 1000);
			if (fd < 0)
				continue;
			/* A primary that cannot commit is no better than a
			 * dead one: give up on it as a client would. */
			until = now + 2 * H_CLIENT_TIMEOUT_MS;
			rc = login ? open_session(s, fd, until < deadline ?
			    until : deadline) : 1;
			if (rc < 0) {
				close(fd);
				return -1;
			}
			if (rc == 0) {
				close(fd);
				continue;
			}
			s->fd = fd;
			s->at = i;
			s->last_rx = mono_ms();
			return 0;
		}
		sleep_ms(20);
	}
	snprintf(s->err, sizeof s->err, "no primary to connect to");
	return -1;
}

int
h_sender_register(struct h_sender *s, const char *user, const char *pw,
		  int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	struct wire_REGISTER r;
	struct wire_header h;
	struct buf b;
	int rc = -1;

	memset(&r, 0, sizeof r);
	r.client_id = s->client_id;
	r.seq = ++s->seq;
	snprintf(r.username, sizeof r.username, "%s", user);
	snprintf(r.password, sizeof r.password, "%s", pw);
	buf_init(&b);
	while (rc < 0) {
		int fd;

		if (connect_primary(s, 0, deadline) < 0)
			break;
		fd = s->fd;
		s->fd = s->at = -1;
		if (h_raw_send(fd, WIRE_OP_REGISTER, 5, &r) < 0 ||
		    await(fd, 5, &h, &b, deadline) < 0) {
			close(fd);
			continue;	/* the same (client_id, seq) again */
		}
		close(fd);
		if (h.opcode == WIRE_OP_OK)
			rc = 0;
		else if (h.opcode == WIRE_OP_ERROR) {
			uint16_t code = error_code_of(&b);

			if (code != WIRE_E_UNAVAILABLE &&
			    code != WIRE_E_INTERNAL) {
				snprintf(s->err, sizeof s->err,
				    "REGISTER %s: %s", user,
				    wire_err_name(code));
				break;
			}
		}
		if (rc < 0)
			sleep_ms(20);
	}
	buf_free(&b);
	return rc;
}

/* Send what the window allows. -1: the connection broke. */
static int
transmit(struct h_sender *s)
{
	struct wire_SEND m;

	while (s->inflight < s->window && s->tx_next <= s->n) {
		struct h_msg *msg = &s->m[s->tx_next];
		int k = s->tx_next;

		if (msg->state == H_MSG_ACKED) {
			s->tx_next++;
			continue;
		}
		if (msg->state == H_MSG_QUEUED) {
			msg->seq = ++s->seq;
			msg->state = H_MSG_SENT;
		} else {
			s->resent++;	/* same (client_id, seq) */
		}
		memset(&m, 0, sizeof m);
		m.client_id = s->client_id;
		m.seq = msg->seq;
		snprintf(m.to, sizeof m.to, "%s", s->to);
		snprintf(m.body, sizeof m.body, "%s%d", s->prefix, k);
		if (h_raw_send(s->fd, WIRE_OP_SEND, RID_BASE + (uint32_t)k,
		    &m) < 0)
			return -1;
		msg->gen = s->gen;
		msg->sends++;
		s->inflight++;
		s->tx_next++;
	}
	return 0;
}

/* One answer. 0 fine, 1 the connection is of no use (reconnect), -1 a
 * real error (s->err). */
static int
handle_answer(struct h_sender *s, const struct wire_header *h,
	      const struct buf *b)
{
	struct h_msg *msg;
	struct wire_SENT sent;
	uint32_t k;

	if (h->request_id == 0)
		return 0;		/* a push */
	if (h->request_id <= RID_BASE || h->request_id - RID_BASE >
	    (uint32_t)s->n) {
		snprintf(s->err, sizeof s->err, "answer %s with unknown "
		    "request id %u", wire_op_name(h->opcode), h->request_id);
		return -1;
	}
	k = h->request_id - RID_BASE;
	msg = &s->m[k];
	switch (h->opcode) {
	case WIRE_OP_SENT:
		if (msg->state != H_MSG_SENT || msg->gen != s->gen) {
			snprintf(s->err, sizeof s->err, "a second answer to "
			    "message %u", k);
			return -1;
		}
		if (wire_decode(wire_op(WIRE_OP_SENT), buf_head(b),
		    buf_pending(b), &sent, NULL) < 0) {
			snprintf(s->err, sizeof s->err, "bad SENT");
			return -1;
		}
		msg->state = H_MSG_ACKED;
		msg->id = sent.id;
		msg->acked_by = s->at;
		msg->acked_at = mono_ms();
		if (msg->sends > 1)
			s->retried_acks++;
		s->inflight--;
		s->nacked++;
		while (s->first_unacked <= s->n &&
		    s->m[s->first_unacked].state == H_MSG_ACKED)
			s->first_unacked++;
		return 0;
	case WIRE_OP_REDIRECT:
	case WIRE_OP_NO_PRIMARY:
		return 1;
	case WIRE_OP_ERROR: {
		uint16_t code = error_code_of(b);

		if (code == WIRE_E_UNAVAILABLE || code == WIRE_E_INTERNAL ||
		    code == WIRE_E_NOT_LOGGED_IN || code == WIRE_E_BAD_TOKEN)
			return 1;
		snprintf(s->err, sizeof s->err, "message %u: ERROR %s", k,
		    wire_err_name(code));
		return -1;
	}
	default:
		snprintf(s->err, sizeof s->err, "message %u: unexpected %s", k,
		    wire_op_name(h->opcode));
		return -1;
	}
}

int
h_sender_pump(struct h_sender *s, int want_acked, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	struct wire_header h;
	struct buf b;
	int rc = -1;

	buf_init(&b);
	for (;;) {
		struct pollfd pfd;
		uint64_t now;
		int n;

		if (s->fd < 0 && s->nacked < s->n) {
			if (connect_primary(s, 1, deadline) < 0)
				break;
		}
		if (s->fd >= 0 && transmit(s) < 0) {
			h_sender_drop(s);
			continue;
		}
		if (s->nacked >= want_acked) {
			rc = 0;
			break;
		}
		now = mono_ms();
		if (now >= deadline) {
			snprintf(s->err, sizeof s->err, "%d of %d messages "
			    "acknowledged at the deadline (%d in flight)",
			    s->nacked, want_acked, s->inflight);
			break;
		}
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)(deadline - now < 50 ? deadline - now :
		    50));
		if (n > 0) {
			if (h_raw_recv(s->fd, &h, &b, 2000) < 0) {
				h_sender_drop(s);	/* closed or broken */
				continue;
			}
			s->last_rx = mono_ms();
			n = handle_answer(s, &h, &b);
			if (n < 0)
				break;
			if (n > 0) {
				h_sender_drop(s);
				sleep_ms(20);	/* about NO_PRIMARY's retry_ms */
			}
		} else if (s->inflight > 0 &&
		    mono_ms() - s->last_rx > H_CLIENT_TIMEOUT_MS) {
			h_sender_drop(s);	/* a dead or paused server */
		}
	}
	buf_free(&b);
	return rc;
}

/* ---- membership ------------------------------------------------------------ */

int
h_replica_add(struct h_cluster *c)
{
	if (c->n >= H_MAX_REPLICAS)
		return -1;
	slot_paths(c, c->n);
	c->n++;
	slot_ports(c, c->n - 1);
	return c->n - 1;
}

int
h_cluster_key(const struct h_cluster *c, uint8_t key[32])
{
	char path[600];
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "%s/cluster.key", c->dir);
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	n = fread(key, 1, 32, f);
	fclose(f);
	return n == 32 ? 0 : -1;
}
